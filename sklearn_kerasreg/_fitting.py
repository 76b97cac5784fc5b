"""The steps of ``fit`` and ``partial_fit``, in the order they run.

``fit``: validate the data, plan the schedule (``_core.plan``), prepare the
data (whiten or standardize, ``_core.whitening``), build the network
(``_core.network``), train (``_core.programs``), diagnose
(``_core.diagnosis``) and export (fold into ``model_``); then commit the
fitted state in one go. ``partial_fit`` is one epoch over a chunk. A warm
``fit`` and every ``partial_fit`` start from the estimator's one
``TrainingState`` (``_core.continuation``), under the current parameters.
"""

import contextlib
import dataclasses
import functools

import numpy as np

from ._backends.runtime import data_threads
from ._callbacks import epoch_tasks
from ._core import models as _models
from ._core import network as _network
from ._core.continuation import Architecture, TrainingState
from ._core.data import draw_seeds, mean_one, split
from ._core.diagnosis import curve_scale, diagnose, diagnose_ridge, final_loss, loss_factors, measure
from ._core.network import export, fit_network, start_rate
from ._core.plan import make_plan
from ._core.programs import train, train_pass
from ._core.sparse import is_sparse, row_width
from ._core.whitening import certificate, network_inputs, prepare, training_data
from ._fixes import has_sklearn_callbacks
from ._validation import check_fit_data, check_hidden_layer_sizes, check_validation_data

#: What scikit-learn's callback machinery keeps on the estimator during a fit.
_CALLBACK_STATE = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


@contextlib.contextmanager
def unchanged_on_error(est):
    """An error or an interrupt inside leaves ``est`` as it was.

    Every attribute is replaced, never mutated, by a call, and no network
    outlives one, so the attributes as they were are the whole estimator.
    """
    before = est.__dict__.copy()
    try:
        yield
    except BaseException:
        # scikit-learn's with_callbacks tears the callbacks down after us.
        callback_state = {k: v for k, v in est.__dict__.items() if k in _CALLBACK_STATE}
        est.__dict__.clear()
        est.__dict__.update(before)
        est.__dict__.update(callback_state)
        raise


def fit(est, X, y, sample_weight, given_validation):
    """Train ``est`` on ``X, y`` (``given_validation`` is ``(X_val, y_val, sample_weight_val)``)."""
    previous = _training_state(est, "A warm start") if est.warm_start else None
    X, Y, sample_weight, y_1d = check_fit_data(
        est, X, y, sample_weight, reset=previous is None, min_samples=2,
        n_outputs=None if previous is None else previous.architecture.n_outputs,
    )
    Xv, Yv, wv = check_validation_data(est, *given_validation, Y.shape[1], sparse=is_sparse(X))
    hidden = check_hidden_layer_sizes(est.hidden_layer_sizes, est.model)
    params = est.get_params(deep=False)
    architecture = Architecture.of(params, hidden, Y.shape[1])
    if previous is not None:
        previous.architecture.check(architecture, "A warm start")
    # The fit is the root task, each epoch a subtask (scikit-learn callbacks).
    tasks = est._init_callback_context(max_subtasks=est.epochs)
    metadata = {"sample_weight": sample_weight}
    tasks.call_on_fit_task_begin(estimator=est, X=X, y=y, metadata=metadata)
    init_seed, shuffle_seed, split_seed = draw_seeds(est.random_state)
    if est.early_stopping and Xv is None:
        X, Xv, Y, Yv, sample_weight, wv = split(X, Y, sample_weight, est.validation_fraction, split_seed)

    width = max(row_width(X), 0 if Xv is None else row_width(Xv)) if is_sparse(X) else 0
    plan = make_plan(params, hidden, X.shape[0], X.shape[1], Y.shape[1], sparse_width=width)
    threads = data_threads()
    if previous is not None and not plan.certified:
        # The coordinates the weights were trained in. The certified single
        # neuron instead moves its weights into this data's (and alpha's),
        # where one Newton step lands on the current problem's optimum.
        whitening, moments = previous.whitening, None
        _check_sparse_start(plan, whitening, "A warm start")
    else:
        # The moments certify the fit too, when the design is well-conditioned (_core.diagnosis.measure).
        whitening, moments = _prepare(est, X, Y, sample_weight, plan, threads)
    held_out = (Xv, Yv, wv) if est.early_stopping else None
    data, sample, validation = training_data(whitening, plan, X, Y, sample_weight, held_out, threads)
    recipe = _network.recipe(params, est._routed_params(), hidden, init_seed, plan, Y.shape[1], X.shape[1])
    penalty = _network.penalty(params, hidden, whitening, float(sample_weight.sum()), Y.shape[1])
    start = None if previous is None else previous.start(start_rate(recipe), whitening)
    network = fit_network(recipe, init_seed, sample, start, y_1d)

    check = verify = None
    if plan.certified:
        check = functools.partial(certificate, whitening)
        verify = functools.partial(
            measure, X, Y, sample_weight, whitening, moments, est.fit_intercept, est.alpha, threads, plan.tol
        )

    def finish(net, result):
        gap = result.distance
        if plan.certified and np.isfinite(gap) and not result.verified:
            # Measured once more, as the exported model predicts.
            gap = max(gap, verify(net))
        return gap, export(net, whitening), _models.as_loss(net.loss)

    epoch_hook = _epoch_hook(est, tasks, X, y, metadata, whitening, y_1d, Y.shape[1])
    result, (gap, model, loss_fn), final = train(
        plan, params, network, data, validation, seed=shuffle_seed, penalty=penalty,
        check=check, verify=verify, y_scale=whitening.y_scale, epoch_hook=epoch_hook, finish=finish,
    )
    diagnose(
        plan, result, whitening, gap, name=type(est).__name__, epochs=est.epochs,
        learning_rate_init=est.learning_rate_init, lr0=result.learning_rate,
    )
    if plan.linear and not plan.whiten and is_sparse(X) and params["loss"] == "squared_error":
        diagnose_ridge(
            X, Y, sample_weight, whitening, final.weights[0], alpha=est.alpha,
            fit_intercept=est.fit_intercept, optimizer=plan.optimizer,
        )
    state = TrainingState(
        final, start_rate(recipe), whitening, architecture,
        full_batch=plan.batch_size >= X.shape[0], seed=shuffle_seed,
    )
    reported = _reported(
        loss_fn, model, (X, Y, sample_weight), whitening, penalty, final.weights,
        (result.loss, result.val_loss if est.early_stopping else None), full_batch=state.full_batch,
    )
    if est.verbose:
        print(f"loss at the final weights (loss_): {reported[0]:.6g}", flush=True)
    _commit(est, model, state, y_1d, reported, result.n_epochs, append=previous is not None)
    tasks.call_on_fit_task_end(estimator=est, X=X, y=y, metadata=metadata, reconstruction_attributes={})


