import os
import random
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest


def tf_global_state():
    """A snapshot of TensorFlow/Keras global switches, to check nothing leaked."""
    import keras
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    return {
        # No public getter for op determinism in TensorFlow 2.21.
        "op_determinism": config.is_op_determinism_enabled(),
        "tf_global_seed": context.global_seed(),
        "floatx": keras.backend.floatx(),
    }


@pytest.fixture(name="tf_global_snapshot")
def tf_global_snapshot_fixture():
    """:func:`tf_global_state`, to take a snapshot again inside a test."""
    return tf_global_state


@pytest.fixture(name="tf_global_state")
def restored_tf_global_state():
    """Restore every TensorFlow/Keras global switch a test may flip."""
    import keras
    import tensorflow as tf

    before = tf_global_state()
    py_state, np_state = random.getstate(), np.random.get_state()
    yield before
    if tf_global_state()["op_determinism"] != before["op_determinism"]:
        if before["op_determinism"]:
            tf.config.experimental.enable_op_determinism()
        else:
            tf.config.experimental.disable_op_determinism()
    tf.random.set_seed(before["tf_global_seed"])
    keras.backend.set_floatx(before["floatx"])
    random.setstate(py_state)
    np.random.set_state(np_state)


@pytest.fixture
def exact_linear_regression():
    """``LinearRegression`` without a cut-off on small singular values, on every scikit-learn.

    scikit-learn 1.7 added ``tol`` (default 1e-6, passed to ``lstsq`` as
    ``cond``); before, ``lstsq`` ran at its own machine-precision default.
    """
    import inspect

    from sklearn.linear_model import LinearRegression

    exact = {"tol": 0} if "tol" in inspect.signature(LinearRegression).parameters else {}
    return lambda **params: LinearRegression(**exact, **params)


@pytest.fixture
def tutorial_data():
    """The single-neuron tutorial's data: x = 0..50, y = x + 10 * U(0, 1)."""
    rng = np.random.RandomState(0)
    x = np.linspace(0, 50, 51)
    return x.reshape(-1, 1), x + 10 * rng.uniform(size=x.shape[0])


@pytest.fixture
def run_in_threads():
    """``run(call, n)``: ``[call(0), ..., call(n - 1)]``, each in its own thread, all started at once.

    An error in any thread is raised again in the test.
    """

    def run(call, n):
        results, errors = [None] * n, []
        start = threading.Barrier(n)

        def work(k):
            try:
                start.wait()
                results[k] = call(k)
            except BaseException as exc:  # noqa: BLE001 - raised again below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results

    return run


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tensorflow_only: checks what exists only on Keras's TensorFlow backend (skipped elsewhere)"
    )


#: The test modules run on a backend other than TensorFlow (CI's JAX run):
#: what the training loop, its numerics and persistence touch. The others
#: (CLI, plots, docs, Dask and joblib workers, ONNX, TensorFlow's own
#: machinery) do not depend on the backend's loop, and CI runs them on
#: TensorFlow; running them twice would double CI's time.
OTHER_BACKEND_MODULES = {
    "test_backends.py", "test_callbacks.py", "test_common.py", "test_continuation.py", "test_estimator.py",
    "test_nist.py", "test_sequences.py",
    "test_persistence.py", "test_programs.py", "test_stop_rule.py", "test_streaming.py",
    "test_validation_data.py", "test_reported_loss.py", "test_sparse.py",
}


def pytest_collection_modifyitems(config, items):
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow only; Keras runs on {backend}")
    kept, deselected = [], []
    for item in items:
        (kept if item.path.name in OTHER_BACKEND_MODULES else deselected).append(item)
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_report_header(config):
    """The versions this run tests (CI runs the newest and the declared floors, and JAX)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ("numpy", "scikit-learn", "tensorflow", "keras", "scikeras", "jax")
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    import keras

    return f"Keras backend: {keras.backend.backend()}; versions: " + ", ".join(found)
