"""Continuing training: warm_start, partial_fit, pickling and save/load, and failed calls that change nothing.

First one regression test per reported finding, then ports of scikit-learn's
MLP tests that concern a regressor. Public API only.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, scale
from sklearn.utils.validation import check_is_fitted

from sklearn_kerasreg import KerasLinearRegressor, load_estimator, save_estimator, train_on_chunks


def relative_error(actual, expected):
    return np.linalg.norm(np.ravel(actual) - np.ravel(expected)) / np.linalg.norm(np.ravel(expected))


def weights(est):
    """Every Dense kernel and bias, flattened into one vector."""
    return np.concatenate([w.ravel() for w in [*est.coefs_, *est.intercepts_]])


def quietly(call, *args, **kwargs):
    """``call(*args, **kwargs)`` with ConvergenceWarning ignored (short MLP fits run out of epochs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return call(*args, **kwargs)


def stored_twins(est, tmp_path):
    """``est`` itself, a pickle round trip of it and a save_estimator/load_estimator round trip."""
    save_estimator(est, tmp_path / "twin.kreg")
    return {"memory": est, "pickle": pickle.loads(pickle.dumps(est)), "file": load_estimator(tmp_path / "twin.kreg")}


@pytest.fixture(scope="module")
def small():
    return make_regression(150, 3, noise=5, random_state=0)


@pytest.fixture(scope="module")
def iris():
    data = load_iris().data
    return data[:, :3], data[:, 3]  # petal width from the other three: 150 rows, full batch with "auto"


def dense_builder(meta, compile_kwargs):
    import keras

    model = keras.Sequential([
        keras.Input((meta["n_features_in_"],)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1),
    ])
    model.compile(**compile_kwargs)
    return model


def user_network(kind):
    import keras

    if kind == "builder":
        return {"model": dense_builder}
    if kind == "template":
        return {"model": keras.Sequential([
            keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1),
        ])}
    return {"hidden_layer_sizes": (4,), "callbacks": [keras.callbacks.History()]}


# -- finding 1: a second warm fit -------------------------------------------


@pytest.mark.parametrize("kind", ["builder", "template", "callbacks"])
def test_repeated_warm_fits_work_with_user_networks_and_callbacks(kind, small):
    X, y = small
    reg = KerasLinearRegressor(epochs=3, warm_start=True, random_state=0, **user_network(kind))
    for fit_number in range(1, 4):
        quietly(reg.fit, X, y)
        assert reg.n_iter_ == 3 and len(reg.loss_curve_) == 3 * fit_number


def test_partial_fit_then_two_warm_fits_work(small):
    X, y = small
    reg = KerasLinearRegressor(hidden_layer_sizes=(4,), epochs=3, warm_start=True, random_state=0)
    reg.partial_fit(X, y)
    quietly(reg.fit, X, y)
    quietly(reg.fit, X, y)
    assert reg.n_iter_ == 3 and len(reg.loss_curve_) == 1 + 3 + 3


# -- finding 2: a warm fit uses the current parameters ------------------------


