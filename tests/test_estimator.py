"""Behaviour of KerasLinearRegressor: it learns, it reports honestly, it has no side effects."""

import pickle
import random
import warnings

import numpy as np
import pytest
from sklearn.base import clone, is_regressor
from sklearn.datasets import load_diabetes, load_linnerud, make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPRegressor

from sklearn_kerasreg import KerasLinearRegressor
from sklearn_kerasreg._backends.runtime import backend_scope


def relative_error(actual, expected):
    return np.linalg.norm(np.ravel(actual) - np.ravel(expected)) / np.linalg.norm(np.ravel(expected))


def datasets():
    rng = np.random.RandomState(0)
    x = np.linspace(0, 50, 51)
    return {
        "tutorial": (x.reshape(-1, 1), x + 10 * rng.uniform(size=51)),
        "diabetes": load_diabetes(return_X_y=True),
        "make_regression": make_regression(10_000, 20, noise=10, random_state=0),
        "linnerud": load_linnerud(return_X_y=True),
    }


@pytest.mark.parametrize("name", list(datasets()))
def test_single_neuron_matches_linear_regression(name):
    X, y = datasets()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = KerasLinearRegressor(random_state=0).fit(X, y)
    ref = LinearRegression().fit(X, y)
    assert relative_error(reg.coef_, ref.coef_) <= 1e-3
    # Intercepts are compared on the scale of the targets (make_regression's is 0).
    scale = np.abs(y).mean(axis=0)
    assert np.all(np.abs(np.asarray(reg.intercept_) - ref.intercept_) <= 1e-3 * scale)
    np.testing.assert_allclose(reg.predict(X), ref.predict(X), rtol=1e-3, atol=1e-3 * scale.max())


def test_tutorial_fit_reaches_1e4(tutorial_data):
    X, y = tutorial_data
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    ref = LinearRegression().fit(X, y)
    assert relative_error(reg.coef_, ref.coef_) <= 1e-4
    assert abs(reg.intercept_ - ref.intercept_) <= 1e-4 * abs(ref.intercept_)


@pytest.mark.parametrize("n_features, weighted", [(5, False), (5, True), (3, False)])
def test_large_data_trains_full_batch_to_the_certified_optimum(monkeypatch, n_features, weighted, exact_linear_regression):
    # Whitened inputs make each full-batch step a Newton step: a few epochs
    # on all 150,000 rows land on the least-squares coefficients, and the
    # certificate, not the loss, says when.
    from sklearn_kerasreg._core import programs as _programs

    trainers = []
    # A trainer kept from an earlier fit of this shape would go unseen.
    _programs.clear()

    class Spy(_programs.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)

    monkeypatch.setattr(_programs, "Trainer", Spy)
    X, y = make_regression(150_000, n_features, noise=10, bias=3.0, random_state=0)
    w = np.random.default_rng(0).uniform(0, 2, len(y)) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = KerasLinearRegressor(random_state=0).fit(X, y, sample_weight=w)
    ref = exact_linear_regression().fit(X, y, sample_weight=w)
    (trainer,) = trainers
    assert trainer.certified and trainer.n_batches == 1
    assert reg.n_iter_ <= 5
    np.testing.assert_allclose(reg.coef_, ref.coef_, rtol=1e-8)
    assert abs(reg.intercept_ - ref.intercept_) <= 1e-8 * abs(ref.intercept_)


