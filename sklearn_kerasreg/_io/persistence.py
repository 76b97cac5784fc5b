"""Save and load a fitted estimator without pickle.

The file is a zip archive of four members (format 1 had no ``state.npz``):

``model.keras``
    ``model_`` in the Keras native format (itself a zip of ``config.json``,
    ``metadata.json`` and ``model.weights.h5``), loaded back with Keras's
    safe mode forced on.
``estimator.json``
    The format version, the package version, the class, the parameters that
    are plain JSON values, and the fitted state that is not in the model: the
    scaling, ``n_features_in_``, ``feature_names_in_``, the loss curves,
    ``n_iter_``.
``state.npz``
    The training state's arrays (weights in the training network's
    coordinates, optimizer variables), read with ``allow_pickle=False``;
    its other fields are in ``estimator.json``. A loaded estimator continues
    training exactly as the one saved would have.
``manifest.json``
    The SHA-256 of the other members.

Loading runs no code from the file: nothing is unpickled, JSON is only
parsed, every field is checked for type and shape, a model configuration that
names a ``Lambda`` layer, a serialized Python function, a ``TFSMLayer`` or a
``TorchModuleWrapper`` is refused before Keras reads it, and Keras loads the
rest in safe mode even if the process enabled unsafe deserialization. The
manifest catches a corrupted, truncated or carelessly edited file before any
member is parsed; it is a checksum, not a signature: someone who can write the
file can also rewrite the hashes, which is why the checks above do not rely on
it.
"""

import dataclasses
import hashlib
import io
import json
import math
import numbers
import os
import tempfile
import warnings
import zipfile

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._core.continuation import Architecture, TrainingState
from .._core.engine import State
from .._core.whitening import Whitening
from .untrusted import (
    FORMAT,
    FORMAT_VERSION,
    check_fitted,
    check_header,
    check_training_state,
    decode,
    load_arrays,
    load_model,
    parse_json,
    read_member,
)

_MANIFEST = "manifest.json"
_ESTIMATOR = "estimator.json"
_MODEL = "model.keras"
_STATE = "state.npz"
#: Largest member accepted, uncompressed (a zip bomb is refused before inflating).
_MAX_BYTES = {_MANIFEST: 1 << 16, _ESTIMATOR: 1 << 28, _MODEL: 1 << 34, _STATE: 1 << 34}
#: The members of each format version's archive.
_MEMBERS = {1: {_MANIFEST, _ESTIMATOR, _MODEL}, 2: {_MANIFEST, _ESTIMATOR, _MODEL, _STATE}}


def save_estimator(estimator, path, *, drop_unsafe_params=False):
    """Save a fitted :class:`KerasLinearRegressor` to ``path`` without pickle.

    Parameters
    ----------
    estimator : KerasLinearRegressor
        A fitted estimator.
    path : str or path-like
        Destination; written atomically (a partial file is never left behind).
    drop_unsafe_params : bool, default=False
        Parameters whose values are not plain data (a model builder or template,
        callbacks, an optimizer or loss object, a ``RandomState``) cannot be
        stored without code. By default saving them raises ``ValueError``
        naming them; with True they are stored as their defaults, with a
        warning. Predictions and ``coef_`` do not depend on them.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from sklearn_kerasreg import KerasLinearRegressor, load_estimator, save_estimator
    >>> X = np.linspace(0, 50, 51).reshape(-1, 1)
    >>> reg = KerasLinearRegressor(random_state=0).fit(X, 2 * X.ravel() + 5)
    >>> path = os.path.join(tempfile.mkdtemp(), "reg.kreg")
    >>> save_estimator(reg, path)
    >>> bool(np.array_equal(load_estimator(path).predict(X), reg.predict(X)))
    True
    """
    from .._estimator import KerasLinearRegressor
    from .._version import __version__

    if not isinstance(estimator, KerasLinearRegressor):
        raise TypeError(f"save_estimator saves a KerasLinearRegressor, got {type(estimator).__name__}.")
    check_is_fitted(estimator)
    if getattr(estimator, "_training_state", None) is None:
        raise ValueError(
            "This estimator holds no training state (it was loaded from an older file or pickle); "
            "fit it again to save it."
        )
    params, unsafe = {}, []
    for name, value in estimator.get_params(deep=False).items():
        try:
            params[name] = _encode(value)
        except TypeError:
            unsafe.append(name)
    if unsafe and not drop_unsafe_params:
        raise ValueError(
            f"Parameter(s) {', '.join(unsafe)} are not plain data and cannot be saved without code; "
            "pass drop_unsafe_params=True to save them as their defaults, or use pickle."
        )
    if unsafe:
        warnings.warn(
            f"Parameter(s) {', '.join(unsafe)} are not plain data; they are saved as their defaults.",
            UserWarning,
        )
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "class": type(estimator).__name__,
        "params": params,
        "dropped_params": sorted({*unsafe, *getattr(estimator, "_dropped_params", ())}),
        "fitted": _fitted_state(estimator),
    }
    _write_archive(os.fspath(path), estimator.model_, state, _state_arrays(estimator._training_state))


