"""Fits that share a traced trainer get exactly what a trainer of their own gives them."""

import threading
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning

from sklearn_kerasreg import KerasLinearRegressor
from sklearn_kerasreg._core import programs as _programs

X, y = make_regression(300, 4, noise=5, bias=2.0, random_state=0)
W = np.random.default_rng(0).uniform(0, 2, len(y))


@pytest.fixture
def made(monkeypatch):
    """Count the trainers fits make; start and end with no kept trainer."""
    trainers = []

    class Spy(_programs.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)

    monkeypatch.setattr(_programs, "Trainer", Spy)
    _programs.clear()
    yield trainers
    _programs.clear()


def own_trainers(monkeypatch):
    """From here on every fit trains its own network in place, as before trainers were shared."""
    monkeypatch.setattr(_programs, "program_key", lambda *args: None)


def state(reg):
    """Everything a fit decides, for exact comparison."""
    return [*reg.coefs_, *reg.intercepts_, reg.n_iter_, reg.loss_curve_, reg.validation_loss_curve_]


def assert_same(a, b):
    for left, right in zip(state(a), state(b)):
        if isinstance(left, np.ndarray):
            np.testing.assert_array_equal(left, right)
        else:
            assert left == right


# Each differs from the one before in something the trace depends on, or
# only in its seed (which must not matter to the trace, only to the result).
SEQUENCE = [
    (dict(random_state=0), None),
    (dict(random_state=1), None),
    (dict(random_state=0, alpha=10.0), None),
    (dict(random_state=0, batch_size=32), None),
    (dict(random_state=2, batch_size=32), None),
    (dict(random_state=0, early_stopping=True, epochs=30), None),
    (dict(random_state=0, hidden_layer_sizes=(8,), epochs=30), None),
    # Its own initial weights, drawn as a network of its own draws them.
    (dict(random_state=3, hidden_layer_sizes=(8,), epochs=30), None),
    (dict(random_state=0), W),
    (dict(random_state=0, optimizer="adam", learning_rate_init=0.05), None),
    # Keras's Huber.get_config leaves out delta, which the trace bakes in.
    (dict(random_state=0, loss="huber"), None),
    (dict(random_state=0, loss="huber", loss__delta=0.05), None),
    (dict(random_state=0), None),
]


def fit_sequence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [KerasLinearRegressor().set_params(**params).fit(X, y, sample_weight=w) for params, w in SEQUENCE]


def test_shared_trainers_give_the_results_of_own_trainers(made, monkeypatch):
    # Seeds 1 and 2, and 3 with hidden layers, reuse a trainer; by the repeat of the first fit, more
    # than CACHE_SIZE others have been used since, so its trainer is gone.
    assert _programs.CACHE_SIZE < len(SEQUENCE) - 3
    shared = fit_sequence()
    n_shared = len(made)
    own_trainers(monkeypatch)
    own = fit_sequence()
    assert len(made) - n_shared == len(SEQUENCE)
    assert n_shared == len(SEQUENCE) - 3
    assert all(trainer.traces == 1 for trainer in made)
    for a, b in zip(shared, own):
        assert_same(a, b)
    # The shuffle seed reached the shared trainer.
    assert shared[3].loss_curve_ != shared[4].loss_curve_


