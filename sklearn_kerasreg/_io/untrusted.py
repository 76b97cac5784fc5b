"""Reading a saved estimator that may be hostile: checked JSON and fitted state, a Keras model in safe mode.

Each function takes ``fail``, which turns a problem into the ``ValueError``
that names the file (``persistence.load_estimator``).
"""

import io
import json
import math
import os
import tempfile
import zipfile

import numpy as np

#: The format this package writes and reads.
FORMAT = "sklearn_kerasreg.estimator"
FORMAT_VERSION = 2
#: Versions this package reads. Version 1 files hold no training state:
#: training continues from their model's weights with a new optimizer.
READABLE_VERSIONS = (1, 2)
#: Keras classes that carry or load code; refused anywhere in the model config.
_CODE_CLASSES = {"Lambda", "__lambda__", "TFSMLayer", "TorchModuleWrapper"}
_KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}


def decode(value):
    """The parameter value a JSON value saved (the inverse of ``persistence._encode``)."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a parameter is NaN or infinite")
        return value
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict) and list(value) == ["tuple"] and isinstance(value["tuple"], list):
        return tuple(decode(v) for v in value["tuple"])
    raise ValueError(f"unexpected parameter value {value!r}")


def read_member(archive, name, fail):
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        # zlib.error is an Exception subclass raised for corrupt deflate data.
        raise fail(f"member {name} is damaged or truncated ({exc}).") from None
    except Exception as exc:
        raise fail(f"member {name} is damaged or truncated ({type(exc).__name__}: {exc}).") from None


def parse_json(raw, name, fail):
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise fail(f"member {name} is not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise fail(f"member {name} must hold a JSON object.")
    return value


def check_header(doc, name, fail):
    if doc.get("format") != FORMAT:
        raise fail(f"member {name} is not a {FORMAT} document.")
    version = doc.get("format_version")
    if version not in READABLE_VERSIONS:
        raise fail(
            f"format version {version!r} is not supported (this sklearn_kerasreg reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))})."
        )
    return version


def _is_int(value, minimum):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_floats(value, length=None):
    return (
        isinstance(value, list)
        and (length is None or len(value) == length)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )


def check_fitted(fitted, fail):
    if not isinstance(fitted, dict):
        raise fail("'fitted' must be an object.")
    p, k = fitted.get("n_features_in_"), fitted.get("n_outputs")
    if not _is_int(p, 1) or not _is_int(k, 1):
        raise fail("'n_features_in_' and 'n_outputs' must be positive integers.")
    if not isinstance(fitted.get("y_1d"), bool) or (fitted["y_1d"] and k != 1):
        raise fail("'y_1d' must be a boolean, and true only for one output.")
    scaling = fitted.get("scaling")
    if not (
        isinstance(scaling, list)
        and len(scaling) == 4
        and all(_is_floats(a, n) for a, n in zip(scaling, (p, p, k, k)))
        and all(math.isfinite(v) for a in scaling for v in a)
        and all(v > 0 for a in scaling[1::2] for v in a)
    ):
        raise fail(f"'scaling' must be 4 lists of finite numbers of lengths {p}, {p}, {k}, {k}, scales positive.")
    whitening = fitted.get("whitening")
    if whitening is not None and not (
        isinstance(whitening, dict)
        and isinstance(whitening.get("transform"), list)
        and 1 <= len(whitening["transform"]) == p
        and all(_is_floats(row, len(whitening["transform"][0])) for row in whitening["transform"])
        and isinstance(whitening.get("inverse"), list)
        and len(whitening["inverse"]) == len(whitening["transform"][0])
        and all(_is_floats(row, p) for row in whitening["inverse"])
        and all(math.isfinite(v) for rows in (whitening["transform"], whitening["inverse"]) for r in rows for v in r)
        and isinstance(whitening.get("condition"), (int, float))
    ):
        raise fail(f"'whitening' must be null or a transform of {p} rows, its inverse and a condition number.")
    names = fitted.get("feature_names_in_")
    if names is not None and not (
        isinstance(names, list) and len(names) == p and all(isinstance(n, str) for n in names)
    ):
        raise fail(f"'feature_names_in_' must be null or {p} strings.")
    if not _is_floats(fitted.get("loss_curve_")):
        raise fail("'loss_curve_' must be a list of numbers.")
    val = fitted.get("validation_loss_curve_")
    if val is not None and not _is_floats(val):
        raise fail("'validation_loss_curve_' must be null or a list of numbers.")
    if not _is_int(fitted.get("n_iter_"), 0):
        raise fail("'n_iter_' must be a non-negative integer.")
    if fitted.get("loss_") is not None and not _is_floats([fitted["loss_"]]):
        raise fail("'loss_' must be null or a number.")
    for curve in ("loss_curve_", "validation_loss_curve_"):
        name = curve.removesuffix("_") + "_scales"
        scales = fitted.get(name)
        if scales is not None and not (
            isinstance(scales, list)
            and len(scales) == len(fitted[curve] or ())
            and all(s is None or (_is_floats([s]) and math.isfinite(s) and s > 0) for s in scales)
        ):
            raise fail(
                f"'{name}' must be null or a list of nulls and positive numbers, one per value of '{curve}'."
            )
    return fitted


def check_training_state(doc, arrays, fail):
    """The training state's fields (``doc``) and arrays (``arrays``, from ``state.npz``), checked."""
    if not isinstance(doc, dict):
        raise fail("'training_state' must be an object.")
    counts = doc.get("counts")
    if not (isinstance(counts, dict) and sorted(counts) == ["optimizer", "others", "weights"]
            and all(_is_int(n, 0) for n in counts.values()) and counts["weights"] >= 1):
        raise fail("'training_state.counts' must give the number of weights, optimizer and other arrays.")
    expected = {f"{kind}_{i}" for kind, n in counts.items() for i in range(n)}
    if set(arrays) != expected:
        raise fail(f"state.npz must hold exactly the arrays {sorted(expected)}.")
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)) or (not name.startswith("optimizer") and (
            array.ndim < 1 or array.dtype.kind != "f"
        )):
            raise fail(f"state.npz array {name} must hold finite numbers (weights: floats, in one dimension or more).")
    for name in ("initial_rate", "learning_rate"):
        rate = doc.get(name)
        if rate is not None and not (isinstance(rate, (int, float)) and not isinstance(rate, bool)
                                     and math.isfinite(rate) and rate > 0):
            raise fail(f"'training_state.{name}' must be null or a positive number.")
    if not all(isinstance(doc.get(k), bool) for k in ("full_batch", "optimizer_state")):
        raise fail("'training_state.full_batch' and 'optimizer_state' must be booleans.")
    if not all(_is_int(doc.get(k), 0) and doc[k] < 2**31 for k in ("seed", "passes")):
        raise fail("'training_state.seed' and 'passes' must be integers from 0 to 2**31 - 1.")
    name = doc.get("optimizer_name")
    if name is not None and not isinstance(name, str):
        raise fail("'training_state.optimizer_name' must be null or a string.")
    arch = doc.get("architecture")
    sizes = arch.get("hidden_layer_sizes") if isinstance(arch, dict) else None
    if not (
        isinstance(arch, dict) and isinstance(arch.get("model"), str)
        and (sizes is None or (isinstance(sizes, list) and all(_is_int(n, 1) for n in sizes)))
        and (arch.get("activation") is None or isinstance(arch["activation"], str))
    ):
        raise fail("'training_state.architecture' must name the model, and give null or positive layer sizes "
                   "and null or an activation name.")
    return doc


