"""The sklearn-kerasreg command line: tables on stdout, plots on request, one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sklearn_kerasreg._cli import main

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, cwd):
    """``python -m sklearn_kerasreg ARGS`` in a fresh process, using this checkout."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "sklearn_kerasreg", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )


def write(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return str(path)


# -- true subprocess runs ------------------------------------------------
def test_builtin_data_without_a_command_prints_both_models_and_writes_plots(tmp_path):
    out = tmp_path / "plots"
    result = run("--cv", "3", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "KerasLinearRegressor" in result.stdout and "LinearRegression" in result.stdout
    assert "built-in tutorial data" in result.stdout and "(intercept)" in result.stdout
    # Progress goes to stderr, one line per fold and model.
    assert sum(line.startswith("fold ") for line in result.stderr.splitlines()) == 6
    names = {"loss_curve.png", "regression_line.png", "actual_vs_predicted.png"}
    assert {p.name for p in out.iterdir()} == names
    for name in names:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f"wrote {out / name}" in result.stdout


def test_csv_file_with_a_chosen_target_and_an_mlp(tmp_path):
    # A spreadsheet-style export: byte-order mark, CRLF line ends, target not last.
    rows = ["a,target,b"] + [f"{i},{2 * i + (i % 3)},{(i * 7) % 5}" for i in range(12)]
    data = write(tmp_path / "d.csv", "\r\n".join(rows) + "\r\n", encoding="utf-8-sig")
    result = run("compare", data, "--target", "target", "--hidden", "4,4", "--epochs", "30",
                 "--cv", "2", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "target 'target'; features: a, b" in result.stdout
    assert "hidden_layer_sizes=(4, 4)" in result.stdout
    assert "not linear" in result.stdout
    assert "fold " not in result.stderr  # --quiet
    assert "Traceback" not in result.stderr


def test_bad_input_fails_fast_in_a_subprocess(tmp_path):
    result = run("compare", "missing.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["sklearn-kerasreg: error: no such file: 'missing.csv'"]


# -- in-process: errors before TensorFlow loads ---------------------------
BAD_INPUTS = {
    "missing file": (lambda d: ["compare", str(d / "nope.csv")], "no such file"),
    "directory": (lambda d: ["compare", str(d)], "is a directory"),
    "not utf-8": (lambda d: ["compare", _bytes(d / "b.csv", b"a,b\n\xff\xfe,1\n")], "not UTF-8"),
    "empty file": (lambda d: ["compare", write(d / "e.csv", "")], "is empty"),
    "no data rows": (lambda d: ["compare", write(d / "h.csv", "a,b\n")], "no data rows"),
    "missing target": (
        lambda d: ["compare", write(d / "t.csv", "a,b\n1,2\n"), "--target", "c"],
        "no column 'c'; the columns are: a, b",
    ),
    "non-numeric cell": (
        lambda d: ["compare", write(d / "n.csv", "a,b\n1,2\n3,oops\n")],
        "line 3: column 'b' holds 'oops', not a number",
    ),
    "fewer rows than folds": (
        lambda d: ["compare", write(d / "s.csv", "a,b\n1,2\n3,4\n5,6\n"), "--cv", "4"],
        "3 data row(s), fewer than the 4 cross-validation folds",
    ),
    "bad hidden spec": (lambda d: ["compare", "--hidden", "32,,8"], "argument --hidden"),
    "zero hidden units": (lambda d: ["--hidden", "0"], "argument --hidden"),
    "one fold": (lambda d: ["--cv", "1"], "at least 2 folds"),
    "builtin missing target": (lambda d: ["compare", "--target", "z"], "no column 'z'"),
    "unknown command": (lambda d: ["comprae"], "unknown command 'comprae'"),
    "out is a file": (lambda d: ["--out", write(d / "f.txt", "")], "not a directory"),
}


def _bytes(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys, monkeypatch):
    # Importing TensorFlow (or Keras) now fails: validation must come first.
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.setitem(sys.modules, "keras", None)
    argv, expected = BAD_INPUTS[case]
    assert main(argv(tmp_path)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("sklearn-kerasreg: error: ")
    assert expected in err


def test_help_and_version_return_0(capsys):
    assert main(["--version"]) == 0
    assert main(["compare", "--help"]) == 0
    out = capsys.readouterr().out
    assert "sklearn-kerasreg 0." in out and "--hidden" in out


def test_out_without_matplotlib_still_prints_the_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    data = write(tmp_path / "d.csv", "x,y\n" + "".join(f"{i},{3 * i + 1}\n" for i in range(8)))
    assert main(["compare", data, "--cv", "2", "--out", str(tmp_path / "plots"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "KerasLinearRegressor" in out and "LinearRegression" in out
    assert "needs matplotlib" in err
    assert "Traceback" not in err
    assert list((tmp_path / "plots").iterdir()) == []


def test_loss_plot_draws_the_tutorials_recipe_beside_the_network():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_kerasreg import KerasLinearRegressor, load_tutorial
    from sklearn_kerasreg._cli import TUTORIAL_EPOCHS, loss_figure

    X, y = load_tutorial(return_X_y=True)
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    ax = loss_figure(reg, X, y, tutorial=True).axes[0]
    network, recipe, network_final, recipe_final = ax.get_lines()
    # The network's one epoch ends at loss_, in y's units (the mean squared error of predict).
    assert list(network.get_ydata()) == [reg.loss_] == [network_final.get_ydata()[0]]
    assert reg.loss_ == pytest.approx(((y - reg.predict(X)) ** 2).mean(), rel=1e-12)
    # The recipe's curve: one value per epoch, falling from far above to near the optimum;
    # its final loss is at its final weights, near its last epoch's running mean.
    history, final = recipe.get_ydata(), recipe_final.get_ydata()[0]
    assert len(history) == TUTORIAL_EPOCHS and final == pytest.approx(history[-1], rel=0.2)
    assert history[0] > 100 * reg.loss_ and reg.loss_ < final < 2 * reg.loss_
    texts = [t.get_text() for t in ax.texts]
    assert texts == [f"network, final: {reg.loss_:.4g}", f"recipe, final: {final:.4g}"]
    plt.close(ax.figure)


def test_the_tutorials_recipe_is_drawn_only_for_the_builtin_data():
    # On a file of the user's, 200 epochs of model.fit could take hours: never drawn.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_kerasreg import KerasLinearRegressor, load_tutorial
    from sklearn_kerasreg._cli import loss_figure

    X, y = load_tutorial(return_X_y=True)
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    figure = loss_figure(reg, X, y, tutorial=False)
    assert len(figure.axes[0].get_lines()) == 1 and not figure.axes[0].texts
    plt.close(figure)
    mlp = KerasLinearRegressor(hidden_layer_sizes=(3,), epochs=5, random_state=0)
    with pytest.warns(Warning):
        mlp.fit(X, y)
    figure = loss_figure(mlp, X, y, tutorial=True)  # the recipe is the single neuron's
    assert len(figure.axes[0].get_lines()) == 1
    plt.close(figure)