def test_warm_fit_after_set_alpha_lands_on_the_new_optimum():
    X, y = make_regression(300, 4, noise=5, random_state=0)
    reg = KerasLinearRegressor(warm_start=True, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.set_params(alpha=100.0).fit(X, y)
    cold = KerasLinearRegressor(alpha=100.0, random_state=0).fit(X, y)
    # alpha is Ridge's penalty on the standardized problem (user guide), so the anchor is a standardized Ridge.
    ridge = make_pipeline(StandardScaler(), Ridge(alpha=100.0)).fit(X, scale(y))
    expected = ridge[-1].coef_ / ridge[0].scale_ * y.std()
    assert relative_error(cold.coef_, expected) < 1e-6
    assert relative_error(reg.coef_, cold.coef_) < 1e-6


def test_warm_fit_uses_the_current_learning_rate_init(small):
    X, y = small

    def relative_move(learning_rate_init):
        reg = KerasLinearRegressor(hidden_layer_sizes=(8,), epochs=5, learning_rate="constant",
                                   n_iter_no_change=100, warm_start=True, random_state=0)
        start = weights(quietly(reg.fit, X, y))
        quietly(reg.set_params(learning_rate_init=learning_rate_init, epochs=3).fit, X, y)
        return relative_error(weights(reg), start)

    # Adam moves each weight by about the learning rate per step, whatever the gradient:
    # 1e-8 moves the weights by ~1e-8, 0.1 by ~0.1.
    assert relative_move(1e-8) < 1e-4 * relative_move(0.1)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize(
    "start, change",
    [({"hidden_layer_sizes": (8,)}, {"hidden_layer_sizes": (3, 3)}), ({}, {"fit_intercept": False})],
    ids=["hidden_layer_sizes", "fit_intercept"],
)
def test_a_change_of_architecture_is_refused_and_changes_nothing(start, change, method, small):
    X, y = small
    reg = quietly(KerasLinearRegressor(epochs=5, warm_start=True, random_state=0, **start).fit, X, y)
    before, curve, n_iter = reg.predict(X), list(reg.loss_curve_), reg.n_iter_
    (name,) = change
    with pytest.raises(ValueError) as error:
        quietly(getattr(reg.set_params(**change), method), X, y)
    assert name in str(error.value) and "warm_start=False" in str(error.value)
    np.testing.assert_array_equal(reg.predict(X), before)
    assert reg.loss_curve_ == curve and reg.n_iter_ == n_iter


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_a_changed_number_of_features_is_refused_and_changes_nothing(method, small):
    X, y = small
    reg = KerasLinearRegressor(warm_start=True, random_state=0).fit(X, y)
    twin = KerasLinearRegressor(warm_start=True, random_state=0).fit(X, y)
    before, curve = reg.predict(X), list(reg.loss_curve_)
    with pytest.raises(ValueError, match="features"):
        getattr(reg, method)(X[:, :2], y)
    np.testing.assert_array_equal(reg.predict(X), before)
    assert reg.loss_curve_ == curve
    # The next call continues exactly as on a twin that never saw the failing one.
    reg.partial_fit(X, y + 10)
    twin.partial_fit(X, y + 10)
    np.testing.assert_allclose(reg.predict(X), twin.predict(X), rtol=1e-10)


# -- finding 3: continuing does not depend on storage ------------------------


def test_partial_fit_continues_the_same_in_memory_after_pickle_and_after_load(tmp_path):
    # The bug report: the three intercepts were 50.04, 15.22 and 36.12.
    X, y = make_regression(20000, 5, noise=5, random_state=0)
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    intercepts = {}
    for name, twin in stored_twins(reg, tmp_path).items():
        intercepts[name] = twin.partial_fit(X[:5000], y[:5000] + 50).intercept_
    for name in ("pickle", "file"):
        assert intercepts[name] == pytest.approx(intercepts["memory"], rel=1e-10), intercepts


def test_mlp_continues_the_same_in_memory_after_pickle_and_after_load(small, tmp_path):
    X, y = small
    reg = quietly(KerasLinearRegressor(hidden_layer_sizes=(8,), epochs=5, random_state=0).fit, X, y)
    predictions = {}
    for name, twin in stored_twins(reg, tmp_path).items():
        twin.partial_fit(X, y + 20).partial_fit(X, y + 20)
        quietly(twin.set_params(warm_start=True, epochs=3).fit, X, y + 20)
        predictions[name] = twin.predict(X)
    for name in ("pickle", "file"):
        np.testing.assert_allclose(predictions[name], predictions["memory"], rtol=1e-6, err_msg=name)


# -- finding 4: a failing train_on_chunks changes nothing --------------------


@pytest.mark.parametrize("fitted, n_passes", [(False, 1), (False, 2), (True, 2)])
def test_train_on_chunks_failing_on_a_nan_chunk_changes_nothing(fitted, n_passes):
    X, y = make_regression(400, 3, noise=5, random_state=0)
    bad = X[200:300].copy()
    bad[5, 1] = np.nan
    chunks = [(X[:100], y[:100]), (X[100:200], y[100:200]), (bad, y[200:300]), (X[300:], y[300:])]
    reg, twin = KerasLinearRegressor(random_state=0), KerasLinearRegressor(random_state=0)
    if fitted:
        reg.fit(X[:200], y[:200])
        twin.fit(X[:200], y[:200])
        before = reg.predict(X)
    with pytest.raises(ValueError, match="NaN"):
        train_on_chunks(reg, chunks, n_passes=n_passes)
    if fitted:
        np.testing.assert_array_equal(reg.predict(X), before)
    else:
        with pytest.raises(NotFittedError):
            check_is_fitted(reg)
    # The bug report: this partial_fit raised LinAlgError.
    reg.partial_fit(X[300:], y[300:])
    twin.partial_fit(X[300:], y[300:])
    np.testing.assert_allclose(reg.predict(X), twin.predict(X), rtol=1e-10)


# -- finding 6: the scikeras builder contract --------------------------------


def test_a_builder_gets_scikeras_params_and_meta(small):
    import keras

    X, y = small
    seen = {}

    def build(meta, params, compile_kwargs):
        seen.update(meta=dict(meta), params=dict(params))
        model = keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)])
        model.compile(**compile_kwargs)
        return model

    reg = KerasLinearRegressor(model=build, epochs=7, random_state=0)
    quietly(reg.fit, X, y)
    assert seen["params"]["epochs"] == 7 and seen["params"]["random_state"] == 0
    assert seen["meta"]["y_ndim_"] == 1 and seen["meta"]["n_features_in_"] == 3
    quietly(reg.fit, X, y.reshape(-1, 1))
    assert seen["meta"]["y_ndim_"] == 2


