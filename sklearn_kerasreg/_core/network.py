"""The network of one fit: built and compiled through scikeras, resumed, and exported.

Training happens in the network's own coordinates (whitened or
standardized inputs and targets, ``_core.whitening``); :func:`export` folds them
into the weights of a plain float64 Keras model that predicts in the
caller's units, and :func:`resume` unfolds such a model's weights into a
new network, to continue training an estimator that was unpickled.
"""

import dataclasses
import numbers

import numpy as np

from .._fixes import global_seed_scope, scikeras_build
from . import models as _models
from .engine import State, load_state


def recipe(params, routed, hidden, seed, plan, whitening, total_weight, n_outputs):
    """``(builder, build_params)``: the model builder and what scikeras builds and compiles it with.

    ``params`` are the estimator's ``get_params(deep=False)``, ``routed``
    the scikeras-routed ones among them (``optimizer__learning_rate``, ...).
    """
    return _scikeras_params(params, routed, hidden, seed, plan, whitening, total_weight, n_outputs)


def build(recipe, seed, Xs, Ys):
    """A new compiled training network and its Keras callbacks, from a :func:`recipe`.

    ``Xs, Ys`` are inputs and targets in the network's coordinates.
    """
    import keras

    builder, build_params = recipe
    optimizer = build_params["optimizer"]
    if isinstance(optimizer, keras.optimizers.Optimizer):
        # A fresh copy for each network: fitting never changes the instance
        # passed, and a recipe may build more than one network.
        build_params = {**build_params, "optimizer": type(optimizer).from_config(optimizer.get_config())}
    if builder is not _models.dense_network:
        # A user's layers may draw from global seeds; scope them.
        with global_seed_scope(seed):
            net, callbacks = scikeras_build(builder, build_params, Xs, Ys)
    else:
        # The built-in builder reads only the width of the data; scikeras
        # would check every row to tell it (50 ms at 1M x 20).
        net, callbacks = scikeras_build(builder, build_params, Xs[:2], Ys[:2])
    _models.check_shapes(net, Xs.shape[1], Ys.shape[1])
    return net, callbacks


class FitNetwork:
    """The network one fit trains, and where it starts.

    ``start`` is the ``_core.engine.State`` a stateless fit (:func:`is_stateless`)
    starts from: any network of its recipe can train it, so a shared
    trainer's may (``_core.programs``). Otherwise it is None and the fit trains
    its own network as it is. ``own()`` makes the fit's own
    ``(net, optimizer, loss_fn, callbacks)`` on first call, with ``make``.
    """

    def __init__(self, recipe, make, start=None):
        self.recipe, self.start = recipe, start
        self._make, self._own = make, None

    def own(self):
        if self._own is None:
            self._own = self._make()
        return self._own


@dataclasses.dataclass(frozen=True)
class Previous:
    """What a warm start continues: the last fit's kept network, recipe, first learning rate and ``model_``.

    ``kept`` is a ``State`` after a stateless fit, the fit's own
    ``(net, optimizer, callbacks)`` otherwise, and None after unpickling,
    which keeps only ``model_``.
    """

    kept: object
    recipe: tuple
    lr0: float
    model: object

    def recipe_for(self, recipe):
        """The recipe a warm fit builds with: a kept ``State`` needs a network like the one that left it."""
        return self.recipe if isinstance(self.kept, State) else recipe


def fit_network(recipe, seed, sample, whitening, previous=None):
    """The ``FitNetwork`` a fit trains: for the built-in network, where it starts from.

    ``sample`` is ``(Xs, Ys)``, rows of inputs and targets in the network's
    coordinates; ``previous`` is what a warm start continues.
    """
    if previous is not None:
        recipe = previous.recipe_for(recipe)
    if isinstance(getattr(previous, "kept", None), tuple) or not is_stateless(recipe):
        # A network of its own: a user's, one with callbacks, or
        # partial_fit's, which a warm fit continues with its optimizer.
        own = training_network(recipe, seed, sample, whitening, previous)
        return FitNetwork(recipe, lambda: own[:4])

    def make():
        net, callbacks = build(recipe, seed, *sample)
        return net, net.optimizer, _models.as_loss(net.loss), callbacks

    if previous is None:
        start = initial_state(recipe, sample[0].shape[1])
    elif previous.kept is not None:
        start = dataclasses.replace(previous.kept, learning_rate=previous.lr0)
    else:
        start = resumed_state(previous.model, whitening, recipe[1].get("optimizer__learning_rate"))
    return FitNetwork(recipe, make, start)


def training_network(recipe, seed, sample, whitening, previous=None, keep_learning_rate=False):
    """A network of the fit's own: ``(net, optimizer, loss_fn, callbacks, lr0)``.

    A warm start (``previous``) continues with the previous fit's network,
    or with a new one that takes its kept ``State`` or ``model_``'s weights
    (after unpickling). The optimizer restarts from the first learning rate
    unless ``keep_learning_rate`` (``partial_fit`` carries the current one on).
    """
    kept = getattr(previous, "kept", None)
    if isinstance(kept, tuple):
        net, optimizer, callbacks = kept
        if not keep_learning_rate:
            optimizer.learning_rate.assign(previous.lr0)
        return net, optimizer, _models.as_loss(net.loss), callbacks, previous.lr0
    if previous is not None:
        recipe = previous.recipe_for(recipe)
    net, callbacks = build(recipe, seed, *sample)
    optimizer = net.optimizer
    lr0 = float(optimizer.learning_rate.numpy())
    if isinstance(kept, State):
        lr0 = previous.lr0
        if not keep_learning_rate:
            kept = dataclasses.replace(kept, learning_rate=lr0)
        load_state(net, optimizer, kept)
    elif previous is not None:
        resume(net, previous.model, whitening)
    return net, optimizer, _models.as_loss(net.loss), callbacks, lr0


