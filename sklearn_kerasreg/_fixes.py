"""Every shim for scikit-learn, scikeras, Keras and TensorFlow lives here.

Nothing else in the package imports a private name from those libraries.
TensorFlow, Keras and scikeras are imported inside functions, never at module
level, so that ``import sklearn_kerasreg`` stays fast.
"""

import contextlib
import copy
import functools
import random

import numpy as np

# The parameter-constraint types every scikit-learn estimator uses; private
# in scikit-learn 1.6 to 1.9 (``sklearn.utils._param_validation``), and with
# no public equivalent: ``_parameter_constraints`` is written in them.
from sklearn.utils._param_validation import (  # noqa: F401
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

# ``validate_data`` is public since scikit-learn 1.6, the declared floor.
from sklearn.utils.validation import check_array, validate_data  # noqa: F401

#: What a private name that moved or went away raises: the module or the
#: name is not there. A TypeError is not in it: it is as likely a real error
#: in a call (a wrong dtype, say) as a changed signature, and a fallback
#: must not hide one.
GONE = (ImportError, AttributeError)


def _own_fit_context(*, prefer_skip_nested_validation):
    """``sklearn.base._fit_context`` without its nested-validation switch: validate, then fit."""

    def decorate(fit):
        @functools.wraps(fit)
        def fit_with_validation(estimator, *args, **kwargs):
            validate_params(estimator)
            return fit(estimator, *args, **kwargs)

        return fit_with_validation

    return decorate


try:
    # Private since scikit-learn 1.3; how every scikit-learn estimator
    # validates its parameters once per fit and skips it in nested calls.
    from sklearn.base import _fit_context
except ImportError:
    _fit_context = _own_fit_context


def _own_check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=False):
    """What ``sklearn.utils.validation._check_sample_weight`` does for this package, in public API."""
    n_samples = X.shape[0]
    if sample_weight is None:
        return np.ones(n_samples, dtype=dtype)
    if np.ndim(sample_weight) == 0:
        sample_weight = np.full(n_samples, sample_weight, dtype=dtype)
    sample_weight = check_array(sample_weight, ensure_2d=False, dtype=dtype, input_name="sample_weight")
    if sample_weight.shape != (n_samples,):
        raise ValueError(f"sample_weight.shape == {sample_weight.shape}, expected {(n_samples,)}!")
    if ensure_non_negative and np.any(sample_weight < 0):
        raise ValueError("Negative values in data passed to sample_weight")
    return sample_weight


try:
    # Private in scikit-learn 1.6 to 1.9.
    from sklearn.utils.validation import _check_sample_weight as check_sample_weight
except ImportError:
    check_sample_weight = _own_check_sample_weight


class _NoCallbackContext:
    """What a callback context does when there are no callbacks: nothing, and never stops."""

    def subcontext(self, *args, **kwargs):
        return self

    def call_on_fit_task_begin(self, **kwargs):
        return False

    def call_on_fit_task_end(self, **kwargs):
        return False


try:
    # scikit-learn 1.9's callback API (SLEP023, experimental): set_callbacks,
    # fit tasks and subtasks, ProgressBar. Checked against 1.9.1.
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:

    class CallbackSupportMixin:
        """Before scikit-learn 1.9: no ``set_callbacks``, and a context that does nothing."""

        def _init_callback_context(self, task_name="fit", **kwargs):
            return _NoCallbackContext()

    def with_callbacks(method):
        return method


def has_sklearn_callbacks(estimator):
    """Whether scikit-learn callbacks are set on ``estimator``, its own or propagated by a meta-estimator.

    A search links every fit's task tree to its own (``_parent_callback_ctx``)
    even without callbacks; only callbacks make the epochs worth reporting.
    """
    return bool(getattr(estimator, "_skl_callbacks", None))


def carry_clone_state(source, new):
    """Copy to a clone what scikit-learn's default ``clone`` carries besides parameters.

    Our ``__sklearn_clone__`` exists only because ``__init__`` cannot take
    routed parameters; everything else must behave like
    ``sklearn.base._clone_parametrized`` (scikit-learn 1.9): the metadata
    requests (``set_fit_request``), ``set_output``'s configuration and
    scikit-learn's callbacks. Check this list when scikit-learn's ``clone``
    changes.
    """
    from sklearn.base import clone

    if hasattr(source, "_metadata_request"):
        request = source._metadata_request
        # scikit-learn 1.9 clones the requests (their owner, the estimator
        # itself, is shared); 1.6 to 1.8 deep-copy them (the owner is a name)
        # and cannot clone them.
        cloneable = hasattr(request, "__sklearn_clone__")
        new._metadata_request = clone(request) if cloneable else copy.deepcopy(request)
    if hasattr(source, "_skl_callbacks"):
        new._skl_callbacks = source._skl_callbacks
    if hasattr(source, "_sklearn_output_config"):
        new._sklearn_output_config = copy.deepcopy(source._sklearn_output_config)
    return new