def test_callbacks_as_a_dict_take_routed_params(small):
    import keras

    X, y = small
    reg = KerasLinearRegressor(hidden_layer_sizes=(4,), epochs=20, random_state=0,
                               callbacks={"es": keras.callbacks.EarlyStopping})
    reg.set_params(callbacks__es__monitor="loss", callbacks__es__min_delta=1e3, callbacks__es__patience=0)
    quietly(reg.fit, X, y)
    # Epoch 1 improves on infinity; epoch 2 cannot improve by 1e3, so patience=0 stops there.
    assert reg.n_iter_ == 2


# -- finding 7: a fit keeps its last step ------------------------------------


def test_one_full_batch_epoch_depends_on_the_learning_rate(iris):
    X, y = iris
    coefs = [
        weights(quietly(KerasLinearRegressor(hidden_layer_sizes=(10,), epochs=1, learning_rate_init=rate,
                                             random_state=0).fit, X, y))
        for rate in (1e-6, 0.5)
    ]
    assert relative_error(coefs[1], coefs[0]) > 1e-3


def test_each_one_epoch_warm_fit_changes_the_predictions(iris):
    X, y = iris
    reg = KerasLinearRegressor(hidden_layer_sizes=(10,), epochs=1, warm_start=True, random_state=0)
    previous = quietly(reg.fit, X, y).predict(X)
    for _ in range(5):
        current = quietly(reg.fit, X, y).predict(X)
        # Adam's default 0.01 moves every weight by about 0.01 a step.
        assert relative_error(current, previous) > 1e-4
        previous = current


def test_full_batch_fit_of_n_epochs_equals_n_partial_fits(iris):
    X, y = iris
    params = {"hidden_layer_sizes": (10,), "batch_size": 150, "learning_rate": "constant", "random_state": 0}
    fitted = quietly(KerasLinearRegressor(epochs=3, **params).fit, X, y)
    stepped = KerasLinearRegressor(**params)
    for _ in range(3):
        stepped.partial_fit(X, y)
    np.testing.assert_allclose(fitted.predict(X), stepped.predict(X), rtol=1e-6)


# -- finding 8: huge finite input ---------------------------------------------


@pytest.mark.parametrize("hidden_layer_sizes", [(), (4,)], ids=["single-neuron", "mlp"])
def test_huge_finite_input_is_refused_as_too_large(hidden_layer_sizes):
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(50, 2))  # finite, but its squares are not
    y = rng.normal(size=50)
    reg = KerasLinearRegressor(hidden_layer_sizes=hidden_layer_sizes, epochs=5, random_state=0)
    with pytest.raises(ValueError, match="too large"):
        quietly(reg.fit, X, y)


# -- semantics item 1: a cold fit forgets the past ----------------------------