def is_stateless(recipe):
    """Whether a fit's result is all in its weights and optimizer state (an ``_core.engine.State``).

    So it is for the built-in network without callbacks: any network of the
    same recipe can then train it, starting from that state (``_core.programs``).
    """
    builder, build_params = recipe
    return builder is _models.dense_network and not build_params.get("callbacks") and not any(
        name.startswith("callbacks__") for name in build_params
    )


def initial_state(recipe, n_features):
    """The ``_core.engine.State`` a new network of the built-in ``recipe`` starts from."""
    build_params = recipe[1]
    kwargs = {k.removeprefix("model__"): v for k, v in build_params.items() if k.startswith("model__")}
    learning_rate = build_params.get("optimizer__learning_rate")
    return State(_models.initial_weights(n_features, **kwargs), None, _numeric(learning_rate))


def _numeric(learning_rate):
    """A learning rate a ``State`` sets: a number; a schedule is the optimizer's own, as built."""
    return learning_rate if isinstance(learning_rate, numbers.Real) else None


def resumed_state(model, whitening, learning_rate=None):
    """The ``_core.engine.State`` with which the exported ``model`` predicts, with a new optimizer
    (an unpickled warm start: the weights survive pickling, the optimizer state does not)."""
    kernels, biases = _unfolded(model, whitening)
    weights = []
    for layer, kernel, bias in zip(_models.dense_layers(model), kernels, biases):
        weights += [kernel, bias] if layer.use_bias else [kernel]
    return State(weights, None, _numeric(learning_rate))


def resume(net, model, whitening):
    """Give ``net`` the weights with which the exported ``model`` predicts (an unpickled warm start:
    the weights survive pickling, the optimizer state does not)."""
    layers = _models.dense_layers(net)
    if layers is None:
        raise ValueError("warm_start after unpickling needs a network made of Dense layers.")
    for layer, kernel, bias in zip(layers, *_unfolded(model, whitening)):
        layer.set_weights([kernel, bias] if layer.use_bias else [kernel])


def _unfolded(model, whitening):
    """The exported ``model``'s kernels and biases in the training network's coordinates."""
    layers = _models.dense_layers(model)
    if layers is None:
        raise ValueError("warm_start after unpickling needs a network made of Dense layers.")
    kernels, biases = _models.stack_weights(layers)
    return _models.unfold_scaling(kernels, biases, *whitening.scaling, inverse=whitening.inverse)


def folded_weights(net, whitening):
    """Kernels and biases of a Dense-stack ``net`` in the caller's units."""
    return _models.fold_scaling(
        *_models.stack_weights(_models.dense_layers(net)), *whitening.scaling, transform=whitening.transform
    )


def export(net, whitening):
    """The network in the caller's units: whitening and scaling folded into the weights."""
    layers = _models.dense_layers(net)
    if layers is None:
        return _models.scaled_model(net, *whitening.scaling)
    kernels, biases = folded_weights(net, whitening)
    model = _models.folded_model(layers, kernels, biases)
    # Keras exports (model_.export(path, format="onnx")) only a model
    # that has been called once.
    model(np.zeros((1, kernels[0].shape[0])), training=False)
    return model


def _scikeras_params(params, routed, hidden, seed, plan, whitening, total_weight, n_outputs):
    """The model builder and the parameters scikeras builds and compiles it with."""
    import keras

    build_params = {"callbacks": params["callbacks"], **routed}
    optimizer = plan.optimizer
    if isinstance(optimizer, str):
        # An unknown name goes to scikeras, which says what is wrong with it.
        optimizer = _models.optimizer_class(optimizer) or optimizer
    build_params["optimizer"] = optimizer
    loss = params["loss"]
    build_params["loss"] = _models.keras_loss(loss)
    if isinstance(loss, str):
        # The loss (and so tol) is evaluated in float64, even though the
        # network computes in float32.
        build_params.setdefault("loss__dtype", "float64")
    if isinstance(optimizer, (str, type)):
        # Keras names every new optimizer uniquely (adam, adam_1, ...), and
        # TensorFlow keeps one eager kernel per distinct variable name for
        # the life of the process: about 0.3 MB a fit, never freed. One
        # fixed name keeps that cache at one entry.
        build_params.setdefault("optimizer__name", "optimizer")
    if plan.learning_rate is not None:
        build_params["optimizer__learning_rate"] = plan.learning_rate
    model = params["model"]
    if model is None:
        # Ridge's alpha per unit of weight, as Ridge weighs it: repeated
        # rows and integer weights give the same penalty. The single
        # neuron's mean squared error averages over targets too, so its
        # penalty does; each target then gets Ridge(alpha).
        l2 = params["alpha"] / total_weight / (1 if hidden else n_outputs)
        build_params.update(
            model__hidden_layer_sizes=hidden,
            model__activation=params["activation"],
            model__n_outputs=n_outputs,
            model__l2=l2,
            model__seed=int(seed),
            model__dtype=np.dtype(plan.dtype).name,
            model__fit_intercept=params["fit_intercept"],
            model__l2_transform=whitening.transform,
        )
        return _models.dense_network, build_params
    if isinstance(model, keras.Model):
        template = model

        def copy_of_template():
            return keras.models.clone_model(template)

        return copy_of_template, build_params
    return model, build_params
