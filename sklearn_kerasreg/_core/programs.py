"""Traced trainers kept between fits.

Tracing the training loop into a TensorFlow graph and instantiating it costs
about 0.2 s a fit, the same for 51 rows as for a million; on large data that
was a fifth of the fit. Yet a grid search, a cross-validation or a benchmark
fits the same network on data of the same shape again and again. A
:class:`~sklearn_kerasreg._core.engine.Trainer` takes its data as arguments and
starts each run from the weights and optimizer state it is given
(``_core.engine.State``), so fits whose network and traced code would be the
same share one, network and all: a later fit of the same shape builds no
network of its own (about 6 ms, a third of a 10k x 20 fit). Each fit
starts from its own initial weights and keeps its final ones as arrays;
nothing of one fit's data or weights stays with the trainer.

A trainer is checked out while it trains: a second thread that needs the same
one at the same time makes its own. Only fits of the built-in network with
Keras's own optimizers and losses and no callbacks are shared, because
for those the key below names everything the trace depends on. ``partial_fit``
passes share trainers the same way: a trainer keeps no state of a fit.
"""

import contextlib
import numbers
import threading
from collections import OrderedDict

import numpy as np

from .diagnosis import curve_scale, loss_factors
from .engine import Trainer

#: Trainers kept, least recently used dropped first. A grid search with
#: cv=5 needs about two per candidate (folds differ by a row) plus the refit.
CACHE_SIZE = 4

_cache = OrderedDict()
_lock = threading.Lock()


class _Unknown(Exception):
    """A value the key cannot describe completely: its fit gets a trainer of its own."""


def _part(value):
    """``value`` as a small hashable key part: plain values as they are, Keras
    classes by identity, Keras optimizers and schedules by class and configuration."""
    import keras

    if value is None or isinstance(value, (bool, str, numbers.Number, np.generic)):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(_part(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _part(v)) for k, v in value.items()))
    if isinstance(value, type) and value.__module__.startswith("keras."):
        return value
    if isinstance(value, (keras.optimizers.Optimizer, keras.optimizers.schedules.LearningRateSchedule)):
        if type(value).__module__.startswith("keras."):
            config = {k: v for k, v in value.get_config().items() if k != "name"}
            return type(value), _part(config)
    # A user's loss, function or object: what its trace does is not written down.
    raise _Unknown


def program_key(recipe, trainer_params):
    """What a shared trainer's network and trace depend on, as a small tuple; None when a fit needs its own.

    ``recipe`` is a shareable fit's ``(builder, build_params)``
    (``_core.network.shareable``): the built-in network, whose build
    parameters name all the code the trace runs when its optimizer and loss
    are Keras's own. Left out: the seed and a learning rate that is a number
    (every run starts from its own weights and rate, ``_core.engine.State``)
    and the optimizer's name. ``trainer_params`` are the trainer's settings,
    the data's trailing shapes and dtypes, and the penalty's shape: the
    data, the weights and the penalty's values are inputs of the traced
    code, never part of the key.
    """
    import keras

    dropped = {"model__seed", "callbacks", "optimizer__name"}
    if isinstance(recipe[1].get("optimizer__learning_rate"), numbers.Real):
        dropped.add("optimizer__learning_rate")
    try:
        build = _part({k: v for k, v in recipe[1].items() if k not in dropped})
        return keras.backend.backend(), build, _part(trainer_params)
    except _Unknown:
        return None


@contextlib.contextmanager
def trainer_for(key, make):
    """A trainer for ``key``: a kept one if free, else ``make()``; kept again after a clean run.

    With ``key=None`` the trainer is made for this fit alone. A run that
    raises drops its trainer too.
    """
    trainer = None
    if key is not None:
        with _lock:
            trainer = _cache.pop(key, None)
    if trainer is None:
        trainer = make()
    try:
        yield trainer
    finally:
        trainer.release()
    if key is not None:
        with _lock:
            # A twin made by another thread meanwhile gives way to this one.
            _cache.pop(key, None)
            _cache[key] = trainer
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)