def load_estimator(path):
    """Load an estimator written by :func:`save_estimator`, running no code from the file.

    Raises
    ------
    ValueError
        Naming the file and the problem, for anything that is not an intact
        file of a known format version: not a zip, a truncated or tampered
        member, a hash mismatch, malformed JSON or fields, a model that would
        need code to load.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_kerasreg import load_estimator
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.kreg")
    >>> with open(path, "w") as f:
    ...     _ = f.write("not a model")
    >>> load_estimator(path)
    Traceback (most recent call last):
    ...
    ValueError: ...notes.kreg: not a saved estimator: not a zip archive (File is not a zip file).
    """
    from .._estimator import KerasLinearRegressor

    path = os.fspath(path)

    def fail(problem):
        return ValueError(f"{path}: {problem}")

    data, version = _read_archive(path, fail)
    state = parse_json(data[_ESTIMATOR], _ESTIMATOR, fail)
    if check_header(state, _ESTIMATOR, fail) != version:
        raise fail("estimator.json and the manifest name different format versions.")
    if state.get("class") != KerasLinearRegressor.__name__:
        raise fail(f"holds a {state.get('class')!r}, not a KerasLinearRegressor.")
    params = state.get("params")
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise fail("'params' must be an object.")
    try:
        params = {name: decode(value) for name, value in params.items()}
        estimator = KerasLinearRegressor()
        unknown = set(params) - set(estimator.get_params(deep=False)) - {
            k for k in params if "__" in k
        }
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}")
        estimator.set_params(**params)
        from .._fixes import validate_params

        validate_params(estimator)
    except (TypeError, ValueError) as exc:
        raise fail(f"invalid parameters: {exc}") from None
    fitted = check_fitted(state.get("fitted"), fail)
    dropped = state.get("dropped_params", [])
    if not isinstance(dropped, list) or not all(isinstance(n, str) for n in dropped):
        raise fail("'dropped_params' must be a list of names.")

    model = load_model(data[_MODEL], fail)
    from .._core.models import check_shapes

    try:
        check_shapes(model, fitted["n_features_in_"], fitted["n_outputs"])
    except ValueError as exc:
        raise fail(f"the model does not match the fitted state: {exc}") from None

    _restore_fitted(estimator, model, fitted, dropped)
    estimator._training_state = _loaded_state(path, version, estimator, model, fitted, data, fail)
    return estimator


