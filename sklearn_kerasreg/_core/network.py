"""The network of one call: built and compiled through scikeras, started, and exported.

Training happens in the network's own coordinates (whitened or
standardized inputs and targets, ``_core.whitening``); :func:`export` folds them
into the weights of a plain float64 Keras model that predicts in the
caller's units. No network outlives its call: what continues is a
``State`` of arrays (``_core.continuation``), loaded into the next call's.
"""

import numbers

import numpy as np

from .._fixes import global_seed_scope, scikeras_build
from . import models as _models
from .engine import Penalty, State


def penalty(params, hidden, whitening, total_weight, n_outputs):
    """The built-in network's L2 penalty for ``alpha`` (a ``_core.engine.Penalty``), or None.

    Ridge's alpha per unit of weight, as Ridge weighs it: repeated rows and
    integer weights give the same penalty. The single neuron's mean squared
    error averages over targets too, so its penalty does; each target then
    gets Ridge(alpha). On whitened inputs it acts on ``transform @ kernel``,
    the coefficients of the standardized inputs.
    """
    if params["model"] is not None or params["alpha"] == 0:
        return None
    l2 = params["alpha"] / total_weight / (1 if hidden else n_outputs)
    return Penalty(l2, None if hidden else whitening.transform)


def build(recipe, seed, Xs, Ys, y_1d=False):
    """A new compiled training network and its Keras callbacks, from a :func:`recipe`.

    ``Xs, Ys`` are inputs and targets in the network's coordinates; a
    builder's ``meta`` says ``y_ndim_ == 1`` when the caller's ``y`` was 1-D.
    """
    import keras

    builder, build_params = recipe
    optimizer = build_params["optimizer"]
    if isinstance(optimizer, keras.optimizers.Optimizer):
        # A fresh copy for each network: fitting never changes the instance
        # passed, and a recipe may build more than one network.
        build_params = {**build_params, "optimizer": type(optimizer).from_config(optimizer.get_config())}
    Ys = Ys[:, 0] if y_1d else Ys
    if builder is not _models.dense_network:
        # A user's layers may draw from global seeds; scope them.
        with global_seed_scope(seed):
            net, callbacks = scikeras_build(builder, build_params, Xs, Ys)
    else:
        # The built-in builder reads only the width of the data; scikeras
        # would check every row to tell it (50 ms at 1M x 20).
        net, callbacks = scikeras_build(builder, build_params, Xs[:2], Ys[:2])
    _models.check_shapes(net, Xs.shape[1], 1 if y_1d else Ys.shape[1])
    return net, callbacks


class FitNetwork:
    """The network one call trains, and the :class:`~sklearn_kerasreg._core.engine.State` it starts from.

    ``start`` None trains the network as built. A ``shared`` network (the
    built-in one without callbacks, :func:`shareable`) may be any network of
    its recipe, so a kept trainer's serves (``_core.programs``); otherwise
    ``own()`` makes the call's own ``(net, optimizer, loss_fn, callbacks)``
    on first use.
    """

    def __init__(self, recipe, make, start=None):
        self.recipe, self.start = recipe, start
        self.shared = shareable(recipe)
        self._make, self._own = make, None

    def own(self):
        if self._own is None:
            self._own = self._make()
        return self._own


def fit_network(recipe, seed, sample, start=None, y_1d=False):
    """The :class:`FitNetwork` of ``recipe``, started from ``start``.

    ``sample`` is ``(Xs, Ys)``, rows of inputs and targets in the network's
    coordinates. Without a ``start``, the built-in network starts from
    :func:`initial_state`, which any network of its recipe can load.
    """

    def make():
        net, callbacks = build(recipe, seed, *sample, y_1d=y_1d)
        return net, net.optimizer, _models.as_loss(net.loss), callbacks

    if start is None and shareable(recipe):
        start = initial_state(recipe, sample[0].shape[1])
    return FitNetwork(recipe, make, start)


def shareable(recipe):
    """Whether any network of ``recipe`` can train a run, starting from its ``State``.

    So it is for the built-in network without callbacks: a kept trainer's
    network then serves (``_core.programs``). A user's network or callbacks
    are built for each call.
    """
    builder, build_params = recipe
    return builder is _models.dense_network and not build_params.get("callbacks") and not any(
        name.startswith("callbacks__") for name in build_params
    )


