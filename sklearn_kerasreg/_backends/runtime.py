"""The runtime: the Keras backend a fit runs on, and TensorFlow's thread pools capped in worker processes.

TensorFlow sizes its intra-op and inter-op thread pools to every core of the
machine. In a search with ``n_jobs=2`` on two cores, each worker would then
run two or more busy threads per core. Parallel back ends already say how
many threads a worker should use: joblib's loky workers get
``OMP_NUM_THREADS = cpu_count() // n_jobs`` and Dask's nanny gives its
workers ``OMP_NUM_THREADS=1``. We apply the same number to TensorFlow.
"""

import contextlib
import os
import threading

#: Overrides every other source when set to a positive integer.
THREADS_ENV = "SKLEARN_KERASREG_TF_THREADS"

#: The Keras backends this package trains on, and each one's compiled loop (module, class).
SUPPORTED_BACKENDS = {"tensorflow": ("tensorflow_loop", "TensorFlowLoop"), "jax": ("jax_loop", "JaxLoop")}

_lock = threading.Lock()
_applied = False


def check_keras_backend():
    """Raise a ``RuntimeError`` that says what to do if Keras runs on a backend we cannot train on."""
    import keras

    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise RuntimeError(
            f"sklearn_kerasreg trains on TensorFlow or JAX, but Keras is running on the {backend!r} "
            f"backend. Supported backends: {', '.join(map(repr, SUPPORTED_BACKENDS))}. Set the "
            "environment variable KERAS_BACKEND to one of them before Keras is first imported (or "
            '"backend" in ~/.keras/keras.json).'
        )


def loop_class():
    """The compiled training loop of the running Keras backend (``TensorFlowLoop`` or ``JaxLoop``),
    a ``protocol.Loop``."""
    import importlib

    import keras

    check_keras_backend()
    module, name = SUPPORTED_BACKENDS[keras.backend.backend()]
    return getattr(importlib.import_module(f".{module}", __package__), name)


def backend_scope():
    """What a fit or a prediction runs inside: on JAX, float64 computation (``jax_enable_x64``)."""
    import keras

    if keras.backend.backend() == "jax":
        from .jax_loop import float64_scope

        return float64_scope()
    return contextlib.nullcontext()


def thread_cap():
    """The thread cap this process asks for, or None to leave TensorFlow's default.

    ``SKLEARN_KERASREG_TF_THREADS`` wins; otherwise ``OMP_NUM_THREADS`` (set by
    joblib's loky workers and Dask's nanny). TensorFlow's own
    ``TF_NUM_INTRAOP_THREADS`` is respected: when it is set we do nothing.

    Returns
    -------
    n_threads : int or None

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> env = {"SKLEARN_KERASREG_TF_THREADS": "2", "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": ""}
    >>> with mock.patch.dict(os.environ, env):
    ...     thread_cap()
    2
    >>> with mock.patch.dict(os.environ, {**env, "TF_NUM_INTRAOP_THREADS": "4"}):
    ...     print(thread_cap())
    None
    """
    if os.environ.get("TF_NUM_INTRAOP_THREADS"):
        return None
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                continue
            if n >= 1:
                return n
    return None


def data_threads():
    """Threads for the package's own NumPy passes over the data (statistics, standardizing).

    The cap of :func:`thread_cap`, else TensorFlow's ``TF_NUM_INTRAOP_THREADS``,
    else the cores this process may run on, so that a worker of a parallel
    search stays on its share of the machine.

    Returns
    -------
    n_threads : int

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"SKLEARN_KERASREG_TF_THREADS": "1"}):
    ...     data_threads()
    1
    """
    n = thread_cap()
    if n is None:
        try:
            n = int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0"))
        except ValueError:
            n = 0
    if n < 1:
        # Unset, or TensorFlow's 0 for "every core".
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return n


def cap_tensorflow_threads():
    """Apply :func:`thread_cap` to TensorFlow, once per process.

    Only possible before TensorFlow runs its first operation in the process;
    after that its pools are fixed and this does nothing. A cap the user set
    with ``tf.config.threading`` is kept.
    """
    global _applied
    if _applied:
        return
    with _lock:
        if _applied:
            return
        _applied = True
        n = thread_cap()
        import keras

        if n is None or keras.backend.backend() != "tensorflow":
            return
        import tensorflow as tf

        threading_config = tf.config.threading
        try:
            if threading_config.get_intra_op_parallelism_threads() == 0:
                threading_config.set_intra_op_parallelism_threads(n)
            if threading_config.get_inter_op_parallelism_threads() == 0:
                threading_config.set_inter_op_parallelism_threads(n)
        except RuntimeError:
            # TensorFlow has already run an operation: its pools are fixed.
            pass
