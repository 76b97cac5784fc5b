"""ONNX export through skl2onnx: a converter for :class:`KerasLinearRegressor` (the ``[onnx]`` extra).

``model_`` is a stack of ``Dense`` layers whose weights already include the
standardization and whitening, so the ONNX graph is that stack written out:
``MatMul``, ``Add`` and the activation for each layer, in the input's float
type. A whole ``Pipeline`` then converts with ``skl2onnx.to_onnx``, the
scikit-learn steps by skl2onnx's own converters. A network that is not a
Dense stack (a user's model) has no converter here: export its ``model_``
with Keras's ``model_.export(path, format="onnx")`` instead.
"""

import numpy as np

#: Keras activation names and the ONNX operator of each.
#: (onnxruntime 1.32 has no double-precision Elu or Selu at the opset skl2onnx targets.)
_ACTIVATIONS = {"linear": None, "relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}


def dense_stack(estimator):
    """``[(kernel, bias or None, activation name), ...]`` of a fitted estimator's ``model_``.

    Raises ``NotImplementedError`` for a network ONNX cannot take this way.
    """
    import keras

    from .._core import models as _models

    layers = _models.dense_layers(estimator.model_)
    if layers is None:
        raise NotImplementedError(
            "Only a network of Dense layers converts with skl2onnx; this model_ is not one. "
            'Export it with Keras instead: reg.model_.export("model.onnx", format="onnx").'
        )
    stack = []
    for layer, kernel, bias in zip(layers, *_models.stack_weights(layers)):
        activation = keras.activations.serialize(layer.activation)
        if activation not in _ACTIVATIONS:
            raise NotImplementedError(
                f"The activation {activation!r} of layer {layer.name!r} has no ONNX operator here; "
                f"supported: {', '.join(sorted(_ACTIVATIONS))}."
            )
        stack.append((kernel, bias if layer.use_bias else None, activation))
    return stack


def _shape_calculator(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    estimator = operator.raw_operator
    input_type = operator.inputs[0].type
    tensor_type = DoubleTensorType if isinstance(input_type, DoubleTensorType) else FloatTensorType
    n_rows = input_type.shape[0] if input_type.shape else None
    operator.outputs[0].type = tensor_type([n_rows, estimator._n_outputs])


def _converter(scope, operator, container):
    from skl2onnx.algebra import onnx_ops
    from skl2onnx.common.data_types import DoubleTensorType

    estimator = operator.raw_operator
    dtype = np.float64 if isinstance(operator.outputs[0].type, DoubleTensorType) else np.float32
    opset = container.target_opset
    node = operator.inputs[0]
    if not isinstance(operator.inputs[0].type, type(operator.outputs[0].type)):
        node = onnx_ops.OnnxCast(node, to=1 if dtype == np.float32 else 11, op_version=opset)
    for kernel, bias, activation in dense_stack(estimator):
        node = onnx_ops.OnnxMatMul(node, kernel.astype(dtype), op_version=opset)
        if bias is not None:
            node = onnx_ops.OnnxAdd(node, bias.astype(dtype), op_version=opset)
        if _ACTIVATIONS[activation] is not None:
            node = getattr(onnx_ops, "Onnx" + _ACTIVATIONS[activation])(node, op_version=opset)
    onnx_ops.OnnxIdentity(node, op_version=opset, output_names=operator.outputs[:1]).add_to(scope, container)


def register_onnx_converter():
    """Register :class:`KerasLinearRegressor`'s converter with skl2onnx (needs the ``[onnx]`` extra).

    After this, ``skl2onnx.to_onnx(pipeline, X[:1])`` converts a ``Pipeline``
    ending (or containing) a fitted estimator with a Dense network, linear or
    MLP, in float32 or float64 (the type of the sample input). Calling it
    again does nothing more.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_kerasreg import KerasLinearRegressor, register_onnx_converter
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> pipe = make_pipeline(StandardScaler(), KerasLinearRegressor(random_state=0)).fit(X, X @ [1.0, 2.0])
    >>> register_onnx_converter()  # doctest: +SKIP
    >>> import onnxruntime, skl2onnx  # doctest: +SKIP
    >>> onx = skl2onnx.to_onnx(pipe, X[:1])  # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession(onx.SerializeToString())  # doctest: +SKIP
    >>> session.run(None, {"X": X[:2]})[0].ravel()  # doctest: +SKIP
    array([2., 8.])
    """
    from skl2onnx import update_registered_converter

    from .._estimator import KerasLinearRegressor

    update_registered_converter(
        KerasLinearRegressor, "SklearnKerasLinearRegressor", _shape_calculator, _converter
    )
