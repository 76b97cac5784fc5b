"""Keras model builders and the algebra that moves scaling into Dense weights.

Training happens on standardized inputs and targets. Because the first and
last layers of a Dense stack are affine, the standardization can be folded
into their weights afterwards, giving a plain Keras model that predicts in the
caller's units with no extra layers (:func:`fold_scaling`), and unfolded again
to resume training (:func:`unfold_scaling`).
"""

import functools

import numpy as np

#: scikit-learn activation names mapped to their Keras equivalents.
_ACTIVATION_ALIASES = {"identity": "linear", "logistic": "sigmoid"}
_LINEAR_ACTIVATIONS = {"linear", None}

#: scikit-learn loss names mapped to Keras loss class names.
LOSSES = {
    "squared_error": "MeanSquaredError",
    "absolute_error": "MeanAbsoluteError",
    "huber": "Huber",
}


def keras_activation(name):
    """Return the Keras name for an activation given in either vocabulary."""
    return _ACTIVATION_ALIASES.get(name, name)


def keras_loss(loss):
    """Map a scikit-learn loss name to a Keras loss class; pass others through."""
    if isinstance(loss, str) and loss in LOSSES:
        import keras

        return getattr(keras.losses, LOSSES[loss])
    return loss


def dense_network(
    hidden_layer_sizes=(), activation="relu", n_outputs=1, seed=0, dtype="float64",
    fit_intercept=True, sparse_rows=None, meta=None, compile_kwargs=None,
):
    """Build (and compile) the Dense stack: hidden layers, then ``Dense(n_outputs)``.

    A scikeras model builder: ``meta`` carries the data's shapes and
    ``compile_kwargs`` the resolved optimizer and loss. Every initializer gets
    its own seed, derived from ``seed``, so the weights are reproducible
    without touching any global random state; the single-neuron model starts
    from zero. ``fit_intercept=False`` leaves the output layer without a
    bias. The L2 penalty (``alpha``) is not part of the network: the trainer
    adds it, from values it is given for each run (``_core.engine.Penalty``).
    ``sparse_rows=(n_features, width)`` makes a network that reads sparse
    inputs as padded rows (``_core.sparse.padded_rows``): its first layer is
    a :func:`sparse_rows_dense` with the kernel a ``Dense`` layer would have.
    """
    import keras

    activations = [keras_activation(activation)] * len(hidden_layer_sizes) + ["linear"]
    layers = [keras.Input((meta["n_features_in_"],), dtype=dtype)]
    specs = _layer_specs(hidden_layer_sizes, n_outputs, seed, fit_intercept)
    for i, ((n_units, initializer, use_bias), act) in enumerate(zip(specs, activations)):
        kwargs = dict(activation=act, kernel_initializer=initializer, use_bias=use_bias, dtype=dtype, name=f"dense_{i}")
        if i == 0 and sparse_rows is not None:
            layers.append(sparse_rows_dense()(n_units, sparse_rows[0], **kwargs))
        else:
            layers.append(keras.layers.Dense(n_units, **kwargs))
    model = keras.Sequential(layers, name="dense_network")
    if compile_kwargs is not None:
        model.compile(**compile_kwargs)
    return model


@functools.cache
def sparse_rows_dense():
    """The class ``SparseRowsDense``: a ``Dense`` layer whose inputs are padded sparse rows.

    Defined on first use, so that importing this module does not import Keras.
    """
    import keras

    class SparseRowsDense(keras.layers.Layer):
        """``Dense(units)`` on ``n_features`` inputs given as rows of ``(columns, values)``.

        Each input row holds ``width`` column numbers, then their ``width``
        values (``_core.sparse.padded_rows``). The product with the kernel
        gathers the kernel's rows of those columns, so a step costs the
        row's non-zeros, not ``n_features``; padding (column 0, value 0)
        adds nothing. The kernel, bias and their order are a ``Dense``
        layer's: the weights move between the two unchanged.
        """

        def __init__(self, units, n_features, activation=None, use_bias=True, kernel_initializer="glorot_uniform", **kwargs):
            super().__init__(**kwargs)
            self.units, self.n_features, self.use_bias = int(units), int(n_features), use_bias
            self.activation = keras.activations.get(activation)
            self.kernel_initializer = keras.initializers.get(kernel_initializer)

        def build(self, input_shape):
            self.kernel = self.add_weight(
                shape=(self.n_features, self.units), initializer=self.kernel_initializer, name="kernel"
            )
            if self.use_bias:
                self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

        def call(self, inputs):
            ops = keras.ops
            width = inputs.shape[-1] // 2
            rows = ops.take(self.kernel, ops.cast(inputs[:, :width], "int32"), axis=0)
            out = ops.einsum("bw,bwu->bu", inputs[:, width:], rows)
            if self.use_bias:
                out = out + self.bias
            return self.activation(out)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.units)

    return SparseRowsDense


