"""The documentation site builds with warnings as errors, gallery included.

The build runs in a copy of ``docs/`` (and the ``benchmarks/README.md`` it
renders), so that it never writes generated files into the source tree and
always executes every gallery example (sphinx-gallery skips examples it ran
before in the same directory).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("sphinx_gallery")
pytest.importorskip("matplotlib")
pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ("_build", "_generated", "generated", "auto_examples", "sg_execution_times.rst")


def test_docs_build_without_warnings(tmp_path):
    source = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", source, ignore=shutil.ignore_patterns(*GENERATED, "__pycache__"))
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "README.md", tmp_path / "benchmarks" / "README.md")
    html = tmp_path / "html"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(source), str(html)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stderr[-5000:]}"

    pages = ["index", "getting_started", "user_guide", "api", "benchmarks", "migration",
             "generated/sklearn_kerasreg.KerasLinearRegressor", "generated/sklearn_kerasreg.train_on_chunks",
             "auto_examples/index"]
    examples = sorted(p.stem for p in (ROOT / "docs" / "examples").glob("plot_*.py"))
    assert len(examples) >= 4
    pages += [f"auto_examples/{name}" for name in examples]
    for page in pages:
        assert (html / f"{page}.html").is_file(), f"{page}.html was not built"

    # The API page is generated from the docstring, Examples section included.
    api = (html / "generated" / "sklearn_kerasreg.KerasLinearRegressor.html").read_text(encoding="utf-8")
    assert "partial_fit" in api and "Examples" in api
    # Examples were executed: their printed output is on the page.
    mlp = (html / "auto_examples" / "plot_tutorial_mlp_csv.html").read_text(encoding="utf-8")
    assert re.search(r"prediction at x = 200: -?[0-9]+\.[0-9]{2}", mlp)
