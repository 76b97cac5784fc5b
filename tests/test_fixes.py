"""Every private scikit-learn, Keras and TensorFlow name the package uses has a fallback.

Each test takes one private name away, as a later release may, and checks
that the package still does its job through the fallback, and that the
fallback really ran.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import _check_sample_weight

from sklearn_kerasreg import KerasLinearRegressor, _fixes, load_estimator, save_estimator
from sklearn_kerasreg._core import programs as _programs

X, y = make_regression(200, 3, noise=2.0, random_state=0)


def _gone(calls):
    def private(*args, **kwargs):
        calls.append(args)
        raise AttributeError("moved in a later release")

    return private


def _fits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        linear = KerasLinearRegressor(random_state=0).fit(X, y)
        mlp = KerasLinearRegressor(hidden_layer_sizes=(8,), epochs=20, random_state=0).fit(X, y)
    return linear.coef_, mlp.predict(X)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("private", ["_eager_tensor", "_call_options_without_rewrites", "_gradient_registry"])
def test_fits_are_the_same_without_a_private_tensorflow_name(monkeypatch, private):
    _programs.clear()
    coef, pred = _fits()
    calls = []
    monkeypatch.setattr(_fixes, private, _gone(calls))
    _programs.clear()  # traced anew, through the fallback
    coef_without, pred_without = _fits()
    assert calls, f"{private} was never used"
    np.testing.assert_allclose(coef_without, coef, rtol=1e-10)
    np.testing.assert_allclose(pred_without, pred, rtol=1e-6)


def test_tensor_over_copies_without_the_private_constructor(monkeypatch):
    calls = []
    monkeypatch.setattr(_fixes, "_eager_tensor", _gone(calls))
    array = np.arange(12.0).reshape(4, 3)
    tensor = _fixes.tensor_over(array)
    assert calls and np.array_equal(tensor.numpy(), array)


def test_saved_estimators_load_without_keras_safe_mode_scope(monkeypatch, tmp_path):
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    path = tmp_path / "reg.skreg"
    save_estimator(reg, path)
    calls = []
    monkeypatch.setattr(_fixes, "_safe_mode_scope", _gone(calls))
    loaded = load_estimator(path)
    assert calls
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))


def test_own_fit_context_validates_parameters_before_fitting():
    fit = _fixes._own_fit_context(prefer_skip_nested_validation=True)(KerasLinearRegressor.fit.__wrapped__)
    with pytest.raises(ValueError, match="'epochs' parameter"):
        fit(KerasLinearRegressor(epochs=0), X, y)
    reg = fit(KerasLinearRegressor(random_state=0), X, y)
    np.testing.assert_allclose(reg.coef_, KerasLinearRegressor(random_state=0).fit(X, y).coef_)


def test_parameters_are_validated_without_the_private_method(monkeypatch):
    for cls in KerasLinearRegressor.__mro__:
        if "_validate_params" in vars(cls):
            monkeypatch.delattr(cls, "_validate_params")
    assert not hasattr(KerasLinearRegressor(), "_validate_params")
    with pytest.raises(ValueError, match="'epochs' parameter"):
        _fixes.validate_params(KerasLinearRegressor(epochs=0))
    _fixes.validate_params(KerasLinearRegressor(epochs=3))


@pytest.mark.parametrize("weights", [None, 2.0, [1, 2, 3, 4], np.array([0.5, 0.0, 1.0, 3.0])])
def test_own_check_sample_weight_agrees_with_scikit_learn(weights):
    X4 = np.zeros((4, 2))
    ours = _fixes._own_check_sample_weight(weights, X4, dtype=np.float64, ensure_non_negative=True)
    theirs = _check_sample_weight(weights, X4, dtype=np.float64, ensure_non_negative=True)
    assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


@pytest.mark.parametrize("weights, match", [([1, -1, 1, 1], "Negative"), ([1, 2, 3], "shape"), ([[1, 2, 3, 4]], None)])
def test_own_check_sample_weight_rejects_what_scikit_learn_rejects(weights, match):
    X4 = np.zeros((4, 2))
    with pytest.raises(ValueError, match=match):
        _check_sample_weight(weights, X4, ensure_non_negative=True)
    with pytest.raises(ValueError, match=match):
        _fixes._own_check_sample_weight(weights, X4, ensure_non_negative=True)
