"""``loss_``, ``loss_curve_`` and ``validation_loss_curve_``: in the caller's units, and
``loss_`` is the loss of what ``predict`` returns (the user guide's "Loss curves")."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from sklearn_kerasreg import KerasLinearRegressor, LossCurveDisplay, load_estimator, save_estimator


def _data(n=150, targets=1, seed=0):
    X, y = make_regression(n_samples=n, n_features=3, n_targets=targets, noise=20.0, random_state=seed)
    rng = np.random.RandomState(seed)
    # Units far from 1, so that a curve left in standardized units cannot pass.
    return X * [1.0, 30.0, 0.01], 50.0 * y + 400.0, rng.uniform(0.2, 3.0, n)


def _weighted_scale(v, w):
    mean = np.average(v, axis=0, weights=w)
    return np.sqrt(np.average((v - mean) ** 2, axis=0, weights=w))


def _expected_loss(reg, X, y, w, loss, delta=1.0):
    """The weighted mean loss of predict's residuals, with Huber's delta in the caller's units."""
    residual = np.abs(y - reg.predict(X))
    if loss == "squared_error":
        per_row = residual**2
    elif loss == "absolute_error":
        per_row = residual
    else:
        d = delta * _weighted_scale(y, w)
        per_row = np.where(residual <= d, 0.5 * residual**2, d * (residual - 0.5 * d))
    return np.average(per_row, axis=0, weights=w).mean()


def _fit(reg, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return reg.fit(*args, **kwargs)


@pytest.mark.parametrize("loss", ["squared_error", "huber", "absolute_error"])
@pytest.mark.parametrize("hidden", [(), (6,)])
def test_loss_is_the_weighted_loss_of_predict(loss, hidden):
    X, y, w = _data()
    reg = _fit(KerasLinearRegressor(hidden_layer_sizes=hidden, loss=loss, epochs=40, random_state=0),
               X, y, sample_weight=w)
    assert reg.loss_ == pytest.approx(_expected_loss(reg, X, y, w, loss), rel=1e-9)
    # 150 rows train full-batch: the curve ends at loss_, after the last step.
    assert len(reg.loss_curve_) == reg.n_iter_
    assert reg.loss_curve_[-1] == pytest.approx(reg.loss_, rel=1e-9)


def test_loss_includes_the_alpha_penalty_in_the_callers_units():
    X, y, w = _data()
    alpha = 30.0
    reg = KerasLinearRegressor(alpha=alpha, random_state=0).fit(X, y, sample_weight=w)
    # Ridge's penalty on the standardized problem, in the caller's units:
    # alpha / sum(w) * sum((coef * x_scale) ** 2).
    penalty = alpha / w.sum() * np.sum((reg.coef_ * _weighted_scale(X, w)) ** 2)
    assert reg.loss_ == pytest.approx(_expected_loss(reg, X, y, w, "squared_error") + penalty, rel=1e-9)
    assert reg.loss_curve_ == [pytest.approx(reg.loss_, rel=1e-12)]


@pytest.mark.parametrize("standardize", [True, False])
def test_the_units_do_not_depend_on_standardize(standardize):
    X, y, w = _data()
    reg = KerasLinearRegressor(standardize=standardize, random_state=0)
    reg = _fit(reg.set_params(optimizer="adam", learning_rate_init=0.05, epochs=50), X, y, sample_weight=w)
    assert reg.loss_ == pytest.approx(_expected_loss(reg, X, y, w, "squared_error"), rel=1e-9)
    assert reg.loss_curve_[-1] == pytest.approx(reg.loss_, rel=1e-9)
    # Standardized, the curve is divided by y's weighted variance; raw, by 1.
    scale = _weighted_scale(y, w) ** 2 if standardize else 1.0
    standardized = LossCurveDisplay.from_estimator(reg, standardized=True).line_.get_ydata()
    np.testing.assert_allclose(standardized * scale, reg.loss_curve_, rtol=1e-12)


def test_mini_batch_curve_is_the_running_mean_and_loss_is_at_the_final_weights():
    X, y, w = _data(n=600)
    reg = _fit(KerasLinearRegressor(hidden_layer_sizes=(6,), batch_size=50, epochs=15, random_state=0),
               X, y, sample_weight=w)
    assert len(reg.loss_curve_) == reg.n_iter_ == 15
    assert reg.loss_ == pytest.approx(_expected_loss(reg, X, y, w, "squared_error"), rel=1e-9)
    # The running mean of a falling loss lies above the loss at the end of the epoch.
    assert reg.loss_curve_[-1] > reg.loss_
    assert reg.loss_curve_[-1] == pytest.approx(reg.loss_, rel=0.5)


def test_validation_curve_and_loss_in_the_same_units():
    X, y, _ = _data(n=400)
    reg = _fit(KerasLinearRegressor(hidden_layer_sizes=(6,), early_stopping=True, epochs=30, random_state=0),
               X, y)
    # The hold-out's loss is of the order of the training loss, in y's units
    # (variance about 2.5e6 here), not about 1.
    ratio = reg.validation_loss_curve_[-1] / reg.loss_curve_[-1]
    assert 0.2 < ratio < 5
    assert reg.loss_ > 100


def test_several_targets_of_different_scales():
    X, Y, w = _data(targets=2)
    Y[:, 1] *= 1000
    reg = KerasLinearRegressor(random_state=0).fit(X, Y, sample_weight=w)
    assert reg.loss_ == pytest.approx(_expected_loss(reg, X, Y, w, "squared_error"), rel=1e-9)
    # One value per epoch cannot carry two targets' factors: the curve stays standardized.
    standardized = LossCurveDisplay.from_estimator(reg, standardized=True).line_.get_ydata()
    np.testing.assert_array_equal(standardized, reg.loss_curve_)
    assert reg.loss_curve_[-1] < 1 < reg.loss_
    assert LossCurveDisplay.from_estimator(reg).ax_.get_ylabel() == "Loss (standardized units)"


def test_partial_fit_reports_the_chunks_loss():
    X, y, w = _data(n=400)
    reg = KerasLinearRegressor(hidden_layer_sizes=(6,), random_state=0)
    for start in (0, 200, 0):
        chunk = slice(start, start + 200)
        reg.partial_fit(X[chunk], y[chunk], sample_weight=w[chunk])
        assert reg.loss_ == pytest.approx(_expected_loss(reg, X[chunk], y[chunk], w[chunk], "squared_error"),
                                          rel=1e-9)
    assert len(reg.loss_curve_) == 3 and reg.loss_curve_[0] > 1000


def test_warm_fits_append_in_the_callers_units_and_loss_follows_the_current_alpha():
    X, y, _ = _data()
    reg = KerasLinearRegressor(warm_start=True, random_state=0).fit(X, y)
    first = reg.loss_
    reg.set_params(alpha=50.0).fit(X, y)
    penalty = 50.0 / len(y) * np.sum((reg.coef_ * X.std(axis=0)) ** 2)
    assert reg.loss_ == pytest.approx(_expected_loss(reg, X, y, np.ones(len(y)), "squared_error") + penalty,
                                      rel=1e-9)
    assert reg.loss_curve_[0] == pytest.approx(first, rel=1e-12)
    assert reg.loss_curve_[-1] == pytest.approx(reg.loss_, rel=1e-12) and reg.loss_ > first


def test_loss_survives_pickle_and_save(tmp_path):
    X, y, _ = _data()
    reg = _fit(KerasLinearRegressor(hidden_layer_sizes=(4,), epochs=5, random_state=0), X, y)
    save_estimator(reg, tmp_path / "r.kreg")
    for twin in (pickle.loads(pickle.dumps(reg)), load_estimator(tmp_path / "r.kreg")):
        assert twin.loss_ == reg.loss_ and twin.loss_curve_ == reg.loss_curve_
        standardized = LossCurveDisplay.from_estimator(twin, standardized=True).line_.get_ydata()
        original = LossCurveDisplay.from_estimator(reg, standardized=True).line_.get_ydata()
        np.testing.assert_array_equal(standardized, original)
        assert reg.loss_curve_[-1] / original[-1] == pytest.approx(y.var(), rel=1e-12)


def test_standardized_view_needs_our_estimator():
    X, y, _ = _data()
    mlp = _fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0), X, y)
    LossCurveDisplay.from_estimator(mlp)
    with pytest.raises(ValueError, match="does not say how its losses were scaled"):
        LossCurveDisplay.from_estimator(mlp, standardized=True)