def test_warm_start_is_unaffected_by_other_fits_sharing_its_trainer(made, monkeypatch):
    def run():
        reg = KerasLinearRegressor(random_state=0, warm_start=True, epochs=20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg.fit(X, y)
            before = reg.predict(X)
            # Shares reg's trainer, with other targets and another seed.
            KerasLinearRegressor(random_state=5, warm_start=True, epochs=20).fit(X, -3 * y)
            unchanged = np.array_equal(reg.predict(X), before)
            # Continues from reg's own weights and optimizer state.
            reg.fit(X, y)
        return reg, unchanged

    shared, unchanged = run()
    assert unchanged
    assert len(made) == 1
    own_trainers(monkeypatch)
    own, _ = run()
    assert len(made) == 4
    assert_same(shared, own)


def test_certified_fits_share_a_trainer(made, monkeypatch):
    # The certificate's constants (the whitening) differ between the fits'
    # data; they go in as arguments, like the data.
    from sklearn_kerasreg._core import network as _network

    built = []
    build = _network.build
    monkeypatch.setattr(_network, "build", lambda *args, **kwargs: built.append(1) or build(*args, **kwargs))
    X_big, y_big = make_regression(140_000, 3, noise=10, random_state=0)
    first = KerasLinearRegressor(random_state=0).fit(X_big, y_big)
    again = KerasLinearRegressor(random_state=0).fit(X_big, y_big)
    assert len(made) == 1 and made[0].certified
    # The second fit trained the kept trainer's network, and built none.
    assert len(built) == 1
    # The second fit's data went in as arguments: no second trace.
    assert made[0].traces == 1
    own_trainers(monkeypatch)
    own = KerasLinearRegressor(random_state=0).fit(X_big, y_big)
    assert_same(first, again)
    assert_same(first, own)


def test_two_threads_with_one_key_train_apart(made, monkeypatch, run_in_threads):
    alone = [KerasLinearRegressor(random_state=k).fit(X, (k + 1) * y) for k in range(2)]
    # Both fits are inside training at once, so they cannot take turns with one trainer.
    inside, trainers = threading.Barrier(2, timeout=60), []
    train = _programs.Trainer.train

    def train_together(self, *args, **kwargs):
        trainers.append(self)
        inside.wait()
        return train(self, *args, **kwargs)

    monkeypatch.setattr(_programs.Trainer, "train", train_together)
    results = run_in_threads(lambda k: KerasLinearRegressor(random_state=k).fit(X, (k + 1) * y), 2)
    # One took the kept trainer, the other made its own.
    assert trainers[0] is not trainers[1] and len(made) == 2
    for k in range(2):
        assert_same(results[k], alone[k])


def test_callbacks_get_a_trainer_of_their_own(made):
    import keras

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.models_seen = {*getattr(self, "models_seen", ()), id(self.model)}

    callbacks = [Record(), Record()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for callback in callbacks:
            KerasLinearRegressor(random_state=0, epochs=5, callbacks=[callback]).fit(X, y)
        KerasLinearRegressor(random_state=0, epochs=5).fit(X, y)
    # Each fit with callbacks trained a network of its own, and kept no
    # trainer: the fit without callbacks made a third.
    assert len(callbacks[0].models_seen) == len(callbacks[1].models_seen) == 1
    assert callbacks[0].models_seen != callbacks[1].models_seen
    assert len(made) == 3


def test_a_diverged_fit_does_not_spoil_the_kept_trainer(made, monkeypatch):
    params = dict(standardize=False, optimizer="sgd", random_state=0)
    with pytest.raises(ValueError, match="diverged"):
        KerasLinearRegressor(learning_rate_init=1e6, **params).fit(X * 1e6, y * 1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        after = KerasLinearRegressor(learning_rate_init=1e-3, **params).fit(X, y)
        assert len(made) == 1
        own_trainers(monkeypatch)
        own = KerasLinearRegressor(learning_rate_init=1e-3, **params).fit(X, y)
    assert_same(after, own)


def test_fits_with_other_learning_rate_schedules_do_not_share_a_trainer(made, monkeypatch):
    import keras

    def fit(rate):
        schedule = keras.optimizers.schedules.ExponentialDecay(rate, decay_steps=1, decay_rate=0.5)
        reg = KerasLinearRegressor(random_state=0, optimizer="sgd", epochs=20)
        reg.set_params(optimizer__learning_rate=schedule)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return reg.fit(X, y)

    shared = [fit(0.5), fit(0.05)]
    own_trainers(monkeypatch)
    own = [fit(0.5), fit(0.05)]
    for a, b in zip(shared, own):
        assert_same(a, b)



def test_the_penalty_is_an_input_of_the_trace_not_part_of_it(made, monkeypatch):
    # Other alphas, and folds of other rows (so other whitenings and weight
    # totals): one trainer, traced once, serves them all.
    cases = [(1.0, slice(0, 250)), (10.0, slice(0, 250)), (1.0, slice(50, 300))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        shared = [KerasLinearRegressor(alpha=a, random_state=0).fit(X[rows], y[rows]) for a, rows in cases]
        mlp = [KerasLinearRegressor(hidden_layer_sizes=(8,), epochs=20, alpha=a, random_state=0).fit(X[rows], y[rows])
               for a, rows in cases]
    assert len(made) == 2 and all(trainer.traces == 1 for trainer in made)
    own_trainers(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        own = [KerasLinearRegressor(alpha=a, random_state=0).fit(X[rows], y[rows]) for a, rows in cases]
        own_mlp = [KerasLinearRegressor(hidden_layer_sizes=(8,), epochs=20, alpha=a, random_state=0).fit(X[rows], y[rows])
                   for a, rows in cases]
    for a, b in zip(shared + mlp, own + own_mlp):
        assert_same(a, b)
