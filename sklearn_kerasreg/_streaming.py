"""Training from data that arrives in chunks: files read piece by piece, Dask collections.

Memory is bounded by the size of one chunk: each chunk is read, standardized,
used for one epoch of mini-batch steps (:meth:`KerasLinearRegressor.partial_fit`)
and dropped before the next is read.
"""

import numbers
import sys
import time

import numpy as np
from sklearn.utils import check_array, check_X_y

from ._core.data import merge_moments, weighted_moments
from ._core.engine import LR_DROP_FACTOR
from ._core.sparse import as_csr, is_sparse
from ._core.whitening import MAX_WHITENED_FEATURES
from ._fitting import scale_learning_rate, unchanged_on_error
from ._validation import SPARSE_FORMATS


def train_on_chunks(estimator, chunks, *, n_passes=5, target=None, tol=1e-4, verbose=0):
    """Train a :class:`KerasLinearRegressor` on data too large to hold in memory.

    Makes ``n_passes`` passes over the chunks, calling ``partial_fit`` once per
    chunk. Before the first pass, when the estimator is unfitted and the
    source can be read more than once, one extra pass accumulates the exact
    (weighted) means and cross-products of the inputs and targets, so the
    whitening (or standardization) is that of the whole data and not of the
    first chunk. After
    each pass whose mean loss fails to improve on the best pass by ``tol``, the
    learning rate is divided by 5, as ``fit`` does when the loss stalls.

    Parameters
    ----------
    estimator : KerasLinearRegressor
        Trained in place; it may already be fitted (training then continues).
    chunks : callable, iterable, Dask DataFrame or pair of Dask arrays
        Where the data comes from:

        - a callable returning a fresh iterable of chunks at each call, for
          example ``lambda: pandas.read_csv(path, chunksize=100_000)``;
        - an iterable that can be iterated repeatedly (a list of chunks); a
          one-shot iterator (a ``read_csv`` reader, a generator) only with
          ``n_passes=1``;
        - a Dask DataFrame (one chunk per partition, ``target`` names the
          target column) or a pair ``(X, y)`` of Dask arrays (one chunk per
          block of rows).

        A chunk is ``(X, y)``, ``(X, y, sample_weight)``, or a pandas DataFrame
        holding the features and the ``target`` column.
    n_passes : int, default=5
        Number of passes (epochs) over the whole data.
    target : str, default=None
        Name of the target column when chunks are DataFrames.
    tol : float, default=1e-4
        Minimum decrease of a pass's mean loss, on the standardized problem
        (``loss_curve_`` divided by the factor it was converted with), that
        counts as progress.
    verbose : int, default=0
        Print one line per pass to stderr when positive.

    Returns
    -------
    estimator : KerasLinearRegressor
        The estimator, trained.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kerasreg import KerasLinearRegressor, train_on_chunks
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(4000, 3))
    >>> y = X @ [1.0, -2.0, 0.5] + 3
    >>> chunks = [(X[i : i + 1000], y[i : i + 1000]) for i in range(0, 4000, 1000)]
    >>> reg = train_on_chunks(KerasLinearRegressor(random_state=0), chunks, n_passes=10)
    >>> np.round(reg.coef_, 2), round(reg.intercept_, 2)
    (array([ 1. , -2. ,  0.5]), 3.0)
    """
    if not (isinstance(n_passes, numbers.Integral) and n_passes >= 1):
        raise ValueError(f"n_passes must be a positive integer, got {n_passes!r}.")
    read = _reader(chunks, n_passes, target)
    # A run that fails, on a bad chunk or an interrupt, leaves the estimator as it was.
    with unchanged_on_error(estimator):
        _passes(estimator, read, n_passes, tol, verbose)
    return estimator