def test_warm_fits_of_other_scales_read_back_on_the_standardized_problem():
    # The certified neuron re-whitens for each warm fit's data: 10 * y has 100
    # times the factor. Each value keeps its own, so the standardized view of
    # the joined curve is right for both fits.
    X, y, _ = _data()
    reg = KerasLinearRegressor(warm_start=True, random_state=0).fit(X, y)
    alone = LossCurveDisplay.from_estimator(reg, standardized=True).line_.get_ydata()[-1]
    reg.fit(X, 10 * y)
    joined = LossCurveDisplay.from_estimator(reg, standardized=True).line_.get_ydata()
    assert joined[0] == pytest.approx(alone, rel=1e-12)
    assert joined[-1] == pytest.approx(alone, rel=1e-6)  # the same problem, scaled
    assert reg.loss_curve_[-1] == pytest.approx(100 * reg.loss_curve_[0], rel=1e-6)


def test_a_warm_fit_that_changes_to_a_loss_of_unknown_scale_says_so():
    import keras

    X, y, _ = _data()
    reg = _fit(KerasLinearRegressor(hidden_layer_sizes=(4,), warm_start=True, epochs=3, random_state=0), X, y)
    reg.set_params(loss=keras.losses.LogCosh())
    _fit(reg, X, y)
    assert "standardized where" in LossCurveDisplay.from_estimator(reg).ax_.get_ylabel()
    # Standardized, the converted values are divided back; the others were never converted.
    standardized = LossCurveDisplay.from_estimator(reg, standardized=True).line_.get_ydata()
    np.testing.assert_allclose(standardized[3:], reg.loss_curve_[3:])
    assert standardized[2] < 10 < reg.loss_curve_[2]


def test_a_loss_of_the_users_is_evaluated_on_what_training_showed_it():
    # An asymmetric loss: under-prediction costs 9 times over-prediction. It
    # must see standardized targets and outputs, not a residual of either sign.
    import keras

    def pinball(y_true, y_pred):
        error = y_true - y_pred
        return keras.ops.mean(keras.ops.maximum(0.9 * error, -0.1 * error), axis=-1)

    X, y, _ = _data()
    reg = _fit(KerasLinearRegressor(loss=pinball, hidden_layer_sizes=(4,), epochs=30, random_state=0), X, y)
    # No known factor: the curve stays in the training units, which the standardized view keeps.
    standardized = LossCurveDisplay.from_estimator(reg, standardized=True).line_.get_ydata()
    np.testing.assert_array_equal(standardized, reg.loss_curve_)
    mean, scale = y.mean(), y.std()
    error = (y - mean) / scale - (reg.predict(X) - mean) / scale
    expected = np.mean(np.maximum(0.9 * error, -0.1 * error))
    assert reg.loss_ == pytest.approx(expected, rel=1e-5)  # the loss's own float32
    assert reg.loss_curve_[-1] == reg.loss_
