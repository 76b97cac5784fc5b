"""The steps of ``fit`` and ``partial_fit``, in the order they run.

``fit``: validate the data, plan the schedule (``_core.plan``), prepare the
data (whiten or standardize, ``_core.whitening``), build the network
(``_core.network``), train (``_core.programs``), diagnose
(``_core.diagnosis``) and export (fold into ``model_``); then commit the
fitted state in one go. ``partial_fit`` is one epoch over a chunk, on a
network and trainer kept between calls.
"""

import contextlib
import dataclasses
import functools

import numpy as np

from ._backends.runtime import data_threads
from ._callbacks import epoch_tasks
from ._core import models as _models
from ._core import network as _network
from ._core.data import draw_seeds, mean_one, split
from ._core.diagnosis import diagnose, measure
from ._core.engine import State, Trainer
from ._core.network import export
from ._core.plan import make_plan
from ._core.programs import train
from ._core.whitening import certificate, prepare, training_data
from ._fixes import has_sklearn_callbacks
from ._validation import check_fit_data, check_hidden_layer_sizes, check_validation_data

#: What scikit-learn's callback machinery keeps on the estimator during a fit.
_CALLBACK_STATE = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


@contextlib.contextmanager
def unchanged_on_error(est, continues_training):
    """An error or an interrupt inside leaves ``est`` as it was."""
    before = est.__dict__.copy()
    try:
        yield
    except BaseException:
        # scikit-learn's with_callbacks tears the callbacks down after us.
        callback_state = {k: v for k, v in est.__dict__.items() if k in _CALLBACK_STATE}
        est.__dict__.clear()
        est.__dict__.update(before)
        est.__dict__.update(callback_state)
        if continues_training:
            # The training network may have taken steps before the error;
            # the next call rebuilds it from model_, which did not change.
            est.__dict__.pop("_net", None)
            est.__dict__.pop("_stream", None)
        raise


def fit(est, X, y, sample_weight, given_validation):
    """Train ``est`` on ``X, y`` (``given_validation`` is ``(X_val, y_val, sample_weight_val)``)."""
    warm = est.warm_start and hasattr(est, "model_")
    X, Y, sample_weight, y_1d = check_fit_data(
        est, X, y, sample_weight, reset=not warm, n_outputs=est._n_outputs if warm else None, min_samples=2
    )
    Xv, Yv, wv = check_validation_data(est, *given_validation, Y.shape[1])
    hidden = check_hidden_layer_sizes(est.hidden_layer_sizes, est.model)
    # The fit is the root task, each epoch a subtask (scikit-learn callbacks).
    tasks = est._init_callback_context(max_subtasks=est.epochs)
    metadata = {"sample_weight": sample_weight}
    tasks.call_on_fit_task_begin(estimator=est, X=X, y=y, metadata=metadata)
    init_seed, shuffle_seed, split_seed = draw_seeds(est.random_state)
    if est.early_stopping and Xv is None:
        X, Xv, Y, Yv, sample_weight, wv = split(X, Y, sample_weight, est.validation_fraction, split_seed)

    params = est.get_params(deep=False)
    plan = make_plan(params, hidden, X.shape[0], X.shape[1], Y.shape[1])
    threads = data_threads()
    # The moments certify the fit too, when the design is well-conditioned (_core.diagnosis.measure).
    if warm:
        whitening, moments = est._whitening, None
    else:
        whitening, moments = _prepare(est, X, Y, sample_weight, plan, threads)
    held_out = (Xv, Yv, wv) if est.early_stopping else None
    data, sample, validation = training_data(whitening, plan, X, Y, sample_weight, held_out, threads)
    total_weight = float(sample_weight.sum())
    routed = est._routed_params()
    recipe = _network.recipe(params, routed, hidden, init_seed, plan, whitening, total_weight, Y.shape[1])
    network = _network.fit_network(recipe, init_seed, sample, whitening, previous(est) if warm else None)

    check = verify = None
    if plan.certified:
        check = functools.partial(certificate, whitening)
        verify = functools.partial(
            measure, X, Y, sample_weight, whitening, moments, est.fit_intercept, est.alpha, threads
        )

    def finish(net, result):
        gap = result.certified
        if plan.certified and np.isfinite(gap) and not result.verified:
            # Measured once more, as the exported model predicts.
            gap = max(gap, verify(net))
        return gap, export(net, whitening)

    epoch_hook = _epoch_hook(est, tasks, X, y, metadata, whitening, y_1d, Y.shape[1])
    result, (gap, model), kept = train(
        plan, params, network, data, validation, seed=shuffle_seed,
        check=check, verify=verify, epoch_hook=epoch_hook, finish=finish,
    )
    diagnose(
        plan, result, whitening, gap, name=type(est).__name__, epochs=est.epochs,
        learning_rate_init=est.learning_rate_init, lr0=result.learning_rate,
    )
    _commit(est, warm, result, model, kept, network.recipe, whitening, y_1d, Y.shape[1])
    # partial_fit after a full-batch fit continues with full-batch steps.
    est._full_batch = plan.batch_size >= X.shape[0]
    tasks.call_on_fit_task_end(estimator=est, X=X, y=y, metadata=metadata, reconstruction_attributes={})