@pytest.mark.parametrize("hidden_layer_sizes", [(), (6,)], ids=["single-neuron", "mlp"])
def test_cold_fit_after_a_warm_history_equals_a_fresh_clone(hidden_layer_sizes, small):
    X, y = small
    reg = KerasLinearRegressor(hidden_layer_sizes=hidden_layer_sizes, epochs=5, warm_start=True, random_state=0)
    reg.partial_fit(X[:50] * 3 + 1, y[:50])  # fixes another standardization
    quietly(reg.set_params(alpha=1.0).fit, X, y)
    reg = pickle.loads(pickle.dumps(reg))
    reg.partial_fit(X, y + 5)
    quietly(reg.set_params(warm_start=False, alpha=0.0).fit, X, y)
    fresh = quietly(clone(reg).fit, X, y)
    np.testing.assert_allclose(reg.predict(X), fresh.predict(X), rtol=1e-12)
    np.testing.assert_allclose(reg.loss_curve_, fresh.loss_curve_, rtol=1e-12)


# -- ports of scikit-learn's MLP tests (sklearn/neural_network/tests/test_mlp.py) ----


# test_partial_fit_regression: fit with batch_size=n_samples for k epochs equals k
# partial_fit calls, with SGD without and with momentum, on its X_reg data. Kept:
# the equality, and a score floor. Not kept: 100 epochs (30 here, with a larger
# rate, on standardized data); n_iter_no_change is raised so no stall ends the fit
# early, since partial_fit has no stopping rule.
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_port_partial_fit_equals_full_batch_fit(momentum):
    X, y = make_regression(n_samples=200, n_features=10, bias=20.0, noise=100.0, random_state=7)
    y = scale(y)
    params = {"hidden_layer_sizes": (10,), "optimizer": "sgd", "learning_rate_init": 0.05, "batch_size": 200,
              "learning_rate": "constant", "n_iter_no_change": 1000, "random_state": 1}
    fitted = KerasLinearRegressor(epochs=30, **params).set_params(optimizer__momentum=momentum)
    quietly(fitted.fit, X, y)
    stepped = KerasLinearRegressor(**params).set_params(optimizer__momentum=momentum)
    for _ in range(30):
        stepped.partial_fit(X, y)
    np.testing.assert_allclose(fitted.predict(X), stepped.predict(X), rtol=1e-6)
    assert stepped.n_iter_ == fitted.n_iter_ == 30
    assert stepped.score(X, y) > 0.5


# test_warm_start_full_iteration and test_mlp_warm_start_no_convergence: every warm
# fit runs its full epochs (n_iter_ == epochs each time) and warns when it runs out.
# Deliberately not kept: in scikit-learn n_iter_ counts all epochs since the cold
# fit and a warm fit stops at max_iter in total; here (semantics item 10) n_iter_ is
# the epochs of the last call, a warm fit runs `epochs` more, and loss_curve_ grows.
def test_port_each_warm_fit_runs_its_full_epochs(iris):
    X, y = iris
    reg = KerasLinearRegressor(hidden_layer_sizes=(2,), epochs=10, n_iter_no_change=10_000,
                               warm_start=True, random_state=0)
    with pytest.warns(ConvergenceWarning):
        reg.fit(X, y)
    assert reg.n_iter_ == 10 and len(reg.loss_curve_) == 10
    with pytest.warns(ConvergenceWarning):
        reg.set_params(epochs=20).fit(X, y)
    assert reg.n_iter_ == 20 and len(reg.loss_curve_) == 30
    reg.partial_fit(X, y)
    assert reg.n_iter_ == 21 and len(reg.loss_curve_) == 31


# test_mlp_warm_start_with_early_stopping: a warm fit with early_stopping=True
# extends the validation record. Kept: it grows; added: by one value per epoch,
# alongside loss_curve_ (validation_loss_curve_ is scikit-learn's validation_scores_).
def test_port_warm_start_with_early_stopping_extends_the_validation_curve(iris):
    X, y = iris
    reg = KerasLinearRegressor(hidden_layer_sizes=(2,), epochs=10, early_stopping=True, n_iter_no_change=10_000,
                               warm_start=True, random_state=0)
    quietly(reg.fit, X, y)
    first = len(reg.validation_loss_curve_)
    quietly(reg.set_params(epochs=20).fit, X, y)
    assert len(reg.validation_loss_curve_) == first + reg.n_iter_ == len(reg.loss_curve_)