# -- helpers -----------------------------------------------------------------
def _encode(value):
    """A JSON value for a parameter, or TypeError if it is not plain data."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value):
        return float(value)
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    raise TypeError(type(value).__name__)


def _fitted_state(estimator):
    """The fitted state that ``model_`` does not hold, as JSON values."""
    whitening = estimator._training_state.whitening
    return {
        "n_features_in_": int(estimator.n_features_in_),
        "feature_names_in_": (
            [str(n) for n in estimator.feature_names_in_] if hasattr(estimator, "feature_names_in_") else None
        ),
        "n_outputs": int(estimator._n_outputs),
        "y_1d": bool(estimator._y_1d),
        "scaling": [np.asarray(a, dtype=np.float64).tolist() for a in whitening.scaling],
        # The whitening of the single neuron: a warm start continues in its coordinates.
        "whitening": None if whitening.transform is None else {
            "transform": whitening.transform.tolist(),
            "inverse": whitening.inverse.tolist(),
            "condition": float(whitening.condition),
        },
        "training_state": _state_fields(estimator._training_state),
        "loss_curve_": [float(v) for v in estimator.loss_curve_],
        "validation_loss_curve_": (
            None
            if estimator.validation_loss_curve_ is None
            else [float(v) for v in estimator.validation_loss_curve_]
        ),
        "n_iter_": int(estimator.n_iter_),
        # JSON has no NaN: a format 1 file's unknown loss_ is saved as null.
        "loss_": float(estimator.loss_) if np.isfinite(estimator.loss_) else None,
        # What took each curve value into the caller's units (None: it is in the training units).
        "loss_curve_scales": list(estimator._loss_curve_scales),
        "validation_loss_curve_scales": (
            None if estimator._validation_loss_curve_scales is None
            else list(estimator._validation_loss_curve_scales)
        ),
    }


def _restore_fitted(estimator, model, fitted, dropped):
    """Set on ``estimator`` the fitted state that ``_fitted_state`` saved, checked (but the training state)."""
    estimator.model_ = model
    estimator._y_1d = fitted["y_1d"]
    estimator._n_outputs = fitted["n_outputs"]
    estimator.n_features_in_ = fitted["n_features_in_"]
    if fitted["feature_names_in_"] is not None:
        estimator.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
    estimator.loss_curve_ = fitted["loss_curve_"]
    estimator.validation_loss_curve_ = fitted["validation_loss_curve_"]
    estimator.history_ = {"loss": list(fitted["loss_curve_"])}
    if fitted["validation_loss_curve_"] is not None:
        estimator.history_["val_loss"] = list(fitted["validation_loss_curve_"])
    estimator.n_iter_ = fitted["n_iter_"]
    # Format 1 kept neither: its curves are on the training problem.
    loss = fitted.get("loss_")
    estimator.loss_ = float("nan") if loss is None else loss
    estimator._loss_curve_scales = fitted.get("loss_curve_scales") or [None] * len(fitted["loss_curve_"])
    val = fitted["validation_loss_curve_"]
    estimator._validation_loss_curve_scales = fitted.get("validation_loss_curve_scales") or (
        None if val is None else [None] * len(val)
    )
    if dropped:
        estimator._dropped_params = tuple(dropped)


def _loaded_state(path, version, estimator, model, fitted, data, fail):
    """The :class:`TrainingState` a file of ``version`` holds (format 1: made from its model)."""
    whitening = _whitening(fitted)
    if version == 1:
        warnings.warn(
            f"{path} was saved in format 1, without the training state: warm starts and partial_fit "
            "continue from the model's weights with a new optimizer (and mini-batch steps); its loss "
            "curves are on the standardized problem, and its loss_ is NaN. Save it again to keep the "
            "state from now on.",
            UserWarning,
        )
        try:
            return _state_from_model(estimator, model, fitted, whitening)
        except ValueError:
            # A user's network that is not a Dense stack: it predicts, and
            # continuing it says why it cannot (_fitting).
            return None
    arrays = load_arrays(data[_STATE], fail)
    doc = check_training_state(fitted.get("training_state"), arrays, fail)
    return _training_state(estimator, model, fitted, whitening, doc, arrays, fail)


def _state_fields(state):
    """The training state but its arrays, as JSON values (the arrays go to ``state.npz``)."""
    network, arch = state.network, state.architecture
    return {
        "counts": {"weights": len(network.weights), "optimizer": len(network.optimizer or ()),
                   "others": len(network.others or ())},
        "optimizer_state": network.optimizer is not None,
        "optimizer_name": network.optimizer_name,
        "learning_rate": network.learning_rate,
        "initial_rate": state.initial_rate,
        "full_batch": bool(state.full_batch),
        "seed": int(state.seed),
        "passes": int(state.passes),
        "architecture": {
            "model": arch.model,
            "hidden_layer_sizes": None if arch.hidden_layer_sizes is None else list(arch.hidden_layer_sizes),
            "activation": arch.activation,
        },
    }


def _state_arrays(state):
    """The training state's arrays, by name, for ``state.npz``."""
    network = state.network
    groups = {"weights": network.weights, "optimizer": network.optimizer or (), "others": network.others or ()}
    return {f"{kind}_{i}": np.asarray(a) for kind, arrays in groups.items() for i, a in enumerate(arrays)}


def _whitening(fitted):
    """The :class:`Whitening` of a saved estimator."""
    whitening = fitted.get("whitening") or {}
    return Whitening(
        *(np.asarray(a, dtype=np.float64) for a in fitted["scaling"]),
        **{k: np.asarray(whitening[k], dtype=np.float64) for k in ("transform", "inverse") if k in whitening},
        **({"condition": float(whitening["condition"])} if "condition" in whitening else {}),
    )