def load_arrays(raw, fail):
    """The arrays of ``state.npz``: float32, float64, int32 or int64 only, each header checked against the
    bytes stored before anything is allocated, read without pickle."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version not in readers:
                        raise ValueError(f"{info.filename}: .npy version {version}")
                    shape, _, dtype = readers[version](member)
                # Weights are floats; an optimizer counts its steps in int64 (int32 on JAX).
                if dtype not in (np.dtype("<f4"), np.dtype("<f8"), np.dtype("<i8"), np.dtype("<i4")):
                    raise ValueError(f"{info.filename} holds {dtype}, not a float or integer type a state uses")
                if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > info.file_size:
                    raise ValueError(f"{info.filename} declares more data than it holds")
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise fail(f"member state.npz is not a valid array archive ({exc}).") from None


def _code_classes(node):
    """Names of code-carrying classes anywhere in a Keras config."""
    found = set()
    if isinstance(node, dict):
        if node.get("class_name") in _CODE_CLASSES:
            found.add(node["class_name"])
        for value in node.values():
            found |= _code_classes(value)
    elif isinstance(node, list):
        for value in node:
            found |= _code_classes(value)
    return found


def load_model(raw, fail):
    import keras

    from .._backends.runtime import backend_scope
    from .._fixes import keras_safe_mode

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as inner:
            names = inner.namelist()
            extra = [n for n in names if n not in _KERAS_MEMBERS and not n.startswith("assets/")]
            if "config.json" not in names or extra:
                raise fail(f"model.keras is not a plain Keras model file (members {names}).")
            config = json.loads(inner.read("config.json").decode("utf-8"))
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise fail(f"model.keras is not a valid Keras file ({exc}).") from None
    code = _code_classes(config)
    if code:
        raise fail(
            f"model.keras contains {', '.join(sorted(code))} layers or functions, which would run code "
            "when loaded; refusing to load it."
        )
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.keras")
        with open(model_path, "wb") as f:
            f.write(raw)
        try:
            # On JAX, float64 weights need jax_enable_x64 while they are made.
            with keras_safe_mode(True), backend_scope():
                return keras.saving.load_model(model_path, compile=False, safe_mode=True)
        except Exception as exc:
            raise fail(f"model.keras could not be loaded in Keras safe mode ({type(exc).__name__}: {exc}).") from None