# test_warm_start (the classifier's "same classes as in the previous fit"): the
# regressor's counterpart is the number of targets (semantics item 3). Kept: a
# ValueError on the warm fit; added: on partial_fit too, and nothing changes.
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_port_warm_start_refuses_another_number_of_targets(method, small):
    X, y = small
    reg = quietly(KerasLinearRegressor(hidden_layer_sizes=(4,), epochs=5, warm_start=True, random_state=0).fit, X, y)
    before = reg.predict(X)
    with pytest.raises(ValueError, match="target"):
        quietly(getattr(reg, method), X, np.column_stack([y, -y]))
    np.testing.assert_array_equal(reg.predict(X), before)


# test_n_iter_no_change (and test_early_stopping for the monitored validation loss):
# with a tol no epoch can meet, training stops after n_iter_no_change epochs without
# improvement. Kept: the count, well before epochs, no ConvergenceWarning (a stall is
# convergence). Not kept: the private _no_improvement_count; learning_rate="constant"
# is set because the default "adaptive" stops only at the sixth stall. The first
# epoch improves on infinity, so n_iter_ == n_iter_no_change + 1; whether a warm fit
# compares against the previous fit's best loss is not specified, so it may stop one
# epoch sooner.
@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("n_iter_no_change", [2, 5])
def test_port_training_stops_after_n_iter_no_change_epochs(n_iter_no_change, early_stopping, iris):
    X, y = iris
    reg = KerasLinearRegressor(hidden_layer_sizes=(4,), tol=1e3, n_iter_no_change=n_iter_no_change,
                               learning_rate="constant", early_stopping=early_stopping, epochs=3000,
                               warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, y)
        assert reg.n_iter_ == n_iter_no_change + 1
        reg.set_params(n_iter_no_change=n_iter_no_change + 3).fit(X, y)  # the current value applies
    assert reg.n_iter_ in (n_iter_no_change + 3, n_iter_no_change + 4)
    assert len(reg.loss_curve_) == n_iter_no_change + 1 + reg.n_iter_


# test_mlp_partial_fit_after_fit: partial_fit after a fit with early_stopping=True.
# Kept: it must not fail for an internal reason. Deliberately not kept: scikit-learn
# refuses it with a ValueError; here partial_fit documents that no early stopping
# applies to it, so it trains one more epoch on all the rows it is given.
def test_port_partial_fit_after_an_early_stopping_fit_adds_one_epoch(iris):
    X, y = iris
    reg = KerasLinearRegressor(hidden_layer_sizes=(4,), epochs=5, early_stopping=True, random_state=0)
    quietly(reg.fit, X, y)
    before, n_iter, n_epochs = reg.predict(X), reg.n_iter_, len(reg.loss_curve_)
    reg.partial_fit(X, y)
    assert reg.n_iter_ == n_iter + 1 and len(reg.loss_curve_) == n_epochs + 1
    assert relative_error(reg.predict(X), before) > 1e-6


# -- found in review ------------------------------------------------------------


def test_a_new_optimizer_instance_brings_its_own_rate_to_partial_fit(small):
    import keras

    X, y = small
    reg = KerasLinearRegressor(hidden_layer_sizes=(4,), optimizer=keras.optimizers.Adam(1e-9), random_state=0)
    reg.partial_fit(X, y)
    before = reg.predict(X)
    reg.partial_fit(X, y)
    still = relative_error(reg.predict(X), before)
    reg.set_params(optimizer=keras.optimizers.Adam(0.5)).partial_fit(X, y)
    # At 1e-9 a pass moves nothing; at the new instance's 0.5 it moves a lot.
    assert still < 1e-6 and relative_error(reg.predict(X), before) > 1e-2


def test_a_full_batch_fit_with_another_optimizer_ends_on_its_last_step(small):
    X, y = small
    # Not the certified Newton step: its weights after one Adam step are not the zero start.
    reg = quietly(KerasLinearRegressor(random_state=0, epochs=1, optimizer="adam").fit, X, y)
    assert np.all(reg.coef_ != 0)
    warm = KerasLinearRegressor(random_state=0, epochs=1, warm_start=True, learning_rate_init=0.01)
    coefs = [quietly(warm.fit, X, y).coef_.copy() for _ in range(3)]
    assert not np.allclose(coefs[0], coefs[1]) and not np.allclose(coefs[1], coefs[2])


def test_activation_may_change_without_hidden_layers(small):
    X, y = small
    reg = KerasLinearRegressor(warm_start=True, random_state=0).fit(X, y)
    reg.set_params(activation="tanh").fit(X, y)  # the single neuron has no activation to change
    assert reg.n_iter_ >= 1