def test_mlp_learns_friedman_like_mlpregressor():
    X, y = make_friedman1(n_samples=3000, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    mlp = KerasLinearRegressor(hidden_layer_sizes=(32, 32, 32), random_state=0, epochs=200)
    mlp.fit(X_train, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = MLPRegressor(hidden_layer_sizes=(32, 32, 32), random_state=0).fit(X_train, y_train)
    assert mlp.score(X_test, y_test) >= ref.score(X_test, y_test) - 0.01
    assert mlp.score(X_test, y_test) > 0.95


def test_is_a_regressor():
    assert is_regressor(KerasLinearRegressor())


def test_attribute_shapes_single_and_multi_output(tutorial_data):
    X, y = tutorial_data
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    assert reg.coef_.shape == (1,)
    assert isinstance(reg.intercept_, float)
    assert [c.shape for c in reg.coefs_] == [(1, 1)]
    assert [b.shape for b in reg.intercepts_] == [(1,)]
    assert reg.n_iter_ == len(reg.loss_curve_) == len(reg.history_["loss"])
    assert reg.n_features_in_ == 1

    X, Y = load_linnerud(return_X_y=True)
    multi = KerasLinearRegressor(random_state=0).fit(X, Y)
    assert multi.coef_.shape == (3, 3)
    assert multi.intercept_.shape == (3,)
    assert multi.predict(X).shape == (20, 3)


def test_mlp_has_layers_but_no_coef():
    X, y = make_regression(200, 4, random_state=0)
    mlp = KerasLinearRegressor(hidden_layer_sizes=(8, 5), epochs=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    assert [c.shape for c in mlp.coefs_] == [(4, 8), (8, 5), (5, 1)]
    assert [b.shape for b in mlp.intercepts_] == [(8,), (5,), (1,)]
    assert not hasattr(mlp, "coef_")
    with pytest.raises(AttributeError, match="not linear|nonlinear"):
        _ = mlp.intercept_


def test_all_linear_network_has_exact_effective_coef():
    X, y = make_regression(300, 3, noise=1, random_state=0)
    reg = KerasLinearRegressor(hidden_layer_sizes=(4,), activation="identity", epochs=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    np.testing.assert_allclose(X @ reg.coef_ + reg.intercept_, reg.predict(X), rtol=1e-10, atol=1e-8)


def test_model_predicts_in_original_units_on_its_own(tmp_path):
    import keras

    X, y = make_regression(100, 3, noise=5, bias=40, random_state=0)
    reg = KerasLinearRegressor(random_state=0).fit(X * 100 + 7, y)
    path = tmp_path / "model.keras"
    reg.model_.save(path)
    # On JAX, float64 needs jax_enable_x64 where weights are made and used;
    # fit and predict turn it on for themselves.
    with backend_scope():
        loaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(
            np.asarray(loaded(X * 100 + 7)).ravel(), reg.predict(X * 100 + 7), rtol=1e-12
        )
    kernel, bias = reg.model_.layers[-1].get_weights()
    np.testing.assert_allclose(kernel.ravel(), reg.coef_)
    np.testing.assert_allclose(bias[0], reg.intercept_)


def test_summary_prints_the_dense_layer(tutorial_data, capsys):
    reg = KerasLinearRegressor(random_state=0).fit(*tutorial_data)
    lines = []
    reg.summary(print_fn=lambda line, **kw: lines.append(line))
    text = "\n".join(lines)
    assert "Dense" in text and "2" in text  # one weight, one bias


def test_same_random_state_is_bitwise_reproducible():
    X, y = make_regression(400, 5, noise=3, random_state=0)
    params = {"hidden_layer_sizes": (8,), "epochs": 30, "random_state": 7}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = KerasLinearRegressor(**params).fit(X, y)
        b = KerasLinearRegressor(**params).fit(X, y)
        c = KerasLinearRegressor(**{**params, "random_state": 8}).fit(X, y)
    for wa, wb in zip(a.coefs_, b.coefs_):
        assert np.array_equal(wa, wb)
    assert np.array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.predict(X), c.predict(X))


def _fit_and_predict(X, y):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from sklearn_kerasreg import KerasLinearRegressor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = KerasLinearRegressor(hidden_layer_sizes=(8,), epochs=30, random_state=3).fit(X, y)
    return reg.predict(X), reg.coefs_[0]


def test_reproducible_in_joblib_workers():
    from joblib import Parallel, delayed

    X, y = make_regression(300, 4, noise=3, random_state=0)
    here = _fit_and_predict(X, y)
    there = Parallel(n_jobs=2, backend="loky")(delayed(_fit_and_predict)(X, y) for _ in range(2))
    for pred, kernel in there:
        assert np.array_equal(pred, here[0])
        assert np.array_equal(kernel, here[1])


def test_fit_leaves_global_state_alone(tf_global_state, tf_global_snapshot, tutorial_data):
    py_before, np_before = random.getstate(), np.random.get_state()
    KerasLinearRegressor(random_state=0).fit(*tutorial_data)
    KerasLinearRegressor(random_state=None).fit(*tutorial_data)
    assert tf_global_snapshot() == tf_global_state
    assert random.getstate() == py_before
    np_after = np.random.get_state()
    assert np_after[0] == np_before[0] and np.array_equal(np_after[1], np_before[1])
    assert np_after[2:] == np_before[2:]


def test_unseeded_keras_fit_still_works_after_a_seeded_fit(tf_global_state, tutorial_data):
    # scikeras 0.13's random_state switches on op determinism for the whole
    # process, after which an unseeded Keras fit raises "Random ops require a seed".
    import keras

    X, y = tutorial_data
    KerasLinearRegressor(random_state=0).fit(X, y)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dropout(0.1), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(X.astype("float32"), y.astype("float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_routed_parameters_survive_clone_and_reach_the_optimizer(tutorial_data):
    X, y = tutorial_data
    reg = KerasLinearRegressor(random_state=0, epochs=5, learning_rate="constant")
    reg.set_params(optimizer__learning_rate=1e-6)
    copy = clone(reg)
    assert copy.get_params()["optimizer__learning_rate"] == 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        copy.fit(X, y)
    # With so small a step, five epochs barely move the weights from zero.
    assert abs(copy.coef_[0]) < 1e-3


def test_grid_search_over_routed_parameter():
    X, y = load_diabetes(return_X_y=True)
    search = GridSearchCV(
        KerasLinearRegressor(random_state=0),
        {"optimizer__learning_rate": [0.1, 1e-5]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_params_ == {"optimizer__learning_rate": 0.1}
    assert search.cv_results_["mean_test_score"][0] > search.cv_results_["mean_test_score"][1]


def test_fit_does_not_mutate_parameters(tutorial_data):
    import keras

    X, y = tutorial_data
    optimizer = keras.optimizers.Adam(learning_rate=0.1)
    template = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    weights_before = [w.copy() for w in template.get_weights()]
    reg = KerasLinearRegressor(template, optimizer=optimizer, random_state=0, epochs=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.optimizer is optimizer and optimizer.iterations.numpy() == 0
    for before, after in zip(weights_before, template.get_weights()):
        assert np.array_equal(before, after)


def test_user_builder_is_trained_and_scaled(tutorial_data):
    import keras

    def build(meta, compile_kwargs):
        model = keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)])
        model.compile(**compile_kwargs)
        return model

    X, y = tutorial_data
    # A tight tol: at the default 1e-4 where the loss-based stop lands depends
    # on the initial weights, which each Keras backend draws differently.
    reg = KerasLinearRegressor(build, random_state=0, learning_rate_init=0.1, tol=1e-8).fit(X, y)
    ref = LinearRegression().fit(X, y)
    assert relative_error(reg.coef_, ref.coef_) <= 1e-3


def _unseeded_builder(meta, compile_kwargs):
    import keras

    model = keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(8, activation="relu"),  # an unseeded initializer
        keras.layers.Dropout(0.2),  # an unseeded SeedGenerator
        keras.layers.Dense(1),
    ])
    model.compile(**compile_kwargs)
    return model


def test_user_builder_is_repeatable_with_random_state_and_leaves_global_seeds_alone(tutorial_data):
    X, y = tutorial_data
    py_before, np_before = random.getstate(), np.random.get_state()[1].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b, c = (KerasLinearRegressor(_unseeded_builder, epochs=20, random_state=s).fit(X, y) for s in (1, 1, 2))
    assert np.array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.predict(X), c.predict(X))
    assert random.getstate() == py_before
    assert np.array_equal(np.random.get_state()[1], np_before)


def test_too_few_epochs_warn(tutorial_data):
    # Adam's steps are not Newton steps: three do not reach the optimum,
    # and with them the fit is not certified, only watched for a stall.
    with pytest.warns(ConvergenceWarning, match="ran all epochs=3"):
        KerasLinearRegressor(optimizer="adam", epochs=3, random_state=0).fit(*tutorial_data)
    with pytest.warns(ConvergenceWarning, match="epochs=3"):
        KerasLinearRegressor(hidden_layer_sizes=(4,), epochs=3, random_state=0).fit(*tutorial_data)


def test_nearly_collinear_features_are_fitted_exactly(exact_linear_regression):
    # Standardized, this design has a condition number of about 1e4; Adam
    # on standardized inputs stopped 1e-3 short of it and could only warn.
    rng = np.random.RandomState(0)
    x = rng.normal(size=(500, 1))
    X = np.hstack([x, x + 1e-4 * rng.normal(size=(500, 1)), rng.normal(size=(500, 1))])
    y = X @ [1.0, 2.0, 3.0] + 0.1 * rng.normal(size=500)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = KerasLinearRegressor(random_state=0).fit(X, y)
    ref = exact_linear_regression().fit(X, y)
    np.testing.assert_allclose(reg.coef_, ref.coef_, rtol=1e-8)
    assert np.linalg.cond((X - X.mean(axis=0)) / X.std(axis=0)) > 1e3


def test_beyond_float64_precision_warns_by_how_much():
    # A column that is another plus 1e-9 of noise: float64 determines their
    # two coefficients to about 1e-7 at best, so tol=1e-12 cannot be certified.
    rng = np.random.RandomState(0)
    x = rng.normal(size=(300, 1))
    X = np.hstack([x, x + 1e-9 * rng.normal(size=(300, 1))])
    y = X @ [1.0, 2.0] + 0.1 * rng.normal(size=300)
    with pytest.warns(ConvergenceWarning, match=r"an estimated \S+ \(relative\) from the least-squares optimum"):
        KerasLinearRegressor(random_state=0, tol=1e-12).fit(X, y)


def test_interrupted_fit_keeps_previous_model(tutorial_data):
    import keras

    X, y = tutorial_data
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    coef = reg.coef_.copy()

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt

    reg.set_params(callbacks=[Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        reg.fit(X * 2, y)
    assert np.array_equal(reg.coef_, coef)


def test_keras_callbacks_see_each_epoch(tutorial_data):
    import keras

    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    # Adam, since the default gradient descent needs a single epoch here.
    reg = KerasLinearRegressor(optimizer="adam", random_state=0, callbacks=[stopper])
    reg.fit(*tutorial_data)
    assert reg.n_iter_ == 2  # stopped at the first epoch that did not improve by 10


def test_a_callback_that_stops_a_certified_fit_says_so(tutorial_data):
    import keras

    # Stops the Newton step's fit after its first epoch, before it is verified.
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    X, y = tutorial_data
    reg = KerasLinearRegressor(random_state=0, callbacks=[stopper], tol=1e-300)
    with pytest.warns(ConvergenceWarning, match="a callback stopped training first"):
        reg.fit(X, y)


def test_sample_weight_zero_is_removal(tutorial_data):
    X, y = tutorial_data
    w = np.ones(len(y))
    w[::2] = 0
    weighted = KerasLinearRegressor(random_state=0).fit(X, y, sample_weight=w)
    removed = KerasLinearRegressor(random_state=0).fit(X[1::2], y[1::2])
    np.testing.assert_allclose(weighted.coef_, removed.coef_, rtol=1e-9)
    assert weighted.intercept_ == pytest.approx(removed.intercept_, rel=1e-9)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"hidden_layer_sizes": (3, -1)}, "hidden_layer_sizes"),
        ({"loss": "hinge"}, "loss"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
        ({"learning_rate_init": -1.0}, "learning_rate_init"),
    ],
)
def test_bad_parameters_are_named(tutorial_data, params, match):
    with pytest.raises(ValueError, match=match):
        KerasLinearRegressor(**params).fit(*tutorial_data)


def test_pickle_round_trip_keeps_predictions(tutorial_data):
    X, y = tutorial_data
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    loaded = pickle.loads(pickle.dumps(reg))
    assert np.array_equal(loaded.predict(X), reg.predict(X))
    assert np.array_equal(loaded.coef_, reg.coef_)


def test_warm_start_continues_from_previous_weights(tutorial_data):
    X, y = tutorial_data
    reg = KerasLinearRegressor(random_state=0, warm_start=True)
    reg.fit(X, y)
    first_n, first = reg.n_iter_, reg.loss_curve_[-1]
    coef = reg.coef_.copy()
    reg.fit(X, y)
    # It starts where it stopped, at the certified optimum, so one epoch confirms it.
    assert reg.n_iter_ == 1
    assert len(reg.loss_curve_) == first_n + 1
    assert reg.loss_curve_[first_n] == pytest.approx(first, rel=1e-12)
    np.testing.assert_allclose(reg.coef_, coef, rtol=1e-12)
    mlp = KerasLinearRegressor(hidden_layer_sizes=(4,), random_state=0, warm_start=True, epochs=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
        last = mlp.loss_curve_[-1]
        mlp.fit(X, y)
    assert len(mlp.loss_curve_) == 10
    assert mlp.loss_curve_[5] <= last


def test_importing_does_not_load_tensorflow():
    import subprocess
    import sys

    code = "import sys, sklearn_kerasreg; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_an_unsupported_keras_backend_is_refused_before_any_work(monkeypatch, method, tutorial_data):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    reg = KerasLinearRegressor(random_state=0)
    before = reg.__dict__.copy()
    with pytest.raises(RuntimeError, match="'torch' backend. Supported backends: 'tensorflow', 'jax'. Set .*KERAS_BACKEND"):
        getattr(reg, method)(*tutorial_data)
    assert reg.__dict__ == before


def test_pandas_feature_names_and_integer_input():
    pd = pytest.importorskip("pandas")
    X, y = make_regression(120, 3, noise=1, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    reg = KerasLinearRegressor(random_state=0).fit(frame, y)
    assert list(reg.feature_names_in_) == ["a", "b", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        predictions = reg.predict(frame)
    assert predictions.dtype == np.float64
    with pytest.raises(ValueError, match="[Ff]eature names"):
        reg.predict(frame[["c", "b", "a"]])
    ints = KerasLinearRegressor(random_state=0).fit(np.arange(40).reshape(20, 2), np.arange(20))
    assert ints.predict(np.arange(40).reshape(20, 2)).dtype == np.float64


def test_no_retracing_warnings_over_50_fit_predict_cycles():
    import logging

    import tensorflow as tf

    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Collect()
    tf.get_logger().addHandler(handler)
    try:
        X, y = make_regression(60, 3, noise=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for seed in range(50):
                KerasLinearRegressor(epochs=5, random_state=seed).fit(X, y).predict(X)
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [m for m in messages if "retracing" in m]


def test_compiled_model_with_a_loss_name_trains(tutorial_data):
    # keras.wrappers users pass compiled models; compile(loss="mae") keeps a
    # plain function, which the engine must still weight and reduce.
    import keras

    X, y = tutorial_data
    template = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    template.compile(optimizer=keras.optimizers.Adam(0.1), loss="mae")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = KerasLinearRegressor(model=template, epochs=300, random_state=0).fit(X, y)
    assert np.corrcoef(reg.predict(X), y)[0, 1] > 0.95


@pytest.mark.parametrize("name", ["fit__batch_size", "predict__batch_size"])
def test_keras_fit_and_predict_parameters_are_rejected_not_ignored(name):
    with pytest.raises(ValueError, match="Invalid parameter"):
        KerasLinearRegressor().set_params(**{name: 4})


def test_repeated_fits_reuse_variable_names(tutorial_data, monkeypatch):
    # TensorFlow keeps an eager kernel per distinct variable name for the life of
    # the process; Keras's unique optimizer names (adam, adam_1, ...) made every
    # fit of a search add ~0.3 MB that was never freed.
    from sklearn_kerasreg._core import network as _network
    from sklearn_kerasreg._core import programs as _programs

    X, y = tutorial_data
    built = []
    build = _network.build

    def recorded(*args, **kwargs):
        built.append(build(*args, **kwargs)[0])
        return built[-1], []

    monkeypatch.setattr(_network, "build", recorded)
    # Every fit builds its own network, as when no trainer is kept.
    monkeypatch.setattr(_programs, "program_key", lambda *args: None)
    paths = []
    for _ in range(2):
        reg = KerasLinearRegressor(random_state=0, epochs=5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg.fit(X, y)
        net = built[-1]
        paths.append([v.path for v in [*net.variables, *net.optimizer.variables, *reg.model_.variables]])
    assert len(built) == 2 and paths[0] == paths[1]


def _shown(text):
    """What a terminal shows of ``text``: colour codes gone, each carriage return a new line."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m|\x08", "", text).replace("\r", "\n")


def test_verbose_1_is_a_keras_progress_bar_over_the_epochs(capsys):
    X, y = make_regression(n_samples=200, n_features=3, noise=1.0, random_state=0)
    reg = KerasLinearRegressor(hidden_layer_sizes=(8,), epochs=40, n_iter_no_change=1000, verbose=1,
                               random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    lines = [line for line in _shown(capsys.readouterr().out).splitlines() if line.strip()]
    # The bar ends full, on the last epoch's loss, and says what its unit is;
    # then the loss after the last step (loss_), in the curve's units.
    assert lines[-1] == f"loss at the final weights (loss_): {reg.loss_:.6g}"
    assert lines[-2].startswith("40/40 ") and "/epoch" in lines[-2]
    shown = float(lines[-2].split("loss: ")[1].split()[0])
    # A full batch's epoch, as Keras shows it, is measured before its step:
    # the loss after the step before (shown to 4 decimals or digits).
    assert shown == pytest.approx(reg.loss_curve_[-2], rel=5e-3)
    assert not any(line.startswith("Epoch ") for line in lines)


def test_verbose_says_where_and_why_training_stopped(capsys):
    X, y = make_regression(n_samples=200, n_features=3, noise=1.0, random_state=0)
    reg = KerasLinearRegressor(verbose=1, random_state=0).fit(X, y)
    lines = [line.strip() for line in _shown(capsys.readouterr().out).splitlines() if line.strip()]
    assert lines[-1] == f"loss at the final weights (loss_): {reg.loss_:.6g}"
    assert lines[-2] == f"Epoch {reg.n_iter_}: training stopped, converged."
    assert lines[-3].startswith(f"{reg.n_iter_}/{reg.epochs} ")


def test_verbose_2_prints_one_line_per_epoch_and_0_nothing(capsys):
    X, y = make_regression(n_samples=200, n_features=3, noise=1.0, random_state=0)
    reg = KerasLinearRegressor(hidden_layer_sizes=(8,), epochs=5, verbose=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
        lines = capsys.readouterr().out.splitlines()
        reg.set_params(verbose=0).fit(X, y)
    # Each full-batch epoch shows its loss before its step, the curve the loss after it.
    assert lines[1:-1] == [f"Epoch {i + 2}/5 - loss: {loss:.6g}" for i, loss in enumerate(reg.loss_curve_[:-1])]
    assert lines[0].startswith("Epoch 1/5 - loss: ") and len(lines) == 6
    assert lines[-1] == f"loss at the final weights (loss_): {reg.loss_curve_[-1]:.6g}"
    assert capsys.readouterr().out == ""


def test_a_keras_callback_that_sets_the_learning_rate_takes_effect_from_the_next_epoch():
    import keras

    class Freeze(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.optimizer.learning_rate.assign(0.0)

    X, y = make_regression(n_samples=200, n_features=3, noise=1.0, random_state=0)
    reg = KerasLinearRegressor(hidden_layer_sizes=(8,), epochs=8, callbacks=[Freeze()], random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    curve = reg.loss_curve_
    # A full-batch curve holds the loss after each epoch's step. Epochs 0-2
    # step; from epoch 3 on the rate is zero, so each epoch ends where epoch 2 did.
    assert curve[0] > curve[1] > curve[2]
    # (The last value is loss_, measured on predict's output: equal to rounding.)
    assert curve[3:] == [pytest.approx(curve[2], rel=1e-12)] * 5


def test_a_routed_loss_reduction_is_obeyed():
    X, y = make_regression(n_samples=200, n_features=3, noise=1.0, random_state=0)

    import keras

    def first_loss(**params):
        seen = []
        record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs["loss"]))
        reg = KerasLinearRegressor(hidden_layer_sizes=(4,), epochs=1, random_state=0, callbacks=[record])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg.set_params(**params).fit(X, y)
        return seen[0]

    # One batch of all 200 rows, measured before the first step (callbacks see
    # the training loss as Keras computes it): the same weights.
    # (rel=1e-6: on JAX, Keras's own losses average in float32.)
    assert first_loss(loss__reduction="sum") == pytest.approx(200 * first_loss(), rel=1e-6)


def test_predict_of_a_quantized_linear_model_is_the_models_own():
    # predict reads a linear model's weights into one NumPy product; a
    # quantized kernel holds integers that only the layer's call scales.
    X, y = make_regression(n_samples=100, n_features=3, noise=1.0, random_state=0)
    reg = KerasLinearRegressor(random_state=0).fit(X, y + 1000)
    if not hasattr(reg.model_, "quantize"):
        pytest.skip("this Keras has no Model.quantize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.model_.quantize("int8")
    np.testing.assert_allclose(reg.predict(X), np.asarray(reg.model_(X)).ravel(), rtol=1e-6)