def initial_state(recipe, n_features):
    """The ``_core.engine.State`` a new network of the built-in ``recipe`` starts from."""
    build_params = recipe[1]
    kwargs = {k.removeprefix("model__"): v for k, v in build_params.items() if k.startswith("model__")}
    if kwargs.get("sparse_rows") is not None:
        n_features = kwargs["sparse_rows"][0]  # the inputs are padded rows, not features
    return State(_models.initial_weights(n_features, **kwargs), None, start_rate(recipe))


def start_rate(recipe):
    """The learning rate a run of ``recipe`` starts at: a number the parameters set (routed,
    planned, or an optimizer instance's own), or None for a schedule."""
    rate = recipe[1].get("optimizer__learning_rate")
    if rate is None and hasattr(recipe[1]["optimizer"], "get_config"):
        rate = recipe[1]["optimizer"].get_config().get("learning_rate")
    return float(rate) if isinstance(rate, numbers.Real) else None


def optimizer_name(recipe):
    """The class name of the optimizer ``recipe`` compiles with (a name as given, if unresolved)."""
    optimizer = recipe[1]["optimizer"]
    if isinstance(optimizer, str):
        return optimizer
    return optimizer.__name__ if isinstance(optimizer, type) else type(optimizer).__name__


def model_weights(model, whitening):
    """The weights of the exported Dense-stack ``model`` in the training network's coordinates,
    in ``trainable_variables`` order: what a file of format 1 lets training continue from."""
    layers = _models.dense_layers(model)
    if layers is None:
        raise ValueError("this estimator was saved without its training state, and its network is not a "
                         "stack of Dense layers whose weights could be recovered; fit it again.")
    kernels, biases = _models.stack_weights(layers)
    kernels, biases = _models.unfold_scaling(kernels, biases, *whitening.scaling, inverse=whitening.inverse)
    weights = []
    for layer, kernel, bias in zip(layers, kernels, biases):
        weights += [kernel, bias] if layer.use_bias else [kernel]
    return weights


def rewhitened(weights, before, after):
    """The single neuron's ``weights`` (``[kernel, bias]`` or ``[kernel]``) trained on inputs
    whitened by ``before``, as the same coefficients on inputs whitened by ``after``."""
    kernel, *bias = weights
    bias = bias[0] if bias else np.zeros(kernel.shape[1])
    kernels, biases = _models.fold_scaling([kernel], [bias], *before.scaling, transform=before.transform)
    (kernel,), (new_bias,) = _models.unfold_scaling(kernels, biases, *after.scaling, inverse=after.inverse)
    dtype = weights[0].dtype
    return [kernel.astype(dtype)] + ([new_bias.astype(dtype)] if len(weights) == 2 else [])


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


def recipe(params, routed, hidden, seed, plan, n_outputs, n_features):
    """``(builder, build_params)``: the model builder and what scikeras builds and compiles it with.

    ``params`` are the estimator's ``get_params()`` (routed ones included),
    ``routed`` the scikeras-routed ones among them (``optimizer__learning_rate``, ...).
    """
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
        build_params.update(
            model__hidden_layer_sizes=hidden,
            model__activation=params["activation"],
            model__n_outputs=n_outputs,
            model__seed=int(seed),
            model__dtype=np.dtype(plan.dtype).name,
            model__fit_intercept=params["fit_intercept"],
        )
        if plan.sparse_width:
            build_params["model__sparse_rows"] = (int(n_features), plan.sparse_width)
        return _models.dense_network, build_params
    if isinstance(model, keras.Model):
        template = model

        def copy_of_template():
            return keras.models.clone_model(template)

        return copy_of_template, build_params
    return _given_params(model, params), build_params


def _given_params(builder, params):
    """``builder`` as scikeras calls it, with ``params`` the estimator's ``get_params()``.

    scikeras hands a builder that asks for ``params`` the parameters of the
    wrapper that builds it: here that is a private bridge (``_fixes.scikeras_build``),
    not the estimator the user configured.
    """
    import functools

    @functools.wraps(builder)  # scikeras reads the signature through __wrapped__
    def build(*args, **kwargs):
        if "params" in kwargs:
            kwargs["params"] = dict(params)
        return builder(*args, **kwargs)

    return build
