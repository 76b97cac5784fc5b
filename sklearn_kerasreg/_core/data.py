"""Data-side helpers of the estimator: seeds, splits, moments, standardization."""

import math
import numbers
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.model_selection import train_test_split

from .sparse import block_rows, dense_rows, is_sparse, sparse_moments

#: Rows per block when predicting, to bound temporary memory.
BLOCK_ROWS = 65536
#: Rows per block of a pass that reads each block more than once
#: (statistics, standardizing): small enough to stay in cache.
CACHE_ROWS = 8192
#: Rows per span of a pass split between threads. Spans are fixed, whatever
#: the thread count, so results are bitwise the same with any number of threads.
SPAN_ROWS = 65536


_pools = {}
_pools_lock = threading.Lock()


def _pool(threads):
    """A thread pool of ``threads`` workers kept for the process: starting
    threads for each pass cost about 2 ms a thread, a fifth of a 100k-row fit."""
    with _pools_lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="sklearn_kerasreg")
        return _pools[threads]


def in_spans(work, n, threads):
    """``work(start, stop)`` on consecutive spans of ``range(n)``, spread over threads; the results in order.

    NumPy's array operations release the GIL, so spans run in parallel.
    """
    edges = [*range(0, n, SPAN_ROWS), n]
    threads = min(threads, len(edges) - 1)
    if threads <= 1:
        return [work(a, b) for a, b in zip(edges[:-1], edges[1:])]
    return list(_pool(threads).map(work, edges[:-1], edges[1:]))


def draw_seeds(random_state):
    """Three seeds (weights, shuffles, split) without touching global random state."""
    if random_state is None:
        return np.random.default_rng().integers(0, 2**31 - 1, size=3).tolist()
    if isinstance(random_state, numbers.Integral):
        random_state = np.random.RandomState(random_state)
    return random_state.randint(0, 2**31 - 1, size=3).tolist()


def split(X, Y, w, fraction, seed):
    # At least one row on each side, as MLPRegressor(early_stopping=True)
    # allows: a single validation row is a noisy monitor, but it is the
    # user's choice of data and fraction.
    n_val = math.ceil(fraction * X.shape[0])
    if X.shape[0] - n_val < 1:
        raise ValueError(
            f"validation_fraction={fraction} of {X.shape[0]} samples leaves no samples to "
            "train on; lower validation_fraction, use more data or set early_stopping=False."
        )
    return train_test_split(X, Y, w, test_size=n_val, random_state=seed)


def weighted_moments(A, w, cross=False, threads=1):
    """Total weight, weighted column means and weighted sums of squared deviations.

    ``A`` is an array or a tuple of arrays with the same rows, taken as their
    columns side by side; the first may be sparse (``_core.sparse.sparse_moments``
    takes the moments then). With ``cross=True`` the sums of squares become the
    matrix of cross-products of deviations (its diagonal is the vector).
    One pass over the rows in blocks small enough to stay in cache: each
    block's moments are exact two-pass ones, merged with ``merge_moments``.
    Large data is split between up to ``threads`` threads.
    """
    parts = A if isinstance(A, tuple) else (A,)
    if is_sparse(parts[0]):
        return sparse_moments(parts[0], np.hstack(parts[1:]) if parts[1:] else np.empty((len(w), 0)), w, cross)
    n = parts[0].shape[0]
    edges = np.cumsum([0] + [a.shape[1] for a in parts])
    equal = bool(np.all(w == w[0]))
    ones = np.ones(min(n, CACHE_ROWS))

    def span(first, last):
        moments = (0.0, 0.0, 0.0)
        for start in range(first, last, CACHE_ROWS):
            stop = min(start + CACHE_ROWS, last)
            wb = ones[: stop - start] if equal else w[start:stop]
            total = float(stop - start) if equal else wb.sum()
            if total <= 0:
                continue
            # Sums as products with the weights: BLAS is faster than sum(axis=0).
            means = [(wb @ a[start:stop]) / total for a in parts]
            devs = [a[start:stop] - m for a, m in zip(parts, means)]
            weighted = devs if equal else [d * wb[:, None] for d in devs]
            if cross:
                # Block by block, without joining the parts into one array.
                m2 = np.empty((edges[-1], edges[-1]))
                for i, d in enumerate(devs):
                    for j in range(i, len(devs)):
                        product = d.T @ weighted[j]
                        m2[edges[i] : edges[i + 1], edges[j] : edges[j + 1]] = product
                        m2[edges[j] : edges[j + 1], edges[i] : edges[i + 1]] = product.T
            else:
                m2 = np.concatenate([np.einsum("ij,ij->j", d, wd) for d, wd in zip(devs, weighted)])
            if equal:
                total *= w[0]
                m2 *= w[0]
            moments = merge_moments(moments, (total, np.concatenate(means), m2))
        return moments

    moments = (0.0, 0.0, 0.0)
    for part in in_spans(span, n, threads):
        if part[0] > 0:
            moments = merge_moments(moments, part)
    return moments


def merge_moments(a, b):
    """Moments of two sets of rows combined (Chan et al.'s pairwise update,
    which stays accurate where running sums of squares would cancel)."""
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    n = n_a + n_b
    delta = mean_b - mean_a
    spread = np.outer(delta, delta) if np.ndim(m2_b) == 2 else delta**2
    return n, mean_a + delta * n_b / n, m2_a + m2_b + spread * (n_a * n_b / n)


def moments_to_stats(total, mean, m2):
    """Means and standard deviations from moments (1 for constant columns)."""
    scale = np.sqrt(m2 / total)
    tiny = 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))
    scale[scale <= tiny] = 1.0
    return mean, scale


def mean_one(w):
    """Weights rescaled to mean 1. Keras averages weighted losses over the
    sample count, so with these the loss is the weighted mean."""
    return w * (len(w) / w.sum())


def aligned_empty(shape, dtype, align=64):
    """``np.empty`` whose data starts on an ``align``-byte boundary.

    TensorFlow reads such an array in place (``_fixes.tensor_over``); NumPy
    itself only guarantees 16 bytes.
    """
    size = math.prod(shape) * np.dtype(dtype).itemsize
    raw = np.empty(size + align, dtype=np.uint8)
    start = -raw.ctypes.data % align
    return raw[start : start + size].view(dtype).reshape(shape)


def standardized(X, mean, scale, dtype=np.float64, threads=1, transform=None, out=None):
    """``((X - mean) / scale) @ transform`` in a new 64-byte-aligned array of ``dtype``.

    Built block by block through a small float64 buffer, so temporary
    memory stays bounded and each block is shifted, scaled and rotated
    while in cache; large data is split between up to ``threads`` threads.
    ``transform=None`` stands for the identity. ``out``, if given, is
    written instead of a new array. A sparse ``X`` is made dense a block of
    rows at a time (``_core.sparse.dense_rows``).
    """
    n = X.shape[0]
    width = X.shape[1] if transform is None else transform.shape[1]
    if out is None:
        out = aligned_empty((n, width), dtype)
    inverse = 1.0 / scale

    rows = block_rows(X, CACHE_ROWS)

    def span(first, last):
        buffer = np.empty((min(rows, last - first), X.shape[1]))
        for start in range(first, last, rows):
            stop = min(start + rows, last)
            block = buffer[: stop - start]
            np.subtract(dense_rows(X, start, stop), mean, out=block)
            if transform is None:
                np.multiply(block, inverse, out=out[start:stop], casting="same_kind")
            else:
                block *= inverse
                out[start:stop] = block @ transform

    in_spans(span, n, threads)
    return out