def _training_state(est, call):
    """The ``TrainingState`` that ``call`` continues: None for an unfitted ``est``."""
    if not hasattr(est, "model_"):
        return None
    state = getattr(est, "_training_state", None)
    if state is None:
        raise ValueError(
            f"{call} continues training, but this estimator holds no training state: it was saved "
            "or pickled by an older sklearn_kerasreg with a network whose weights cannot be "
            "recovered. It still predicts; fit it with warm_start=False to train it again."
        )
    return state


def _check_sparse_start(plan, whitening, call):
    """Raise if a network reading sparse rows would continue weights trained on centred inputs."""
    if plan.sparse_width and np.any(whitening.x_mean != 0):
        raise ValueError(
            f"{call} continues a network trained on dense X, whose inputs it centred; sparse X cannot "
            "be centred without making it dense. Continue with dense X (X.toarray()), or fit with "
            "warm_start=False to train on sparse X from the start."
        )


def _prepare(est, X, Y, sample_weight, plan, threads=1, moments=None):
    return prepare(
        X, Y, sample_weight, plan, fit_intercept=est.fit_intercept, alpha=est.alpha,
        standardize=est.standardize, threads=threads, moments=moments,
    )


def _reported(loss_fn, model, data, whitening, penalty, weights, curves, *, full_batch):
    """What a call reports of its loss: ``(loss_, (loss curve, validation curve or None), scale)``.

    ``data`` is the training ``(X, Y, sample_weight)`` in the caller's units,
    ``curves`` the trainer's values in the training units. The curves come
    in the caller's units when one factor converts them (``scale``, else
    None: they stay in the training units); a full-batch fit's curve holds
    the loss after each step, so that it ends at ``loss_`` (the user guide's
    "Loss curves").
    """
    X, Y, sample_weight = data
    predictions = _models.predict(model, X, Y.shape[1])
    factors = loss_factors(loss_fn, whitening.y_scale)
    trained, in_callers = final_loss(
        loss_fn, factors, predictions, Y, sample_weight, whitening, penalty, weights
    )
    scale = curve_scale(factors)
    loss, val_loss = curves
    # A full-batch epoch measures its loss before its step: shifted by one, each value is the
    # loss after its epoch's step, and the last one the loss at the weights returned.
    loss = list(loss[1:]) + [trained] if full_batch and loss else list(loss)
    if scale is not None:
        loss = [v * scale for v in loss]
        val_loss = None if val_loss is None else [v * scale for v in val_loss]
    return (trained if in_callers is None else in_callers), (loss, val_loss), scale


def _commit(est, model, state, y_1d, reported, n_iter, *, append):
    """Set the fitted state of ``est``, all computed before: a failed call changes nothing.

    ``reported`` is the call's ``(loss_, curves, scale)`` (:func:`_reported`);
    ``append`` adds its curves to those of the calls before. Each curve value
    keeps the factor it was converted with (None: not converted), so that a
    curve joining calls of other scales reads back on the standardized problem.
    """
    final, (loss, val_loss), scale = reported
    scales = [scale] * len(loss)
    val_scales = None if val_loss is None else [scale] * len(val_loss)
    if append:
        loss, scales = est.loss_curve_ + loss, est._loss_curve_scales + scales
        if val_loss is not None:
            val_loss = (est.validation_loss_curve_ or []) + val_loss
            val_scales = (est._validation_loss_curve_scales or []) + val_scales
    est._training_state = state
    est._y_1d, est._n_outputs = y_1d, state.architecture.n_outputs
    est.model_ = model
    est.loss_curve_, est.validation_loss_curve_ = list(loss), val_loss
    est.loss_ = final
    est._loss_curve_scales, est._validation_loss_curve_scales = scales, val_scales
    est.history_ = {"loss": list(loss)}
    if val_loss is not None:
        est.history_["val_loss"] = list(val_loss)
    est.n_iter_ = n_iter


