"""ONNX export: skl2onnx converts a Pipeline with the estimator, and ``model_`` exports with Keras.

Needs the ``[onnx]`` extra (skl2onnx, onnxruntime; tf2onnx for Keras's own export).
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_kerasreg import KerasLinearRegressor, register_onnx_converter

skl2onnx = pytest.importorskip("skl2onnx")
onnxruntime = pytest.importorskip("onnxruntime")

X, y = make_friedman1(300, random_state=0)
y = y + 10.0  # predictions away from zero, so that relative errors mean something
NETWORKS = {"linear": {}, "mlp": {"hidden_layer_sizes": (16, 16), "epochs": 50}}


def _fit(estimator, X_, y_):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X_, y_)


def _run(onx, X_):
    session = onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X_})[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_a_pipeline_converts_and_onnxruntime_predicts_the_same(network, dtype):
    register_onnx_converter()
    pipe = _fit(make_pipeline(StandardScaler(), KerasLinearRegressor(random_state=0, **NETWORKS[network])), X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1].astype(dtype))
    got = _run(onx, X.astype(dtype))
    assert got.dtype == dtype and got.shape == (len(X), 1)
    np.testing.assert_allclose(got.ravel(), pipe.predict(X), rtol=1e-5)


def test_multi_output_and_no_intercept_convert():
    register_onnx_converter()
    Y = np.c_[y, 2 * y - X[:, 0]]
    reg = _fit(KerasLinearRegressor(fit_intercept=False, hidden_layer_sizes=(8,), epochs=30, random_state=0), X, Y)
    got = _run(skl2onnx.to_onnx(reg, X[:1]), X)
    np.testing.assert_allclose(got, reg.predict(X), rtol=1e-10)


@pytest.mark.parametrize("activation", ["tanh", "logistic", "identity"])
def test_every_supported_activation_converts(activation):
    register_onnx_converter()
    reg = _fit(KerasLinearRegressor(hidden_layer_sizes=(8,), activation=activation, epochs=5, random_state=0), X, y)
    np.testing.assert_allclose(_run(skl2onnx.to_onnx(reg, X[:1]), X).ravel(), reg.predict(X), rtol=1e-10)


def test_networks_onnx_cannot_take_say_what_to_do():
    import keras

    register_onnx_converter()
    gelu = _fit(KerasLinearRegressor(hidden_layer_sizes=(4,), activation="gelu", epochs=3, random_state=0), X, y)
    with pytest.raises(NotImplementedError, match="'gelu'.*supported"):
        skl2onnx.to_onnx(gelu, X[:1])

    def build(meta, compile_kwargs):
        inputs = keras.Input((meta["n_features_in_"],))
        model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.BatchNormalization()(inputs)))
        model.compile(**compile_kwargs)
        return model

    custom = _fit(KerasLinearRegressor(build, epochs=3, random_state=0), X, y)
    with pytest.raises(NotImplementedError, match=r"model_\.export"):
        skl2onnx.to_onnx(custom, X[:1])


@pytest.mark.parametrize("network", list(NETWORKS))
def test_model_exports_with_keras_own_export(network, tmp_path):
    pytest.importorskip("tf2onnx")
    reg = _fit(KerasLinearRegressor(random_state=0, **NETWORKS[network]), X, y)
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # tf2onnx on NumPy 2
        reg.model_.export(str(path), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: X})[0]
    np.testing.assert_allclose(got.ravel(), reg.predict(X), rtol=1e-10)