def previous(est):
    """What a warm start of ``est`` continues (``_core.network.Previous``)."""
    kept, recipe = getattr(est, "_net", None), getattr(est, "_recipe", None)
    return _network.Previous(kept, recipe, getattr(est, "_lr0", None), est.model_)


def _prepare(est, X, Y, sample_weight, plan, threads=1, moments=None):
    return prepare(
        X, Y, sample_weight, plan, fit_intercept=est.fit_intercept, alpha=est.alpha,
        standardize=est.standardize, threads=threads, moments=moments,
    )


def _commit(est, warm, result, model, kept, recipe, whitening, y_1d, n_outputs):
    """Set the fitted state of ``est``, all computed before: a failed fit changes nothing."""
    loss_curve = (est.loss_curve_ if warm else []) + result.loss
    val_curve = None
    if est.early_stopping:
        val_curve = ((est.validation_loss_curve_ or []) if warm else []) + result.val_loss
    # A stateless fit keeps a State, and the recipe of a network that can take it.
    est._net, est._recipe, est._lr0 = kept, recipe, result.learning_rate
    est._stream = None
    est._whitening, est._y_1d, est._n_outputs = whitening, y_1d, n_outputs
    est.model_ = model
    est.loss_curve_, est.validation_loss_curve_ = loss_curve, val_curve
    est.history_ = {"loss": list(loss_curve)}
    if val_curve is not None:
        est.history_["val_loss"] = list(val_curve)
    est.n_iter_ = result.n_epochs


def _epoch_hook(est, tasks, X, y, metadata, whitening, y_1d, n_outputs):
    """The Keras callback that serves scikit-learn's callbacks, or None when none is set."""
    if not has_sklearn_callbacks(est):
        return None

    def fitted_attributes(net, n_epochs):
        # What makes a copy of this estimator predict as net does, after n_epochs epochs.
        return {
            "model_": export(net, whitening), "_whitening": whitening, "_y_1d": y_1d,
            "_n_outputs": n_outputs, "n_iter_": n_epochs,
        }

    return epoch_tasks(est, tasks, X, y, metadata, fitted_attributes)