def _passes(estimator, read, n_passes, tol, verbose):
    """The passes of :func:`train_on_chunks`."""
    moments = None
    if not hasattr(estimator, "model_") and estimator.standardize and n_passes > 1:
        moments = _moments(read())
    best = np.inf
    for pass_number in range(n_passes):
        start = time.perf_counter()
        total, rows = 0.0, 0
        for X, y, weight in read():
            # Only the first call of an unfitted estimator uses the moments.
            estimator._partial_fit(X, y, sample_weight=weight, moments=moments)
            moments = None
            n = X.shape[0] if hasattr(X, "shape") else len(X)  # a sparse matrix has no len()
            total += estimator.loss_curve_[-1] * n
            rows += n
        if rows == 0:
            raise ValueError("The chunks held no rows.")
        loss = total / rows
        # tol is in the training units; the curve is in the caller's when it has a scale.
        trained = loss / (estimator._loss_curve_scales[-1] or 1.0)
        if trained > best - tol:
            scale_learning_rate(estimator, 1 / LR_DROP_FACTOR)
        best = min(best, trained)
        if verbose:
            print(
                f"pass {pass_number + 1}/{n_passes}: {rows} rows, mean loss {loss:.6g}, "
                f"{time.perf_counter() - start:.2f} s",
                file=sys.stderr,
                flush=True,
            )


def _reader(chunks, n_passes, target):
    """A function that returns a new iterator of ``(X, y, sample_weight)`` for each pass."""
    module = type(chunks).__module__ or ""
    if module.startswith("dask") and hasattr(chunks, "partitions"):
        return lambda: _items(_dask_partitions(chunks), target)
    if isinstance(chunks, tuple) and len(chunks) == 2 and type(chunks[0]).__module__.startswith("dask"):
        return lambda: _items(_dask_blocks(*chunks), target)
    if callable(chunks):
        return lambda: _items(chunks(), target)
    if not hasattr(chunks, "__iter__"):
        raise TypeError(f"chunks must be iterable or a function returning an iterable, got {type(chunks).__name__}.")
    if iter(chunks) is chunks and n_passes > 1:
        raise TypeError(
            f"{type(chunks).__name__} can be read only once, but n_passes={n_passes}. Pass a function "
            "that returns a new iterator for each pass, e.g. lambda: pandas.read_csv(path, chunksize=100_000)."
        )
    return lambda: _items(chunks, target)


def _items(chunks, target):
    for chunk in chunks:
        if hasattr(chunk, "columns"):  # a pandas DataFrame
            if target is None or target not in chunk.columns:
                raise ValueError(
                    f"A DataFrame chunk needs target= naming its target column; got target={target!r} "
                    f"and columns {list(chunk.columns)}."
                )
            yield chunk.drop(columns=[target]), chunk[target], None
        elif isinstance(chunk, (tuple, list)) and len(chunk) in (2, 3):
            yield chunk[0], chunk[1], chunk[2] if len(chunk) == 3 else None
        else:
            raise TypeError(
                "Each chunk must be (X, y), (X, y, sample_weight) or a DataFrame with a target column, "
                f"got {type(chunk).__name__}."
            )


def _dask_partitions(frame):
    for i in range(frame.npartitions):
        yield frame.partitions[i].compute()


def _dask_blocks(X, y):
    X = X.rechunk({1: -1}) if X.ndim == 2 else X
    y = y.rechunk({0: X.chunks[0]})
    for i in range(X.numblocks[0]):
        yield X.blocks[i].compute(), y.blocks[i].compute()


def _moments(items):
    """Exact weighted moments of ``[X, y]`` with cross-products (``weighted_moments(..., cross=True)``),
    one chunk at a time: what whitening or standardizing all the data needs."""
    moments = None
    for number, (X, y, weight) in enumerate(items, start=1):
        try:
            # The checks partial_fit makes of each chunk, before any statistic is taken.
            X, y = check_X_y(
                X, y, multi_output=True, y_numeric=True, dtype=np.float64, accept_sparse=SPARSE_FORMATS
            )
            w = np.ones(X.shape[0]) if weight is None else check_array(weight, ensure_2d=False, dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"Chunk {number}: {exc}") from None
        Y = y
        if w.sum() <= 0:
            continue
        X = as_csr(X) if is_sparse(X) else X.reshape(len(X), -1)
        # Cross-products only where they whiten: a wide (text-like) X would need a p x p matrix.
        cross = X.shape[1] <= MAX_WHITENED_FEATURES
        chunk = weighted_moments((X, Y.reshape(len(Y), -1)), w, cross=cross)
        moments = chunk if moments is None else merge_moments(moments, chunk)
    if moments is None:
        raise ValueError("The chunks held no rows with positive weight.")
    return moments
