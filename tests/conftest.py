import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest


@pytest.fixture
def tf_global_state():
    """Restore every TensorFlow/Keras global switch a test may flip."""
    import keras
    import tensorflow as tf

    from sklearn_kerasreg._fixes import tf_global_state

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
def tutorial_data():
    """The single-neuron tutorial's data: x = 0..50, y = x + 10 * U(0, 1)."""
    rng = np.random.RandomState(0)
    x = np.linspace(0, 50, 51)
    return x.reshape(-1, 1), x + 10 * rng.uniform(size=x.shape[0])
