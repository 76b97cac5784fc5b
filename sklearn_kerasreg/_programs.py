"""Traced trainers kept between fits.

Tracing the training loop into a TensorFlow graph and instantiating it costs
about 0.2 s a fit, the same for 51 rows as for a million; on large data that
was a fifth of the fit. Yet a grid search, a cross-validation or a benchmark
fits the same network on data of the same shape again and again. A
:class:`~sklearn_kerasreg._engine.Trainer` takes its data as arguments and
can train any network and optimizer shaped like its own, so fits whose
traced code would be the same share one: the fit's own network and
optimizer are copied in before training and copied back after, and nothing
of one fit's data or weights stays with the trainer.

A trainer is checked out while it trains: a second thread that needs the same
one at the same time makes its own. Only fits of the built-in network with
Keras's own optimizers and losses are shared, because for those the key
below names everything the trace depends on.
"""

import contextlib
import json
import threading
from collections import OrderedDict

from ._engine import Trainer

#: Trainers kept, least recently used dropped first. A grid search with
#: cv=5 needs about two per candidate (folds differ by a row) plus the refit.
CACHE_SIZE = 4

_cache = OrderedDict()
_lock = threading.Lock()


def _text(value):
    """``value`` as JSON text, or None if some part of it is only named by its address."""
    text = json.dumps(value, sort_keys=True, default=repr)
    # A default repr names an object by an address that a later object may reuse.
    return None if " at 0x" in text else text


def _config(obj, drop=()):
    """A Keras object's class and configuration, as a hashable key part (None if unusable)."""
    text = _text({k: v for k, v in obj.get_config().items() if k not in drop})
    return None if text is None else (type(obj), text)


def _attributes(obj, drop=()):
    """An object's class and attributes, functions by identity, as a hashable key part (None if unusable).

    For losses: Keras 3.15's ``Huber.get_config`` leaves out ``delta`` and
    ``dtype``, which the trace bakes in; the attributes hold them.
    """
    parts = [type(obj)]
    for name, value in sorted(vars(obj).items()):
        if name in drop:
            continue
        if callable(value):
            # Held by the key, so its identity cannot pass to another function.
            try:
                hash(value)
            except TypeError:
                return None
            parts.append((name, value))
        else:
            text = _text(value)
            if text is None:
                return None
            parts.append((name, text))
    return tuple(parts)


def program_key(net, optimizer, loss_fn, trainer_params, callbacks):
    """What a trainer's trace depends on, or None when a fit must trace its own.

    ``net`` must be a Keras ``Sequential`` or functional model of Keras's
    own layers, trained with Keras's own optimizer and loss; the layers' and
    the optimizer's configurations and the loss's attributes name all the
    code the trace runs. Initializers and names are left out: weights are
    copied in. ``trainer_params`` are the
    trainer's settings and the data's shapes and dtypes. Callbacks see the
    trainer's own network, so a fit with callbacks gets a trainer of its own.
    """
    if callbacks:
        return None
    objects = [net, *net.layers, optimizer, loss_fn]
    if not all(type(o).__module__.startswith("keras.") for o in objects):
        return None
    layers = tuple(_config(layer, ("name", "kernel_initializer", "bias_initializer")) for layer in net.layers)
    # The learning rate is a variable, copied in from the fit's optimizer;
    # a schedule is traced into the graph, so it stays in the key.
    drop = ("name", "learning_rate") if hasattr(optimizer.learning_rate, "assign") else ("name",)
    optimizer_part = _config(optimizer, drop)
    loss = _attributes(loss_fn, ("name",))
    settings = _text(trainer_params)
    if None in (*layers, optimizer_part, loss, settings):
        return None
    return type(net), layers, optimizer_part, loss, settings


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


def train(plan, params, net, optimizer, loss_fn, callbacks, data, validation, *, seed, check, verify,
          epoch_hook=None):
    """Train ``net`` on ``data`` as ``plan`` says, on a shared trainer where one fits.

    ``params`` are the estimator's ``get_params(deep=False)``. ``epoch_hook``
    (the scikit-learn callbacks' Keras callback) only reads the weights of
    the network it is given, so unlike a user's callbacks it can run on a
    shared trainer, whose network holds this fit's weights while it trains.
    """
    settings = dict(
        batch_size=plan.batch_size, shuffle=params["shuffle"], tol=plan.tol,
        n_iter_no_change=params["n_iter_no_change"], adaptive=params["learning_rate"] == "adaptive",
        validated=validation is not None, certified=plan.certified,
    )
    n_samples = data[0].n_rows if plan.certified else data[0].shape[0]
    key = None
    if params["model"] is None:
        if plan.certified:
            # Blocks come in any number; their shapes vary only in rows.
            shapes = [data[0].signature, data[0].rows]
        else:
            shapes = [None if a is None else (a.shape, a.dtype.str) for a in (*data, *(validation or ()))]
        key = program_key(net, optimizer, loss_fn, {**settings, "data": shapes}, callbacks)

    def make_trainer():
        import keras

        own_net, own_optimizer = net, optimizer
        if key is not None:
            # Kept for later fits, so it must not share this fit's variables.
            own_net = keras.models.clone_model(net)
            own_optimizer = type(optimizer).from_config(optimizer.get_config())
        return Trainer(own_net, own_optimizer, loss_fn, n_samples, **settings)

    hooks = [*callbacks, epoch_hook] if epoch_hook is not None else callbacks
    with trainer_for(key, make_trainer) as trainer:
        return trainer.train(
            *data, validation, epochs=params["epochs"], seed=seed, net=net, optimizer=optimizer,
            callbacks=hooks, verbose=params["verbose"], check=check, verify=verify,
        )