#: Parameter prefixes that scikeras routes to the model builder, optimizer,
#: loss, callbacks and ``compile``. scikeras's ``fit__*``/``predict__*`` are
#: left out on purpose: our engine, not ``keras.Model.fit``, trains, so they
#: would be silently ignored; set_params rejects them instead.
ROUTING_PREFIXES = ("model", "optimizer", "loss", "callbacks", "compile")


def scikeras_build(model, params, X, y):
    """Build and compile a Keras model the way scikeras does.

    scikeras 0.13 resolves optimizer and loss names, routes ``optimizer__*``,
    ``loss__*``, ``model__*`` and ``callbacks__*`` parameters, and hands a
    builder callable the ``meta`` dictionary of data shapes. We let it do
    exactly that, on a private ``KerasRegressor`` that never trains:
    ``random_state`` is left at None so scikeras does not switch on
    TensorFlow op determinism for the whole process (scikeras 0.13 bug).

    Returns the compiled model and the list of fit callbacks.

    ``_ensure_compiled_model`` and ``_fit_callbacks`` are scikeras's private
    names, with no fallback: scikeras was archived at 0.13.0, its last
    release, so ``pyproject.toml`` pins ``scikeras<0.14`` and they cannot move.
    """
    from scikeras.wrappers import KerasRegressor

    bridge = KerasRegressor(model=model, random_state=None, verbose=0, **params)
    bridge.initialize(X, y)
    # A builder (or a cloned template) may return an uncompiled model;
    # scikeras compiles it with the routed optimizer and loss only in fit.
    bridge._ensure_compiled_model()
    # scikeras keeps the instantiated callbacks in a private attribute.
    return bridge.model_, list(bridge._fit_callbacks)


@contextlib.contextmanager
def global_seed_scope(seed):
    """Seed Python's and NumPy's global generators for the block, then put them back.

    Only used around a user's own model builder. Keras draws the seed of
    every unseeded initializer and ``SeedGenerator`` (a dropout layer's, say)
    from Python's ``random`` (Keras 3.4 to 3.15, ``make_default_seed``), so
    this makes a builder's network repeatable; our own builders seed each
    initializer and never need it. TensorFlow's global seed is left alone on
    purpose: ``tf.random.set_seed`` clears TensorFlow's kernel cache, which
    restarts every op-seeded random stream in the process, the caller's too.
    """
    py_state = random.getstate()
    np_state = np.random.get_state()
    try:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _gradient_registry():
    """TensorFlow's global dictionary of registered gradient functions (private, TensorFlow 2.16 to 2.21)."""
    from tensorflow.python.framework import ops

    return ops._gradient_registry._registry


def release_custom_gradients(tf_function):
    """Unregister the custom gradients a traced ``tf.function`` registered.

    TensorFlow 2.21 with Keras 3.15: ``optimizer.apply`` inside a
    ``tf.function`` all-reduces the gradients through
    ``ReplicaContext.all_reduce``, which wraps them in ``tf.custom_gradient``.
    In graph mode that registers a gradient function in TensorFlow's global
    gradient registry under a unique name, and the function keeps the whole
    traced graph alive: about 4 MB per fit, forever. Our traced functions are
    never differentiated, so once training is over the entries can go. Only
    the names that this function's own graphs refer to are removed, so other
    threads' functions are untouched. Remove when TensorFlow frees them.

    Without TensorFlow's private registry or its list of a function's
    traces, nothing is released: a long search then grows by the traces.
    """
    try:
        registry, concretes = _gradient_registry(), tf_function._list_all_concrete_functions()
    except GONE:
        return
    for concrete in concretes:
        graph_def = concrete.graph.as_graph_def()
        nodes = [*graph_def.node, *(n for f in graph_def.library.function for n in f.node_def)]
        for node in nodes:
            if "_gradient_op_type" in node.attr:
                registry.pop(node.attr["_gradient_op_type"].s.decode(), None)