def _epoch_hook(est, tasks, X, y, metadata, whitening, y_1d, n_outputs):
    """The Keras callback that serves scikit-learn's callbacks, or None when none is set."""
    if not has_sklearn_callbacks(est):
        return None

    def fitted_attributes(net, n_epochs):
        # What makes a copy of this estimator predict as net does, after n_epochs epochs.
        return {"model_": export(net, whitening), "_y_1d": y_1d, "_n_outputs": n_outputs, "n_iter_": n_epochs}

    return epoch_tasks(est, tasks, X, y, metadata, fitted_attributes)


def partial_fit(est, X, y, sample_weight, moments=None):
    """One epoch of ``est`` over the chunk ``X, y``, continuing its ``TrainingState``.

    ``moments`` (``weighted_moments(..., cross=True)`` of all the chunks,
    from ``train_on_chunks``) whiten or standardize the first call instead
    of its chunk's.
    """
    previous = _training_state(est, "partial_fit")
    X, Y, sample_weight, y_1d = check_fit_data(
        est, X, y, sample_weight, reset=previous is None,
        n_outputs=None if previous is None else previous.architecture.n_outputs,
    )
    hidden = check_hidden_layer_sizes(est.hidden_layer_sizes, est.model)
    params = est.get_params(deep=False)
    architecture = Architecture.of(params, hidden, Y.shape[1])
    if previous is not None:
        previous.architecture.check(architecture, "partial_fit")
    # Each call, one epoch over a chunk, is a task of its own (scikit-learn callbacks).
    task = est._init_callback_context(task_name="partial_fit")
    metadata = {"sample_weight": sample_weight}
    task.call_on_fit_task_begin(estimator=est, X=X, y=y, metadata=metadata)
    plan = make_plan(
        params, hidden, X.shape[0], X.shape[1], Y.shape[1], stream=True,
        full_batch_state=previous is not None and previous.full_batch,
        sparse_width=row_width(X) if is_sparse(X) else 0,
    )
    init_seed, seed, _ = draw_seeds(est.random_state)
    if previous is None:
        whitening, _ = _prepare(est, X, Y, sample_weight, plan, moments=moments)
        # float64, whatever the chunk's size: later chunks may be larger.
        dtype, passes, full_batch = np.float64, 0, False
    else:
        whitening, seed, passes = previous.whitening, previous.seed, previous.passes
        dtype, full_batch = previous.network.weights[0].dtype, previous.full_batch
        _check_sparse_start(plan, whitening, "partial_fit")
    plan = dataclasses.replace(plan, dtype=dtype)
    recipe = _network.recipe(params, est._routed_params(), hidden, init_seed, plan, Y.shape[1], X.shape[1])
    penalty = _network.penalty(params, hidden, whitening, float(sample_weight.sum()), Y.shape[1])
    rate = start_rate(recipe)
    start = None if previous is None else previous.start(rate, carry_rate_of=_network.optimizer_name(recipe))
    sample = (network_inputs(whitening, plan, X[:2]), whitening.targets(Y[:2]))
    network = fit_network(recipe, init_seed, sample, start, y_1d)

    def data_for(net):
        # A user's model may take another dtype than the one it was built with.
        dtype = _models.input_dtype(net)
        Xs, Ys = network_inputs(whitening, plan, X, dtype), whitening.targets(Y).astype(dtype)
        return Xs, Ys, mean_one(sample_weight).astype(dtype)

    loss, (model, loss_fn), final = train_pass(
        plan, params, network, data_for, width=(sample[0].shape[1], Y.shape[1]), seed=seed, epoch=passes,
        penalty=penalty, finish=lambda net: (export(net, whitening), _models.as_loss(net.loss)),
    )
    state = TrainingState(final, rate, whitening, architecture, full_batch, seed, passes + 1)
    n_iter = getattr(est, "n_iter_", 0) + 1 if previous is not None else 1
    reported = _reported(
        loss_fn, model, (X, Y, sample_weight), whitening, penalty, final.weights, ([loss], None),
        full_batch=False,
    )
    _commit(est, model, state, y_1d, reported, n_iter, append=previous is not None)
    task.call_on_fit_task_end(estimator=est, X=X, y=y, metadata=metadata, reconstruction_attributes={})


def scale_learning_rate(est, factor):
    """Multiply the learning rate the next ``partial_fit`` of ``est`` continues at (``train_on_chunks``)."""
    state = est._training_state
    rate = state.network.learning_rate
    if rate is not None:
        network = dataclasses.replace(state.network, learning_rate=rate * factor)
        est._training_state = dataclasses.replace(state, network=network)