def _architecture(estimator, fitted, saved=None):
    """The :class:`Architecture` of a loaded estimator (``saved``: its fields that parameters do not hold)."""
    params = estimator.get_params(deep=False)
    hidden = tuple(estimator.hidden_layer_sizes) if params["model"] is None else None
    arch = Architecture.of({**params, "model": None}, hidden or (), fitted["n_outputs"])
    if saved is None:
        return arch
    sizes = saved.get("hidden_layer_sizes")
    return dataclasses.replace(
        arch, model=saved.get("model"), activation=saved.get("activation"),
        hidden_layer_sizes=None if sizes is None else tuple(sizes),
    )


def _training_state(estimator, model, fitted, whitening, doc, arrays, fail):
    """The :class:`TrainingState` of a format 2 file, checked against its model."""
    counts = doc["counts"]
    weights, optimizer, others = ([arrays[f"{kind}_{i}"] for i in range(counts[kind])]
                                  for kind in ("weights", "optimizer", "others"))
    saved = doc["architecture"]
    if len(others) > len(model.non_trainable_weights):
        raise fail("the training state has more other weights than the model.")
    shapes = [tuple(w.shape) for w in model.trainable_weights]
    if whitening.transform is not None:
        # The single neuron trains on whitened inputs: its kernel has one row per whitened input.
        shapes[0] = (whitening.n_inputs, *shapes[0][1:])
    if [tuple(w.shape) for w in weights] != shapes:
        raise fail("the training state's weights do not match the model.")
    network = State(
        weights, optimizer if doc["optimizer_state"] else None, doc["learning_rate"], others or None,
        doc["optimizer_name"],
    )
    return TrainingState(
        network, doc["initial_rate"], whitening, _architecture(estimator, fitted, saved),
        doc["full_batch"], doc["seed"], doc["passes"],
    )


def _state_from_model(estimator, model, fitted, whitening):
    """A training state for a format 1 file: its model's weights, a new optimizer, mini-batch steps."""
    from .._core.network import model_weights

    return TrainingState(
        State(model_weights(model, whitening)), None, whitening, _architecture(estimator, fitted),
        full_batch=False, seed=0,
    )


def _write_archive(path, model, state, arrays):
    """Write the archive of ``model``, ``state`` and ``arrays`` to ``path`` atomically: a failed save leaves none."""
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, _MODEL)
        model.save(model_path)
        with open(model_path, "rb") as f:
            members = {_MODEL: f.read()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    members[_STATE] = buffer.getvalue()
    members[_ESTIMATOR] = json.dumps(state, indent=1, sort_keys=True).encode()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
    }
    members[_MANIFEST] = json.dumps(manifest, indent=1, sort_keys=True).encode()

    fd, partial = tempfile.mkstemp(prefix=".partial-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in (_MANIFEST, _ESTIMATOR, _MODEL, _STATE):
                zf.writestr(name, members[name])
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise


def _read_archive(path, fail):
    """The members of the archive at ``path``, each checked against the manifest."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise fail(f"not a saved estimator: not a zip archive ({exc}).") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        version = next((v for v, members in _MEMBERS.items() if sorted(names) == sorted(members)), None)
        if version is None:
            raise fail(f"not a saved estimator: expected members {sorted(_MEMBERS[FORMAT_VERSION])}, found {names}.")
        for info in infos:
            if info.file_size > _MAX_BYTES[info.filename]:
                raise fail(f"member {info.filename} is implausibly large ({info.file_size} bytes).")
        data = {name: read_member(archive, name, fail) for name in names}

    manifest = parse_json(data[_MANIFEST], _MANIFEST, fail)
    if check_header(manifest, _MANIFEST, fail) != version:
        raise fail(f"the manifest's format version does not fit the members {sorted(names)}.")
    hashes = manifest.get("sha256")
    if not isinstance(hashes, dict) or sorted(hashes) != sorted(_MEMBERS[version] - {_MANIFEST}):
        raise fail("the manifest does not list the hashes of the other members.")
    for name, expected in hashes.items():
        if hashlib.sha256(data[name]).hexdigest() != expected:
            raise fail(
                f"member {name} does not match its SHA-256 in the manifest: the file was modified or damaged."
            )
    return data, version
