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
for those the key below names everything the trace depends on.
"""

import contextlib
import json
import numbers
import threading
from collections import OrderedDict

from .engine import Trainer

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


def program_key(recipe, trainer_params):
    """What a shared trainer's network and trace depend on, or None when a fit needs its own.

    ``recipe`` is a stateless fit's ``(builder, build_params)``
    (``_core.network.is_stateless``): the built-in network, whose build
    parameters name all the code the trace runs when its optimizer and loss
    are Keras's own. The seed and a learning rate that is a number are left out: every fit
    starts from its own weights and rate (``_core.engine.State``).
    ``trainer_params`` are the trainer's settings and the data's shapes and dtypes.
    """
    build_params = dict(recipe[1])
    optimizer, loss = build_params.pop("optimizer"), build_params.pop("loss")
    for name in ("model__seed", "callbacks"):
        build_params.pop(name, None)
    if isinstance(build_params.get("optimizer__learning_rate"), numbers.Real):
        # A start sets it; a schedule is traced into the graph, so it stays.
        del build_params["optimizer__learning_rate"]
    if not build_params.get("model__l2"):
        build_params.pop("model__l2_transform", None)
    import keras

    parts = []
    for obj in (optimizer, loss):
        if not (obj if isinstance(obj, type) else type(obj)).__module__.startswith("keras."):
            return None
        if isinstance(obj, type):
            parts.append(obj)
        elif isinstance(obj, keras.optimizers.Optimizer):
            parts.append(_config(obj, ("name",)))
        else:
            parts.append(_attributes(obj, ("name",)))
    values = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in build_params.items()}
    text = _text({"build": values, "trainer": trainer_params})
    if None in (*parts, text):
        return None
    return (*parts, text)


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


def train(plan, params, network, data, validation, *, seed, check, verify, epoch_hook=None, finish):
    """Train the fit's ``network`` on ``data`` as ``plan`` says, on a shared trainer where one fits.

    ``params`` are the estimator's ``get_params(deep=False)``; ``network`` is
    a ``_core.network.FitNetwork``. ``finish(net, result)`` runs on the trained network
    before the trainer is given up. Returns ``(result, what finish returned,
    what the fit keeps for a warm start)``: a stateless fit keeps its
    ``State``, any other its own ``(net, optimizer, callbacks)``.
    ``epoch_hook`` (the scikit-learn callbacks' Keras callback) only reads
    the weights of the network it is given, so unlike a user's callbacks it
    can run on a shared trainer.
    """
    settings = dict(
        batch_size=plan.batch_size, shuffle=params["shuffle"], tol=plan.tol,
        n_iter_no_change=params["n_iter_no_change"], adaptive=params["learning_rate"] == "adaptive",
        validated=validation is not None, certified=plan.certified,
    )
    n_samples = data[0].n_rows if plan.certified else data[0].shape[0]
    key = None
    if network.start is not None:
        if plan.certified:
            # Blocks come in any number; their shapes vary only in rows.
            shapes = [data[0].signature, data[0].rows]
        else:
            shapes = [None if a is None else (a.shape, a.dtype.str) for a in (*data, *(validation or ()))]
        key = program_key(network.recipe, {**settings, "data": shapes})

    def make_trainer():
        net, optimizer, loss_fn, _ = network.own()
        return Trainer(net, optimizer, loss_fn, n_samples, **settings)

    callbacks = [] if network.start is not None else network.own()[3]
    hooks = [*callbacks, epoch_hook] if epoch_hook is not None else callbacks
    with trainer_for(key, make_trainer) as trainer:
        result = trainer.train(
            *data, validation, epochs=params["epochs"], seed=seed, start=network.start,
            callbacks=hooks, verbose=params["verbose"], check=check, verify=verify,
        )
        finished = finish(trainer.net, result)
        kept = trainer.state() if network.start is not None else network.own()[:3]
    return result, finished, kept
