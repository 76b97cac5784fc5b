"""scikit-learn's callback API (scikit-learn 1.9): fit is the root task, each epoch a subtask."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklearn_kerasreg import KerasLinearRegressor, train_on_chunks

callback_api = pytest.importorskip("sklearn.callback", reason="scikit-learn's callbacks arrived in 1.9")

X, y = load_diabetes(return_X_y=True)
MLP = {"hidden_layer_sizes": (8,), "epochs": 30, "random_state": 0}


class Recorder:
    """Records every hook; asks to stop after epoch ``stop_after`` (1-based) if given."""

    def __init__(self, stop_after=None, raise_at=None):
        self.stop_after, self.raise_at = stop_after, raise_at
        self.events, self.predictions = [], []

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None, fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id, type(estimator).__name__))
        if context.task_name == "epoch":
            self.predictions.append(fitted_estimator.predict(X[:5]))
            if self.raise_at == context.task_id + 1:
                raise RuntimeError("callback failed")
            return self.stop_after == context.task_id + 1
        return False

    def count(self, kind, task):
        return sum(1 for e in self.events if e[0] == kind and e[1] == task)


class Propagated(Recorder):
    """The same, passed on by meta-estimators to the estimators they fit."""

    max_propagation_depth = None


def _fit(reg, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return reg.fit(*args, **kwargs)


@pytest.mark.parametrize("params", [{}, MLP], ids=["linear", "mlp"])
def test_each_epoch_is_a_subtask_of_the_fit(params):
    recorder = Recorder()
    reg = _fit(KerasLinearRegressor(**params).set_callbacks(recorder), X, y)
    assert recorder.count("setup", "fit") == recorder.count("teardown", "fit") == 1
    assert recorder.count("begin", "fit") == recorder.count("end", "fit") == 1
    assert recorder.count("begin", "epoch") == recorder.count("end", "epoch") == reg.n_iter_
    epochs = [e[2] for e in recorder.events if e[:2] == ("end", "epoch")]
    assert epochs == list(range(reg.n_iter_))


def test_callbacks_do_not_change_the_fit():
    plain = _fit(KerasLinearRegressor(**MLP), X, y)
    watched = _fit(KerasLinearRegressor(**MLP).set_callbacks(Recorder()), X, y)
    np.testing.assert_allclose(watched.predict(X), plain.predict(X), rtol=1e-12)
    assert watched.n_iter_ == plain.n_iter_


def test_a_callback_stops_training_and_sees_a_predictor_of_each_epoch():
    recorder = Recorder(stop_after=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # stopped on request: no warning
        reg = KerasLinearRegressor(**MLP).set_callbacks(recorder).fit(X, y)
    assert reg.n_iter_ == 4 and len(reg.loss_curve_) == 4
    assert len(recorder.predictions) == 4
    # The predictor of the last epoch is the fitted estimator; earlier ones differ.
    np.testing.assert_allclose(recorder.predictions[-1], reg.predict(X[:5]), rtol=1e-12)
    assert not np.allclose(recorder.predictions[0], recorder.predictions[-1])


def test_a_failing_callback_leaves_the_estimator_as_it_was_and_is_torn_down():
    recorder = Recorder(raise_at=2)
    reg = _fit(KerasLinearRegressor(**MLP), X, y)
    before = reg.predict(X)
    reg.set_callbacks(recorder)
    with pytest.raises(RuntimeError, match="callback failed"):
        reg.fit(X, 2 * y)
    np.testing.assert_array_equal(reg.predict(X), before)
    assert recorder.count("teardown", "fit") == 1


def test_callbacks_set_on_a_search_reach_every_fit_and_its_epochs():
    recorder = Propagated()
    search = GridSearchCV(KerasLinearRegressor(**MLP), {"alpha": [0.0, 1.0]}, cv=2)
    _fit(search.set_callbacks(recorder), X, y)
    fits = sum(1 for e in recorder.events if e[:2] == ("end", "fit") and e[3] == "KerasLinearRegressor")
    assert fits == 5  # 2 candidates x 2 folds, and the refit, each a task of its own
    assert recorder.count("end", "epoch") >= fits
    assert recorder.count("end", "epoch") == recorder.count("begin", "epoch")


def test_progress_bar_in_a_grid_search(capsys):
    pytest.importorskip("rich")
    search = GridSearchCV(KerasLinearRegressor(**MLP), {"alpha": [0.0, 1.0]}, cv=2)
    _fit(search.set_callbacks(callback_api.ProgressBar(max_propagation_depth=None)), X, y)
    out = capsys.readouterr().out
    assert "GridSearchCV" in out and "KerasLinearRegressor - fit" in out


def test_each_partial_fit_chunk_is_a_task():
    recorder = Recorder()
    reg = KerasLinearRegressor(random_state=0).set_callbacks(recorder)
    chunks = [(X[i : i + 150], y[i : i + 150]) for i in range(0, len(y), 150)]
    train_on_chunks(reg, lambda: iter(chunks), n_passes=2)
    assert recorder.count("end", "partial_fit") == reg.n_iter_ == 2 * len(chunks)
