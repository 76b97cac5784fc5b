"""Sphinx configuration of the sklearn_kerasreg documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (from the repository root).
The gallery under ``examples/`` is executed on every build; each example fits in seconds.
"""

import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

import sklearn_kerasreg  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

project = "sklearn_kerasreg"
author = "sklearn_kerasreg developers"
copyright = "sklearn_kerasreg developers"
release = sklearn_kerasreg.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples", "**.ipynb_checkpoints", "sg_execution_times.rst"]
root_doc = "index"
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "Keras regressors as first-class scikit-learn estimators"}

# -- API reference ------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
# numpydoc renders Parameters/Attributes/Examples; class members are listed by
# the autosummary class template, not by numpydoc's member tables.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # offline builds: links to other projects are plain text

# -- Gallery ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    # An example that raises fails the build (with -W, and without it).
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "write_computation_times": True,
    "run_stale_examples": True,
    # "Gallery examples using ..." on each API page.
    "doc_module": ("sklearn_kerasreg",),
    "backreferences_dir": "_generated/backreferences",
    "reference_url": {"sklearn_kerasreg": None},
}


# -- Benchmark tables, rendered from benchmarks/README.md ---------------------
def _inline(text):
    """Markdown inline code and links to reStructuredText."""
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"`\1 <\2>`__", text)
    return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text)


def _table(rows):
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    header, body = cells[0], [r for r in cells[2:]]
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *body]:
        for i, cell in enumerate(row):
            out.append(f"   {'* -' if i == 0 else '  -'} {_inline(cell)}".rstrip())
    return out + [""]


def markdown_to_rst(markdown):
    """The small Markdown subset benchmarks/README.md uses, as reStructuredText.

    Headings (``##`` and below), paragraphs, ``-`` lists, fenced code and pipe
    tables; the ``#`` title is dropped (the page has its own).
    """
    lines, out, i = markdown.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang = line[3:].strip() or "text"
            out += [f".. code-block:: {lang}", ""]
            i += 1
            while not lines[i].startswith("```"):
                out.append(f"   {lines[i]}".rstrip())
                i += 1
            out.append("")
        elif line.startswith("|"):
            start = i
            while i < len(lines) and lines[i].startswith("|"):
                i += 1
            out += _table(lines[start:i])
            continue
        elif line.startswith("# "):
            pass
        elif line.startswith("##"):
            title = _inline(line.lstrip("#").strip())
            out += ["", title, "-" * len(title) if line.startswith("## ") else "~" * len(title), ""]
        else:
            out.append(_inline(line))
        i += 1
    return "\n".join(out) + "\n"


def _write_generated(app):
    generated = HERE / "_generated"
    generated.mkdir(exist_ok=True)
    readme = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    rst = markdown_to_rst(readme)
    target = generated / "benchmarks_readme.rst"
    if not target.exists() or target.read_text(encoding="utf-8") != rst:
        target.write_text(rst, encoding="utf-8")
    from sklearn_kerasreg._cli import _build_parser

    parser = _build_parser()
    helps = [parser.format_help()]
    helps += [
        action.choices["compare"].format_help()
        for action in parser._actions
        if getattr(action, "choices", None) and "compare" in action.choices
    ]
    text = "\n".join(helps)
    target = generated / "cli_help.txt"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn generates set_fit_request & co. on every estimator; their
    # docstrings link into scikit-learn's own docs, and the user guide covers them.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _write_generated, priority=100)
    app.connect("autodoc-skip-member", _skip_member)
