"""Display objects: they draw the fitted estimator's own numbers."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.linear_model import LinearRegression, Ridge  # noqa: E402
from sklearn.metrics import PredictionErrorDisplay  # noqa: E402

from sklearn_kerasreg import (  # noqa: E402
    KerasLinearRegressor,  # noqa: E402
    LossCurveDisplay,
    RegressionLineDisplay,
)


def _tutorial():
    x = np.linspace(0, 50, 51)
    return x.reshape(-1, 1), x + 10 * np.random.RandomState(0).uniform(size=51)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# Fitting dominates the run time, so each configuration is fitted once per module.
@pytest.fixture(scope="module")
def reg():
    return KerasLinearRegressor(random_state=0).fit(*_tutorial())


@pytest.fixture(scope="module")
def reg_early_stopping():
    with warnings.catch_warnings():
        # Early stopping keeps the best validation weights, short of the
        # training optimum; the estimator warns about that distance.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KerasLinearRegressor(random_state=0, early_stopping=True).fit(*_tutorial())


def _legend_texts(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


# -- LossCurveDisplay ----------------------------------------------------------
def test_loss_curve_draws_loss_per_epoch(reg):
    disp = LossCurveDisplay.from_estimator(reg)

    assert_array_equal(disp.line_.get_xdata(), np.arange(1, len(reg.loss_curve_) + 1))
    assert_array_equal(disp.line_.get_ydata(), reg.loss_curve_)
    assert disp.validation_line_ is None
    assert disp.ax_.get_yscale() == "log"
    assert disp.ax_.get_xlabel() == "Epoch"
    assert disp.ax_.get_ylabel() == "Loss"  # in the caller's units
    assert _legend_texts(disp.ax_) == ["training loss"]
    assert disp.figure_ is disp.ax_.figure


def test_loss_curve_standardized_view_divides_by_the_fits_scale(reg):
    disp = LossCurveDisplay.from_estimator(reg, standardized=True)
    # The single target's squared error scales with its variance (a population one).
    _, y = _tutorial()
    np.testing.assert_allclose(disp.line_.get_ydata() * y.var(), reg.loss_curve_, rtol=1e-12)
    assert disp.ax_.get_ylabel() == "Loss (standardized units)"


def test_loss_curve_draws_validation_loss(reg_early_stopping):
    reg = reg_early_stopping
    disp = LossCurveDisplay.from_estimator(reg, name="net", log_scale=False)

    assert_array_equal(disp.line_.get_ydata(), reg.loss_curve_)
    assert_array_equal(disp.validation_line_.get_ydata(), reg.validation_loss_curve_)
    assert_array_equal(disp.validation_line_.get_xdata(), np.arange(1, len(reg.validation_loss_curve_) + 1))
    assert disp.ax_.get_yscale() == "linear"
    assert _legend_texts(disp.ax_) == ["net: training loss", "net: validation loss"]


def test_loss_curve_draws_on_given_axes(reg):
    fig, (ax1, ax2) = plt.subplots(1, 2)
    disp = LossCurveDisplay.from_estimator(reg, ax=ax2)

    assert disp.ax_ is ax2
    assert disp.figure_ is fig
    assert disp.line_ in ax2.get_lines()
    assert not ax1.get_lines()


def test_loss_curve_line_kwargs_aliases_override_defaults():
    disp = LossCurveDisplay([1.0, 0.5], validation_loss_curve=[1.2, 0.7]).plot(
        validation_line_kwargs={"ls": ":", "c": "red"}
    )
    assert disp.validation_line_.get_linestyle() == ":"
    assert disp.validation_line_.get_color() == "red"


def test_loss_curve_log_scale_rejects_nonpositive_loss():
    with pytest.raises(ValueError, match="log_scale=False"):
        LossCurveDisplay([1.0, 0.0]).plot()
    disp = LossCurveDisplay([1.0, 0.0]).plot(log_scale=False)
    assert_array_equal(disp.line_.get_ydata(), [1.0, 0.0])


def test_loss_curve_works_for_mlp_regressor():
    from sklearn.neural_network import MLPRegressor

    X, y = _tutorial()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(max_iter=5, random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(mlp)
    assert_array_equal(disp.line_.get_ydata(), mlp.loss_curve_)


def test_loss_curve_needs_fitted_estimator_with_loss_curve():
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(KerasLinearRegressor())
    with pytest.raises(ValueError, match="LinearRegression has no loss_curve_"):
        LossCurveDisplay.from_estimator(LinearRegression().fit(*_tutorial()))


# -- RegressionLineDisplay -----------------------------------------------------
def test_regression_line_draws_data_network_and_reference(reg):
    X, y = _tutorial()
    disp = RegressionLineDisplay.from_estimator(reg, X, y, grid_resolution=20)

    assert_array_equal(disp.scatter_.get_offsets(), np.column_stack([X[:, 0], y]))
    grid = disp.line_.get_xdata()
    assert_allclose(grid, np.linspace(0, 50, 20))
    assert_allclose(disp.line_.get_ydata(), reg.predict(grid.reshape(-1, 1)))
    lr = LinearRegression().fit(X, y)
    assert_array_equal(disp.reference_line_.get_xdata(), grid)
    assert_allclose(disp.reference_line_.get_ydata(), lr.predict(grid.reshape(-1, 1)))
    # A converged linear network draws LinearRegression's line.
    assert_allclose(disp.line_.get_ydata(), disp.reference_line_.get_ydata(), atol=1e-3 * np.ptp(y))
    assert _legend_texts(disp.ax_) == ["Data", "KerasLinearRegressor", "LinearRegression"]
    assert disp.ax_.get_xlabel() == "x0"
    assert disp.ax_.get_ylabel() == "y"


def test_regression_line_reference_options(reg):
    X, y = _tutorial()
    disp = RegressionLineDisplay.from_estimator(reg, X, y, reference=None, name="net")
    assert disp.reference_line_ is None
    assert _legend_texts(disp.ax_) == ["Data", "net"]

    ridge = Ridge(alpha=1e4)
    disp = RegressionLineDisplay.from_estimator(reg, X, y, reference=ridge)
    grid = disp.line_.get_xdata().reshape(-1, 1)
    assert_allclose(disp.reference_line_.get_ydata(), Ridge(alpha=1e4).fit(X, y).predict(grid))
    assert _legend_texts(disp.ax_)[-1] == "Ridge"
    assert not hasattr(ridge, "coef_"), "the reference passed must be cloned, not fitted"

    with pytest.raises(ValueError, match="reference must be"):
        RegressionLineDisplay.from_estimator(reg, X, y, reference="ridge")


def test_regression_line_draws_on_given_axes(reg):
    fig, ax = plt.subplots()
    disp = RegressionLineDisplay.from_estimator(reg, *_tutorial(), ax=ax)
    assert disp.ax_ is ax
    assert disp.figure_ is fig
    assert disp.line_ in ax.get_lines() and disp.reference_line_ in ax.get_lines()
    assert disp.scatter_ in ax.collections


def test_regression_line_pandas_names_label_axes():
    pd = pytest.importorskip("pandas")
    X, y = _tutorial()
    X = pd.DataFrame({"temperature": X[:, 0]})
    y = pd.Series(y, name="sales")
    net = KerasLinearRegressor(random_state=0).fit(X, y)
    with warnings.catch_warnings():
        # Predicting on the grid must not lose the feature names.
        warnings.simplefilter("error", UserWarning)
        disp = RegressionLineDisplay.from_estimator(net, X, y)
    assert disp.ax_.get_xlabel() == "temperature"
    assert disp.ax_.get_ylabel() == "sales"
    grid = pd.DataFrame({"temperature": disp.line_.get_xdata()})
    assert_allclose(disp.line_.get_ydata(), net.predict(grid))


def test_regression_line_requires_one_feature(reg):
    X, y = _tutorial()
    with pytest.raises(ValueError, match="single feature, but X has 2 features"):
        RegressionLineDisplay.from_estimator(reg, np.hstack([X, X]), y)


def test_regression_line_needs_fitted_estimator():
    with pytest.raises(NotFittedError):
        RegressionLineDisplay.from_estimator(KerasLinearRegressor(), *_tutorial())


def test_figures_save_as_png(reg, tmp_path):
    for i, disp in enumerate(
        [LossCurveDisplay.from_estimator(reg), RegressionLineDisplay.from_estimator(reg, *_tutorial())]
    ):
        path = tmp_path / f"plot{i}.png"
        disp.figure_.savefig(path)
        assert path.read_bytes().startswith(b"\x89PNG")
        assert path.stat().st_size > 1000


# -- matplotlib as an optional extra -------------------------------------------
def test_missing_matplotlib_names_the_extra(monkeypatch, reg):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    for draw in (
        lambda: LossCurveDisplay.from_estimator(reg),
        lambda: LossCurveDisplay([1.0]).plot(),
        lambda: RegressionLineDisplay.from_estimator(reg, *_tutorial()),
    ):
        with pytest.raises(ImportError, match=r'pip install "sklearn_kerasreg\[plot\]"'):
            draw()


def test_import_does_not_import_matplotlib():
    code = "import sys, sklearn_kerasreg._plotting; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- scikit-learn's own displays -------------------------------------------------
def test_sklearn_prediction_error_display(reg):
    X, y = _tutorial()
    disp = PredictionErrorDisplay.from_estimator(reg, X, y, kind="actual_vs_predicted")
    assert_allclose(disp.scatter_.get_offsets(), np.column_stack([reg.predict(X), y]))


def test_loss_curve_of_one_epoch_is_visible(tutorial_data):
    # The certified single neuron usually trains one epoch: a line through
    # one point draws nothing, so short curves carry a marker per epoch.
    reg = KerasLinearRegressor(random_state=0).fit(*tutorial_data)
    assert reg.n_iter_ == 1
    disp = LossCurveDisplay.from_estimator(reg)
    assert disp.line_.get_marker() == "o"
    assert_array_equal(disp.ax_.get_xticks(), [1])
    long = LossCurveDisplay(np.linspace(2.0, 1.0, 200)).plot()
    assert long.line_.get_marker() in ("None", None, "")
    plt.close("all")
