"""Checks of a fit's inputs and parameters, made before anything is split, built or trained."""

import math
import numbers

import numpy as np

from ._backends.runtime import cap_tensorflow_threads, check_keras_backend
from ._core.sparse import FLOAT32_COLUMNS, as_csr, is_sparse
from ._fixes import check_sample_weight, validate_data

#: The sparse formats taken as they are; any other is converted to the first.
SPARSE_FORMATS = ("csr", "csc", "coo")

#: Routed parameters that must be a positive finite number when they are a number.
_POSITIVE_ROUTED = ("optimizer__learning_rate", "loss__delta")


def check_fit_data(estimator, X, y, sample_weight, *, reset, n_outputs=None, min_samples=1):
    """Checked float64 ``X``, 2-D ``Y``, weights, and whether ``y`` was 1-D.

    ``reset`` records ``X``'s features on ``estimator`` (as scikit-learn's
    ``validate_data`` does); otherwise ``X`` must have the features it
    recorded, and ``Y`` ``n_outputs`` targets. A sparse ``X`` comes back as
    a canonical CSR matrix (:func:`check_sparse`).
    """
    check_keras_backend()
    check_routed_params(estimator)
    X, y = validate_data(
        estimator, X, y, reset=reset, multi_output=True, y_numeric=True, dtype=np.float64,
        accept_sparse=SPARSE_FORMATS,
    )
    X = check_sparse(estimator, X)
    if X.shape[0] < min_samples:
        raise ValueError(f"Found {X.shape[0]} sample(s); at least {min_samples} are needed to fit.")
    sample_weight, Y = check_weights_and_targets(X, y, sample_weight, n_outputs)
    cap_tensorflow_threads()
    return X, Y, sample_weight, y.ndim == 1


def check_sparse(estimator, X):
    """``X`` as ``fit`` uses it: a sparse ``X`` as a canonical CSR matrix, if the network can read it."""
    if not is_sparse(X):
        return X
    if estimator.model is not None:
        raise TypeError(
            "Sparse data was passed for X, but a model of your own reads dense inputs: only the built-in "
            "network (model=None, with hidden_layer_sizes for an MLP) trains on sparse X. Pass "
            "X.toarray() if it fits in memory."
        )
    if X.shape[1] > FLOAT32_COLUMNS:
        raise ValueError(
            f"Sparse X has {X.shape[1]} columns; the network reads at most {FLOAT32_COLUMNS} "
            "(its column numbers are float32). Hash the features into fewer columns."
        )
    return as_csr(X)


def check_validation_data(estimator, X_val, y_val, sample_weight_val, n_outputs, sparse=False):
    """``X_val``, ``y_val`` and their weights checked like the training data, or three Nones.

    ``X_val`` comes back in the training data's kind: a CSR matrix when
    ``sparse``, else dense (a sparse ``X_val`` for dense training data is
    made dense, as the network then reads dense rows).
    """
    if X_val is None and y_val is None:
        if sample_weight_val is not None:
            raise ValueError("sample_weight_val is given without X_val and y_val.")
        return None, None, None
    if X_val is None or y_val is None:
        given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
        raise ValueError(f"{given} is given but {missing} is not; pass both.")
    if not estimator.early_stopping:
        raise ValueError(
            "X_val and y_val are only used for early stopping, which is off; set "
            "early_stopping=True to monitor them."
        )
    try:
        X_val, y_val = validate_data(
            estimator, X_val, y_val, reset=False, multi_output=True, y_numeric=True, dtype=np.float64,
            accept_sparse=SPARSE_FORMATS,
        )
        weights, Y_val = check_weights_and_targets(X_val, y_val, sample_weight_val)
        if sparse:
            X_val = check_sparse(estimator, X_val if is_sparse(X_val) else as_csr(X_val))
        elif is_sparse(X_val):
            X_val = X_val.toarray()
    except ValueError as exc:
        raise ValueError(f"Invalid validation data (X_val, y_val, sample_weight_val): {exc}") from None
    if Y_val.shape[1] != n_outputs:
        raise ValueError(f"y_val has {Y_val.shape[1]} target(s) but y has {n_outputs}.")
    return X_val, Y_val, weights


def check_weights_and_targets(X, y, sample_weight, n_outputs=None):
    """Validated float64 weights, and ``y`` as a 2-D array of targets (``n_outputs`` of them, if given)."""
    if y.dtype.kind not in "biuf":
        # y_numeric converts object arrays only; strings would reach Keras.
        raise ValueError(f"y must be numeric, got an array of dtype {y.dtype} (strings?).")
    sample_weight = check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if not np.all(np.isfinite(sample_weight)):
        raise ValueError("sample_weight contains NaN or infinity.")
    if sample_weight.sum() <= 0:
        raise ValueError("sample_weight sums to zero; at least one sample needs a positive weight.")
    Y = y.reshape(-1, 1) if y.ndim == 1 else y
    if n_outputs is not None and Y.shape[1] != n_outputs:
        raise ValueError(f"y has {Y.shape[1]} target(s) but the fitted model predicts {n_outputs}.")
    return sample_weight, Y


def check_routed_params(estimator):
    # Keras accepts a negative or NaN learning rate and trains uphill.
    for name in _POSITIVE_ROUTED:
        value = getattr(estimator, name, None)
        if value is None or not isinstance(value, (numbers.Number, str)):
            continue  # unset, or a schedule object
        if (
            isinstance(value, (bool, str, complex))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}.")


def check_hidden_layer_sizes(hidden_layer_sizes, model):
    """``hidden_layer_sizes`` as a tuple of ints."""
    sizes = [hidden_layer_sizes] if isinstance(hidden_layer_sizes, numbers.Integral) else list(hidden_layer_sizes)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must contain positive integers, got {hidden_layer_sizes!r}.")
    if sizes and model is not None:
        raise ValueError("hidden_layer_sizes applies to the built-in network; it cannot be combined with model.")
    return tuple(int(s) for s in sizes)