def _layer_specs(hidden_layer_sizes, n_outputs, seed, fit_intercept):
    """Units, kernel initializer and whether it has a bias, for each Dense layer of :func:`dense_network`."""
    import keras

    units = [*hidden_layer_sizes, n_outputs]
    specs = []
    for i, n_units in enumerate(units):
        if hidden_layer_sizes:
            initializer = keras.initializers.GlorotUniform(seed=seed + i)
        else:
            # A single linear layer is a convex problem: start from zero, the
            # natural origin on standardized data, instead of a random draw.
            initializer = keras.initializers.Zeros()
        specs.append((n_units, initializer, fit_intercept or i < len(units) - 1))
    return specs


def initial_weights(
    n_features, hidden_layer_sizes=(), n_outputs=1, seed=0, dtype="float64", fit_intercept=True, **unused
):
    """The weights :func:`dense_network` starts from, in ``trainable_variables`` order, as arrays.

    Takes :func:`dense_network`'s arguments; a seeded Keras initializer draws
    the same values on every call, so these are exactly a new network's.
    """
    weights, n_in = [], n_features
    for n_units, initializer, use_bias in _layer_specs(hidden_layer_sizes, n_outputs, seed, fit_intercept):
        weights.append(np.asarray(initializer((n_in, n_units), dtype=dtype)))
        if use_bias:
            # Dense's bias initializer is "zeros".
            weights.append(np.zeros(n_units, dtype=dtype))
        n_in = n_units
    return weights


def dense_layers(model):
    """The model's layers if it is a plain stack of Dense layers, else None."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    # A training network on sparse inputs starts with a SparseRowsDense (never exported).
    first = (keras.layers.Dense, sparse_rows_dense())
    if not layers or type(layers[0]) not in first or not all(type(layer) is keras.layers.Dense for layer in layers[1:]):
        return None
    if not isinstance(model, keras.Sequential) and len(model.inputs) != 1:
        return None
    return layers


def stack_weights(layers):
    """Kernels and biases of a Dense stack as float64 arrays (zero bias if none)."""
    kernels, biases = [], []
    for layer in layers:
        kernel = np.asarray(layer.kernel.numpy(), dtype=np.float64)
        kernels.append(kernel)
        if layer.use_bias:
            biases.append(np.asarray(layer.bias.numpy(), dtype=np.float64))
        else:
            biases.append(np.zeros(kernel.shape[1]))
    return kernels, biases


def fold_scaling(kernels, biases, x_mean, x_scale, y_mean, y_scale, transform=None):
    """Weights that act on raw inputs and produce raw targets.

    Whitening: ``(x T) W == x (T W)``.
    First layer: ``((x - m) / s) W + b == x (W / s) + (b - (m / s) W)``.
    Last layer: ``(h W + b) * t + u == h (W t) + (b t + u)``.
    """
    kernels = [k.copy() for k in kernels]
    biases = [b.copy() for b in biases]
    if transform is not None:
        kernels[0] = transform @ kernels[0]
    biases[0] = biases[0] - (x_mean / x_scale) @ kernels[0]
    kernels[0] = kernels[0] / x_scale[:, None]
    kernels[-1] = kernels[-1] * y_scale
    biases[-1] = biases[-1] * y_scale + y_mean
    return kernels, biases


def unfold_scaling(kernels, biases, x_mean, x_scale, y_mean, y_scale, inverse=None):
    """Inverse of :func:`fold_scaling` (``inverse`` undoes its ``transform``)."""
    kernels = [k.copy() for k in kernels]
    biases = [b.copy() for b in biases]
    biases[-1] = (biases[-1] - y_mean) / y_scale
    kernels[-1] = kernels[-1] / y_scale
    kernels[0] = kernels[0] * x_scale[:, None]
    biases[0] = biases[0] + x_mean @ (kernels[0] / x_scale[:, None])
    if inverse is not None:
        kernels[0] = inverse @ kernels[0]
    return kernels, biases


def folded_model(layers, kernels, biases, name="kerasreg"):
    """A float64 Keras Dense stack with the given (folded) weights.

    Predicting in float64 keeps the caller's precision on raw, unscaled
    inputs; the network was trained in float32 on standardized data.
    """
    import keras

    model = keras.Sequential([keras.Input((kernels[0].shape[0],), dtype="float64")], name=name)
    for i, (layer, kernel, bias) in enumerate(zip(layers, kernels, biases)):
        dense = keras.layers.Dense(
            kernel.shape[1],
            activation=keras.activations.serialize(layer.activation),
            dtype="float64",
            # Overwritten below; an unseeded random initializer would draw
            # its seed from Python's global random state.
            kernel_initializer="zeros",
            use_bias=layer.use_bias,
            name=f"dense_{i}" if layer.name.startswith("dense") else layer.name,
        )
        model.add(dense)
        dense.set_weights([kernel, bias] if layer.use_bias else [kernel])
    return model


def scaled_model(net, x_mean, x_scale, y_mean, y_scale, name="kerasreg"):
    """Wrap an arbitrary network between input standardization and output rescaling."""
    import keras

    inputs = keras.Input((x_mean.shape[0],))
    hidden = keras.layers.Normalization(mean=x_mean, variance=x_scale**2, name="standardize")(inputs)
    outputs = keras.layers.Rescaling(scale=y_scale, offset=y_mean, name="unstandardize")(net(hidden))
    return keras.Model(inputs, outputs, name=name)


def effective_linear(layers, kernels, biases):
    """Collapse a stack of linear layers into one ``(coef, intercept)`` pair.

    Returns None when any layer has a nonlinear activation.
    """
    import keras

    for layer in layers:
        if keras.activations.serialize(layer.activation) not in _LINEAR_ACTIVATIONS:
            return None
    coef, intercept = kernels[0], biases[0]
    for kernel, bias in zip(kernels[1:], biases[1:]):
        coef, intercept = coef @ kernel, intercept @ kernel + bias
    return coef, intercept


def optimizer_class(name):
    """The Keras optimizer class a name like ``"sgd"`` or ``"RMSprop"`` stands for, or None.

    scikeras resolves a name by building a throwaway optimizer
    (``keras.optimizers.get``), and each new optimizer's variables carry a
    new name (``sgd_1/iteration``, ``sgd_2/...``) into the attributes of the
    TensorFlow op that makes them; TensorFlow keeps one kernel per distinct
    attribute set for the life of the process. Looking the class up by name
    makes nothing.
    """
    return _optimizer_classes().get(name.lower())


@functools.cache
def _optimizer_classes():
    """Keras's optimizer classes by lower-case name, looked up once per process."""
    import keras

    return {
        attr.lower(): cls
        for attr, cls in vars(keras.optimizers).items()
        if isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)
    }


