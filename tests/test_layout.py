"""The package's layers import only downwards: backends < core < surface, with I/O, plots and the CLI beside.

The folder structure is the architecture (``docs/user_guide.rst``, "How the
package is built"); this test keeps an import from running back up.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sklearn_kerasreg"

#: What each layer may import from the package (besides itself and the version shims in _fixes).
ALLOWED = {
    "_backends": set(),
    "_core": {"_backends"},
    "surface": {"_core", "_backends"},
    "_io": {"surface", "_core", "_backends"},
    "_plotting": set(),
    "_cli": {"surface", "_core", "_backends", "_io", "_plotting"},
}


def _layer(parts):
    """The layer of a module, from its dotted name below the package."""
    if not parts:
        return "surface"  # the package's __init__: the public names
    if parts[0] in ("_core", "_backends", "_io", "_plotting"):
        return parts[0]
    if parts[0] in ("_cli", "__main__"):
        return "_cli"
    if parts[0] in ("_fixes", "_version"):
        return "shims"
    return "surface"


def _imports(path, package_dir):
    """``(line, dotted name below the package)`` of each relative import in ``path``."""
    parts = list(path.relative_to(package_dir).with_suffix("").parts)
    package = [p for p in (parts if parts[-1] == "__init__" else parts[:-1]) if p != "__init__"]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            if node.module is None:
                for alias in node.names:
                    yield node.lineno, target + [alias.name]
            else:
                yield node.lineno, target


def _upward_imports(path, package_dir=PACKAGE):
    """The imports of ``path`` that go to a layer it may not import from."""
    parts = [p for p in path.relative_to(package_dir).with_suffix("").parts if p != "__init__"]
    if not parts:
        return []  # the package's __init__ re-exports the public names of every layer
    own = _layer(parts)
    wrong = []
    for line, target in _imports(path, package_dir):
        where = package_dir.joinpath(*target)
        if not (where.is_dir() or where.with_suffix(".py").exists()):
            # A name from a package's __init__: the public names, re-exported from below.
            wrong.append(f"line {line}: {'.'.join(target)} (from an __init__)")
            continue
        layer = _layer(target)
        if layer not in (own, "shims") and layer not in ALLOWED[own]:
            wrong.append(f"line {line}: {'.'.join(target)} ({layer} from {own})")
    return wrong


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_down_the_layers(path):
    assert _upward_imports(path) == []


def test_the_rule_sees_an_upward_import(tmp_path):
    # The check must be able to fail: an engine that imports the estimator,
    # a backend that imports the core, I/O that imports the package's public names.
    package = tmp_path / "sklearn_kerasreg"
    (package / "_core").mkdir(parents=True)
    (package / "_backends").mkdir()
    (package / "_estimator.py").write_text("class KerasLinearRegressor: ...\n")
    (package / "_core" / "engine.py").write_text("from .._estimator import KerasLinearRegressor\n")
    (package / "_backends" / "jax_loop.py").write_text("from .._core import stop_rule\n")
    assert _upward_imports(package / "_core" / "engine.py", package) == [
        "line 1: _estimator (surface from _core)"
    ]
    assert _upward_imports(package / "_backends" / "jax_loop.py", package) == [
        "line 1: _core (_core from _backends)"
    ]
    (package / "_io").mkdir()
    (package / "_io" / "persistence.py").write_text("from .. import KerasLinearRegressor\n")
    assert _upward_imports(package / "_io" / "persistence.py", package) == [
        "line 1: KerasLinearRegressor (from an __init__)"
    ]