def _safe_mode_scope():
    """Keras's ``SafeModeScope`` class (private, Keras 3.4 to 3.15)."""
    from keras.src.saving.serialization_lib import SafeModeScope

    return SafeModeScope


@contextlib.contextmanager
def keras_safe_mode(enabled=True):
    """Force Keras's deserialization safe mode on (or off) for the block.

    ``keras.saving.load_model(..., safe_mode=True)`` is overridden by the
    process-wide ``keras.config.enable_unsafe_deserialization()`` switch
    (Keras 3.15, ``serialization_lib.deserialize_keras_object``); the scope
    Keras itself uses to propagate the flag takes precedence over both.
    Without that private scope the block runs as it is: ``load_model``'s
    own ``safe_mode`` argument then decides, and ``_io.persistence`` refuses
    files with code-running layers before Keras sees them anyway.
    """
    try:
        scope = _safe_mode_scope()(enabled)
    except GONE:
        scope = contextlib.nullcontext()
    with scope:
        yield


def validate_params(estimator):
    """Check ``estimator``'s parameters against its ``_parameter_constraints``.

    ``BaseEstimator._validate_params`` is private; without it, the function
    it calls (from the constraints' own module) does the same.
    """
    try:
        validate = estimator._validate_params
    except AttributeError:
        constraints, params = estimator._parameter_constraints, estimator.get_params(deep=False)
        validate_parameter_constraints(constraints, params, caller_name=type(estimator).__name__)
    else:
        validate()


def tensor_over(array):
    """A TensorFlow tensor that reads ``array``'s memory in place.

    ``tf.convert_to_tensor`` copies every NumPy array (TensorFlow 2.21,
    ``constant_op.convert_to_eager_tensor``) so that later writes to the
    array cannot reach the tensor, and the ``EagerTensor`` constructor copies
    again unless the data is 64-byte aligned: for 1M x 20 float32 that was
    0.2 s and 80 MB per fit. Only for arrays this package allocated aligned
    (``_core.data.aligned_empty``) and never writes to while the tensor lives; the
    tensor keeps the array alive. Without the private constructor it falls
    back to the copying public path.
    """
    try:
        return _eager_tensor(array)
    except GONE:
        import tensorflow as tf

        return tf.convert_to_tensor(array)


def _eager_tensor(array):
    """An ``EagerTensor`` made by its private constructor (TensorFlow 2.16 to 2.21)."""
    import tensorflow as tf
    from tensorflow.python.eager import context
    from tensorflow.python.framework import ops

    ctx = context.context()
    ctx.ensure_initialized()
    return ops.EagerTensor(array, ctx.device_name, tf.as_dtype(array.dtype).as_datatype_enum)


@contextlib.contextmanager
def no_graph_rewrites():
    """Run this thread's ``tf.function`` calls without Grappler's graph rewrites.

    TensorFlow rewrites every function graph when it first runs it; for the
    training loop's small graphs of scalar bookkeeping that took 0.08 s per
    fit (a fifth of a 442-row fit) and gained nothing measurable per epoch;
    mini-batch epochs of a network with hidden layers do gain, and the
    TensorFlow loop keeps the rewrites for them.
    The options travel with each call (TensorFlow 2.21,
    ``context.function_call_options``, thread-local), and a function keeps
    the options it was first instantiated with only if every later call
    passes the same, so every call of a trainer's functions goes through
    here. Without the private options, functions run with the rewrites.
    """
    try:
        ctx, before, options = _call_options_without_rewrites()
    except GONE:
        yield
        return
    ctx.function_call_options = options
    try:
        yield
    finally:
        ctx.function_call_options = before


def _call_options_without_rewrites():
    """The eager context, its current call options, and those options without Grappler (private)."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    ctx = context.context()
    before = ctx.function_call_options
    config = config_pb2.ConfigProto()
    config.ParseFromString(before.config_proto_serialized)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    return ctx, before, context.FunctionCallOptions(executor_type=before.executor_type, config_proto=config)


def huber_delta(loss):
    """The ``delta`` of a Keras ``Huber`` loss, or None where it cannot be read.

    Keras 3.15's ``Huber.get_config`` leaves ``delta`` out; the loss keeps
    it in the private ``_fn_kwargs`` of its function wrapper.
    """
    delta = getattr(loss, "_fn_kwargs", {}).get("delta")
    return None if delta is None else float(delta)