def as_loss(loss):
    """A Keras ``Loss`` object (it takes ``sample_weight``) for whatever ``compile`` was given."""
    import keras

    if isinstance(loss, keras.losses.Loss):
        return loss
    fn = keras.losses.get(loss)
    if isinstance(fn, keras.losses.Loss):
        return fn
    # A model compiled with loss="mae" keeps a plain function; Keras 3 has
    # no public wrapper that adds sample weighting and reduction to it.
    return _function_loss(fn)


def _function_loss(fn):
    import keras

    class FunctionLoss(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return fn(y_true, y_pred)

    return FunctionLoss(name=getattr(fn, "__name__", "loss"))


def input_dtype(net):
    """The NumPy dtype a network takes (float64 when it does not say)."""
    inputs = getattr(net, "inputs", None)
    return np.dtype(inputs[0].dtype) if inputs else np.dtype(np.float64)


def check_shapes(net, n_features, n_outputs):
    n_in = net.inputs[0].shape[-1] if getattr(net, "inputs", None) else None
    n_out = net.outputs[0].shape[-1] if getattr(net, "outputs", None) else None
    if n_in is not None and n_in != n_features:
        raise ValueError(f"The model expects {n_in} input features but X has {n_features}.")
    if n_out is not None and n_out != n_outputs:
        raise ValueError(f"The model has {n_out} output(s) but y has {n_outputs} target(s).")


def copy_variables(sources, targets):
    """Assign each source variable's value to its target (same shapes, in order)."""
    sources, targets = list(sources), list(targets)
    if len(sources) != len(targets):
        raise ValueError(f"Cannot copy {len(sources)} variables onto {len(targets)}.")
    for source, target in zip(sources, targets):
        target.assign(source)


def predict(model, X, n_outputs):
    """``model``'s predictions on ``X`` (float64, n_samples x n_outputs).

    A linear Dense stack (the single neuron) is one matrix product in NumPy:
    at 1M x 20, 20 ms where calling the Keras model took 200 ms. Any other
    model is called directly on blocks of rows (``model.predict()`` would
    cost a data pipeline per call). On sparse ``X`` a Dense stack's first
    product is a sparse one; another model gets dense blocks of rows.
    """
    from .data import BLOCK_ROWS
    from .sparse import block_rows, dense_rows, is_sparse

    layers = dense_layers(model)
    # A quantized layer's kernel holds integers that only its own call scales.
    plain = layers is not None and all(getattr(layer, "quantization_mode", None) is None for layer in layers)
    linear = effective_linear(layers, *stack_weights(layers)) if plain else None
    if linear is not None:
        coef, intercept = linear
        return np.asarray((X if is_sparse(X) else np.asarray(X, dtype=np.float64)) @ coef) + intercept
    out = np.empty((X.shape[0], n_outputs))
    if is_sparse(X) and plain:
        # The first layer's product is a sparse one; the layers after it see dense activations.
        kernel, bias = stack_weights(layers[:1])
        for start in range(0, X.shape[0], BLOCK_ROWS):
            hidden = layers[0].activation(np.asarray(X[start : start + BLOCK_ROWS] @ kernel[0]) + bias[0])
            for layer in layers[1:]:
                hidden = layer(hidden, training=False)
            out[start : start + BLOCK_ROWS] = np.asarray(hidden, dtype=np.float64)
        return out
    rows = block_rows(X, BLOCK_ROWS)
    for start in range(0, X.shape[0], rows):
        block = dense_rows(X, start, start + rows)
        out[start : start + rows] = np.asarray(model(block, training=False), dtype=np.float64)
    return out
