"""Pickling an estimator whose parameters plain pickle cannot store.

``GridSearchCV(n_jobs=2)`` sends estimators to its workers with cloudpickle,
so a ``LambdaCallback`` parameter works there; plain ``pickle.dump`` of the
same estimator must not fail on it either.
"""

import numbers
import pickle
import warnings

import numpy as np


class _Cloudpickled:
    """A parameter value pickled by cloudpickle, restored by :func:`unpickled_state`."""

    def __init__(self, data):
        self.data = data


class _InBackendScope:
    """A Keras model pickled on its own, restored by :func:`unpickled_state` inside
    ``_backends.runtime.backend_scope``: on JAX, float64 weights built outside it become float32."""

    def __init__(self, data):
        self.data = data


def _is_plain(value):
    """True for values every pickler handles: None, numbers, strings and tuples/lists of them."""
    if value is None or isinstance(value, (str, bytes, numbers.Number, np.generic)):
        return True
    return isinstance(value, (tuple, list)) and all(_is_plain(v) for v in value)


def picklable_state(estimator, state):
    """``state`` with parameters plain pickle cannot store made storable.

    Such a parameter (a lambda callback, a local builder function) travels as
    cloudpickle bytes; failing that it is dropped (set to None) with a
    warning, and the names are kept in ``_dropped_params``. ``model_``
    travels as its own pickle, loaded back inside ``_backends.runtime.backend_scope``.
    """
    if "model_" in state:
        # Wrapped on every backend: the pickle may be loaded on another.
        state["model_"] = _InBackendScope(pickle.dumps(state["model_"]))
    dropped = []
    for name in estimator.get_params(deep=False):
        value = state.get(name)
        if _is_plain(value):
            continue
        try:
            pickle.dumps(value)
        except Exception:
            try:
                import cloudpickle  # a joblib dependency, so a scikit-learn one

                state[name] = _Cloudpickled(cloudpickle.dumps(value))
            except Exception:
                state[name] = None
                dropped.append(name)
    if dropped:
        warnings.warn(
            f"Parameter(s) {', '.join(dropped)} of {type(estimator).__name__} cannot be pickled "
            "and were saved as None; set them again after loading.",
            UserWarning,
        )
        state["_dropped_params"] = tuple(sorted({*state.get("_dropped_params", ()), *dropped}))
    return state


def unpickled_state(estimator, state):
    """Inverse of :func:`picklable_state`: cloudpickled parameters loaded back."""
    from ._backends.runtime import backend_scope

    if isinstance(state.get("model_"), _InBackendScope):
        with backend_scope():
            state["model_"] = pickle.loads(state["model_"].data)
    dropped = []
    for name, value in state.items():
        if isinstance(value, _Cloudpickled):
            try:
                state[name] = pickle.loads(value.data)
            except Exception as exc:
                state[name] = None
                dropped.append(name)
                warnings.warn(
                    f"Parameter {name} of {type(estimator).__name__} could not be unpickled "
                    f"({exc!r}) and is None; set it again.",
                    UserWarning,
                )
    if dropped:
        state["_dropped_params"] = tuple(sorted({*state.get("_dropped_params", ()), *dropped}))
    return state