def partial_fit(est, X, y, sample_weight):
    """One epoch of ``est`` over the chunk ``X, y``, on the network and trainer kept between calls."""
    first = not hasattr(est, "model_")
    X, Y, sample_weight, y_1d = check_fit_data(
        est, X, y, sample_weight, reset=first, n_outputs=None if first else est._n_outputs
    )
    hidden = check_hidden_layer_sizes(est.hidden_layer_sizes, est.model)
    # Each call, one epoch over a chunk, is a task of its own (scikit-learn callbacks).
    task = est._init_callback_context(task_name="partial_fit")
    metadata = {"sample_weight": sample_weight}
    task.call_on_fit_task_begin(estimator=est, X=X, y=y, metadata=metadata)
    plan = make_plan(est.get_params(), hidden, X.shape[0], X.shape[1], Y.shape[1], stream=True)
    if first:
        est._y_1d, est._n_outputs = y_1d, Y.shape[1]
        moments = est.__dict__.pop("_pending_moments", None)
        est._whitening, _ = _prepare(est, X, Y, sample_weight, plan, moments=moments)
    trainer = _stream_trainer(est, first, X, Y, sample_weight, hidden, plan)
    # A user's model may take another dtype than the one it was built with.
    dtype = _models.input_dtype(trainer.net)
    Xs, Ys = est._whitening.inputs(X, dtype), est._whitening.targets(Y).astype(dtype)
    loss = trainer.train_pass(Xs, Ys, mean_one(sample_weight).astype(dtype))
    if not np.isfinite(loss):
        raise ValueError(
            "Training diverged: the loss became NaN or infinite in partial_fit. The learning "
            "rate is probably too large, or the data has large values and standardize=False."
        )
    est.model_ = export(trainer.net, est._whitening)
    est.loss_curve_ = [*getattr(est, "loss_curve_", []), loss]
    est.validation_loss_curve_ = None
    est.history_ = {"loss": list(est.loss_curve_)}
    est.n_iter_ = getattr(est, "n_iter_", 0) + 1
    task.call_on_fit_task_end(estimator=est, X=X, y=y, metadata=metadata, reconstruction_attributes={})


def _stream_trainer(est, first, X, Y, sample_weight, hidden, plan):
    """The trainer ``partial_fit`` continues: the kept one, or one made for the network a fit left."""
    trainer, kept = getattr(est, "_stream", None), getattr(est, "_net", None)
    if trainer is not None and isinstance(kept, tuple) and trainer.net is kept[0]:
        return trainer
    init_seed, shuffle_seed, _ = draw_seeds(est.random_state)
    # The network keeps the dtype it was built with; a new one is float64.
    if isinstance(kept, State):
        dtype = kept.weights[0].dtype
    else:
        dtype = _models.input_dtype(kept[0]) if kept is not None else np.float64
    plan = dataclasses.replace(plan, dtype=dtype)
    if not first and getattr(est, "_full_batch", False) and est.batch_size == "auto":
        # The fit's optimizer takes Newton-sized steps, which on a
        # mini-batch jump to that batch's optimum: one step per chunk.
        plan = dataclasses.replace(plan, batch_size=2**30)
    whitening = est._whitening
    sample = (whitening.inputs(X[:2], dtype), whitening.targets(Y[:2]))
    recipe = _network.recipe(
        est.get_params(deep=False), est._routed_params(), hidden, init_seed, plan, whitening,
        float(sample_weight.sum()), Y.shape[1],
    )
    net, optimizer, loss_fn, callbacks, lr0 = _network.training_network(
        recipe, init_seed, sample, whitening, None if first else previous(est), keep_learning_rate=True
    )
    trainer = Trainer(
        net, optimizer, loss_fn, batch_size=plan.batch_size, shuffle=est.shuffle, seed=shuffle_seed,
        tol=0.0, n_iter_no_change=1, adaptive=False,
    )
    est._net, est._lr0, est._stream, est._full_batch = (net, optimizer, callbacks), lr0, trainer, False
    return trainer


def stream_moments(est, moments):
    """Give the first ``partial_fit`` of ``est`` the moments of all the chunks
    (``weighted_moments(..., cross=True)``) to whiten or standardize with, instead of its chunk's."""
    est._pending_moments = moments


def scale_learning_rate(est, factor):
    """Multiply the current learning rate of the optimizer ``partial_fit`` continues (``train_on_chunks``)."""
    kept = getattr(est, "_net", None)
    if isinstance(kept, tuple) and hasattr(kept[1].learning_rate, "assign"):
        lr = kept[1].learning_rate
        lr.assign(lr * factor)
