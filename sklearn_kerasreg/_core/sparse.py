"""Sparse inputs: their moments, dense blocks of their rows, and the padded rows a network reads.

A SciPy sparse ``X`` (CSR, CSC or COO, matrix or array) is held as one
canonical CSR matrix and never densified whole:

- its moments come from sparse products, centring them implicitly
  (:func:`sparse_moments`);
- whatever needs dense rows (whitening, the certificate's pass, the QR
  fallback, predicting with hidden layers) takes them a block at a time,
  of at most ``DENSE_BLOCK_BYTES`` (:func:`dense_rows`);
- a network that trains on the sparse rows themselves reads them as
  :func:`padded_rows`: each row's non-zeros as column numbers and values,
  padded to the widest row, which its first layer
  (``_core.models.sparse_rows_dense``) multiplies with its kernel by
  gathering the kernel's rows. Mini-batches are then rows of an ordinary
  array, and no step ever builds a dense batch.
"""

import numpy as np
import scipy.sparse as sp

#: Bytes of one dense block of a sparse matrix's rows, in float64.
DENSE_BLOCK_BYTES = 2**21
#: Column numbers travel as floats in a padded row: float32 holds integers exactly up to here.
FLOAT32_COLUMNS = 2**24


def is_sparse(X):
    return sp.issparse(X)


def as_csr(X):
    """``X`` as a float64 CSR matrix with sorted, unique entries per row (a copy only if needed)."""
    csr = sp.csr_matrix(X, dtype=np.float64) if not sp.isspmatrix_csr(X) or X.dtype != np.float64 else X
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr


def row_width(X):
    """The most non-zeros in a row of the CSR ``X`` (at least 1): the width of its padded rows."""
    return max(1, int(np.diff(X.indptr).max(initial=0)))


def block_rows(X, rows):
    """Rows per block of a pass over ``X``: ``rows``, or fewer for sparse ``X`` made dense a block at a time."""
    if not is_sparse(X):
        return rows
    return max(1, min(rows, DENSE_BLOCK_BYTES // (8 * max(1, X.shape[1]))))


def dense_rows(X, start, stop):
    """Rows ``start:stop`` of ``X`` as a dense array (a view for a dense ``X``)."""
    block = X[start:stop]
    return block.toarray() if is_sparse(block) else block


def sparse_moments(X, Y, w, cross=False):
    """``weighted_moments((X, Y), w, cross)`` for a CSR ``X`` and a dense ``Y``, with no dense copy of ``X``.

    The means are sparse products with the weights. A column's sum of squared
    deviations is taken exactly, over its stored entries, plus its mean squared
    times the weight of the rows where it is zero. Cross-products of two columns
    are ``X.T @ diag(w) @ X`` less ``total * mean mean.T``, and with the
    targets ``X.T @ (w * (Y - Y's mean))``: centring is implicit, so rounding is
    about eps times the uncentred products, as in a dense one-pass formula.
    """
    total = float(w.sum())
    p, k = X.shape[1], Y.shape[1]
    x_mean = (X.T @ w) / total
    y_mean = (w @ Y) / total
    Yc = Y - y_mean
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    w_stored = w[rows]
    stored_weight = np.bincount(X.indices, weights=w_stored, minlength=p)
    dev = X.data - x_mean[X.indices]
    x_m2 = np.bincount(X.indices, weights=w_stored * dev**2, minlength=p) + (total - stored_weight) * x_mean**2
    y_cross = Yc.T @ (Yc * w[:, None])
    means = np.concatenate([x_mean, y_mean])
    if not cross:
        return total, means, np.concatenate([x_m2, np.diag(y_cross)])
    m2 = np.empty((p + k, p + k))
    gram = (X.T @ X.multiply(w[:, None]).tocsr()).toarray()
    m2[:p, :p] = gram - total * np.outer(x_mean, x_mean)
    m2[np.arange(p), np.arange(p)] = x_m2
    xy = np.asarray(X.T @ (Yc * w[:, None]))
    m2[:p, p:], m2[p:, :p], m2[p:, p:] = xy, xy.T, y_cross
    return total, means, m2


def padded_rows(X, x_scale, dtype, width):
    """The network's inputs for the CSR ``X``, scaled by ``x_scale`` (not centred): ``(n, 2 * width)``.

    Row ``i`` holds its non-zeros' column numbers in its first ``width``
    entries and their values divided by ``x_scale`` in its last ``width``,
    padded with column 0 and value 0 (which add nothing).
    """
    from .data import aligned_empty  # data imports this module

    n = X.shape[0]
    # Aligned, as TensorFlow then reads it in place (_fixes.tensor_over).
    out = aligned_empty((n, 2 * width), dtype)
    out.fill(0)
    inverse = 1.0 / x_scale
    # A block of rows at a time, so that the index arrays stay small (64k non-zeros, 1.5 MB).
    step = max(1, 2**16 // width)
    for start in range(0, n, step):
        stop = min(start + step, n)
        first, last = X.indptr[start], X.indptr[stop]
        counts = np.diff(X.indptr[start : stop + 1])
        rows = np.repeat(np.arange(start, stop), counts)
        slot = np.arange(first, last) - np.repeat(X.indptr[start:stop], counts)
        columns = X.indices[first:last]
        out[rows, slot] = columns
        out[rows, width + slot] = X.data[first:last] * inverse[columns]
    return out