def clear():
    """Drop every kept trainer."""
    with _lock:
        _cache.clear()


def train(
    plan, params, network, data, validation, *, seed, penalty, check, verify, y_scale, epoch_hook=None, finish
):
    """Train the call's ``network`` on ``data`` as ``plan`` says, on a shared trainer where one fits.

    ``params`` are the estimator's ``get_params()``; ``network`` is a
    ``_core.network.FitNetwork``. ``finish(net, result)`` runs on the trained network
    before the trainer is given up. Returns ``(result, what finish returned,
    the final State)``. ``epoch_hook`` (the scikit-learn callbacks' Keras
    callback) only reads the weights of the network it is given, so unlike a
    user's callbacks it can run on a shared trainer. ``penalty`` is the
    run's ``_core.engine.Penalty``, or None; ``y_scale`` the targets' scales,
    which convert the losses ``verbose`` shows into the caller's units.
    """
    settings = dict(
        batch_size=plan.batch_size, shuffle=params["shuffle"], tol=plan.tol,
        n_iter_no_change=params["n_iter_no_change"], adaptive=params["learning_rate"] == "adaptive",
        max_drops=plan.max_drops, validated=validation is not None, certified=plan.certified,
    )
    shape = None if penalty is None else penalty.shape
    n_samples = data[0].n_rows if plan.certified else data[0].shape[0]
    key = None
    if network.shared:
        if plan.certified:
            # Blocks come in any number; their shapes vary only in rows.
            shapes = [data[0].signature, data[0].rows]
        else:
            shapes = [None if a is None else (a.shape, a.dtype.str) for a in (*data, *(validation or ()))]
        key = program_key(network.recipe, {**settings, "data": shapes, "penalty": shape})

    def make_trainer():
        net, optimizer, loss_fn, _ = network.own()
        return Trainer(net, optimizer, loss_fn, n_samples, **settings, penalty=penalty)

    callbacks = [] if network.shared else network.own()[3]
    hooks = [*callbacks, epoch_hook] if epoch_hook is not None else callbacks
    with trainer_for(key, make_trainer) as trainer:
        result = trainer.train(
            *data, validation, epochs=params["epochs"], seed=seed, start=network.start, penalty=penalty,
            callbacks=hooks, verbose=params["verbose"], check=check, verify=verify,
            loss_scale=curve_scale(loss_factors(trainer.loss_fn, y_scale)),
        )
        finished = finish(trainer.net, result)
        state = trainer.state()
    return result, finished, state


def train_pass(plan, params, network, data_for, *, width, seed, epoch, penalty, finish):
    """One ``partial_fit`` pass of ``network`` over a chunk, on a shared trainer where one fits.

    ``data_for(net)`` gives the chunk's ``(X, y, sample_weight)`` as ``net``
    takes them, ``width`` their number of ``(inputs, targets)``; ``epoch``
    numbers the pass for its shuffle. Returns ``(loss,
    what finish(net) returned, the final State)``.
    """
    settings = dict(batch_size=plan.batch_size, shuffle=params["shuffle"], tol=0.0, n_iter_no_change=1, adaptive=False)

    def make_trainer():
        net, optimizer, loss_fn, _ = network.own()
        return Trainer(net, optimizer, loss_fn, None, **settings, penalty=penalty)

    key = None
    if network.shared:
        shape = None if penalty is None else penalty.shape
        key = program_key(network.recipe, {**settings, "pass": [*width, np.dtype(plan.dtype).str], "penalty": shape})
    with trainer_for(key, make_trainer) as trainer:
        data = data_for(trainer.net)
        loss = trainer.train_pass(*data, start=network.start, seed=seed, epoch=epoch, penalty=penalty)
        if not np.isfinite(loss):
            # Before the trainer is kept: nothing of the failed pass is.
            raise ValueError(
                "Training diverged: the loss became NaN or infinite in partial_fit. The learning "
                "rate is probably too large, or the data has large values and standardize=False."
            )
        return loss, finish(trainer.net), trainer.state()
