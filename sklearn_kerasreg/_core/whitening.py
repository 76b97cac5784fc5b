"""The single neuron's training problem, made well-conditioned by construction.

Standardizing the inputs conditions the least-squares problem only along the
diagonal: correlated or polynomial columns leave its Hessian with condition
numbers of 1e3 to 1e19, and first-order training then needs thousands of
epochs and still stops short. Whitening goes further: the inputs are
centred, scaled and rotated so that their weighted second moments, ridge
penalty included, are the identity. On whitened inputs the Hessian of the
mean squared error is ``(2 / n_targets) * I``, so a plain gradient step of
``n_targets / 2`` is a Newton step, and the gradient itself says how far the
weights are from the optimum (:func:`certificate`); :func:`least_squares_gap`
measures the exported model on the raw data.

The network still trains from its usual zero start; the transform is data
preparation, folded into the Dense kernel afterwards exactly as
standardization is (``_core.models.fold_scaling``).

The transform comes from the weighted Gram matrix when that is safely
conditioned (condition number up to ``GRAM_CONDITION``: cheap, one pass that
the statistics need anyway), else from a QR factorization of the
standardized design, computed block by block (TSQR) so that memory stays
bounded. Forming the Gram matrix squares the design's condition number; QR
does not, which is what NIST's Filip (3.8e9 after standardizing) needs.
Directions the data does not determine (singular values below
``max(n, p) * eps`` of the largest, as ``numpy.linalg.lstsq`` cuts them) are
left out of the whitened inputs, so training from zero never moves along
them and lands on the minimum-norm solution, as ``LinearRegression`` does.
"""

from dataclasses import dataclass

import numpy as np

from .data import (
    CACHE_ROWS,
    aligned_empty,
    in_spans,
    mean_one,
    moments_to_stats,
    standardized,
    weighted_moments,
)
from .sparse import block_rows, dense_rows, is_sparse, padded_rows

#: Above this condition number of the standardized Gram matrix the transform
#: comes from QR of the data instead: the Gram matrix's rounding error
#: (about eps times this) would then be felt in the whitened Hessian.
GRAM_CONDITION = 1e8
#: Above this many features whitening (a p x p eigendecomposition per fit,
#: and p times the work per epoch) is not worth it; inputs are standardized only.
MAX_WHITENED_FEATURES = 2000
#: Up to this condition number of the standardized design (the square root
#: of its Gram matrix's), a fit's distance from the optimum is read off the
#: second moments (:func:`moments_gap`) instead of a pass over the data.
MOMENTS_CONDITION = 1e3
#: A float64 reading of :func:`least_squares_gap` above ``tol`` divided by this
#: is taken again in long double: float64 has been seen to read 14 times low.
LONG_DOUBLE_MARGIN = 100.0
#: Rows per block of the TSQR pass.
QR_BLOCK_ROWS = 4 * CACHE_ROWS
#: A coefficient whose standardized size is below this fraction of the
#: largest one's (or an intercept below this many target standard
#: deviations) is held to the absolute accuracy of one that size: relative
#: accuracy means nothing for a coefficient that is zero. Polynomial designs
#: such as NIST's Wampler sets have standardized coefficients 1e5 apart that
#: are each certified to many digits, so the floor is far below that.
NEGLIGIBLE = 1e-6


@dataclass(frozen=True)
class Whitening:
    """How the training network's inputs and targets were made from the caller's.

    ``Z = ((X - x_mean) / x_scale) @ transform`` and
    ``Ys = (Y - y_mean) / y_scale``; ``transform`` is None when the inputs are
    only standardized (hidden layers, a user's model, ``standardize=False``).
    ``inverse @ transform`` is the identity on the whitened inputs.
    """

    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    transform: np.ndarray | None = None
    inverse: np.ndarray | None = None
    #: Condition number of the standardized design (1 when not whitened).
    condition: float = 1.0

    @property
    def scaling(self):
        return self.x_mean, self.x_scale, self.y_mean, self.y_scale

    @property
    def n_inputs(self):
        """Width of the training network's input."""
        return self.x_mean.shape[0] if self.transform is None else self.transform.shape[1]

    def inputs(self, X, dtype=np.float64, threads=1, out=None):
        """The training network's inputs, in a new 64-byte-aligned array (or in ``out``)."""
        return standardized(X, self.x_mean, self.x_scale, dtype, threads=threads, transform=self.transform, out=out)

    def targets(self, Y):
        return standardized(Y, self.y_mean, self.y_scale)


#: Bytes of whitened inputs in one block of a training epoch. At 1M x 20,
#: 4 MiB blocks took 120 ms for two epochs and 32 MiB blocks 170-200 ms:
#: TensorFlow's element-wise steps of the loss stay in cache.
BLOCK_BYTES = 2**22
#: Whitened inputs up to this size are whitened once and kept for all
#: epochs; larger ones are whitened a block at a time each epoch, so their
#: whitened copy never exists whole (at 1M x 20, 160 MB not allocated).
WHOLE_BYTES = 2**25


class Blocks:
    """The training data of the certified single neuron, in blocks of rows of whitened inputs.

    Called once an epoch, it yields ``(Z, Ys, w)`` for consecutive blocks of
    rows: ``Z`` a view of the inputs whitened once, or, for data over
    ``WHOLE_BYTES``, written into one reused 64-byte-aligned buffer; ``Ys``
    and ``w`` views of the caller's aligned arrays (None for equal weights).
    """

    def __init__(self, whitening, X, Ys, weights, threads=1):
        self.n_rows = X.shape[0]
        width = whitening.n_inputs
        # A multiple of 64 rows keeps every block 64-byte aligned.
        self.rows = max(64, BLOCK_BYTES // (8 * width) // 64 * 64)
        self._args = whitening, X, Ys, weights
        self._threads = threads
        #: Trailing shapes and dtypes of a block's arrays: what its traced code depends on.
        self.signature = [
            None if a is None else (a.shape[1:], a.dtype.str)
            for a in (np.empty((0, width), np.float64), Ys, weights)
        ]
        # Sparse data keep no whitened copy larger than half of themselves.
        limit = min(WHOLE_BYTES, _sparse_bytes(X) // 2) if is_sparse(X) else WHOLE_BYTES
        whole = self.n_rows * width * 8 <= limit
        self._whole = whitening.inputs(X, threads=threads) if whole else None
        self._buffer = None if whole else aligned_empty((self.rows, width), np.float64)

    def __call__(self):
        whitening, X, Ys, weights = self._args
        for start in range(0, self.n_rows, self.rows):
            stop = min(start + self.rows, self.n_rows)
            if self._whole is not None:
                Z = self._whole[start:stop]
            else:
                Z = whitening.inputs(X[start:stop], threads=self._threads, out=self._buffer[: stop - start])
            yield Z, Ys[start:stop], None if weights is None else weights[start:stop]


def _sparse_bytes(X):
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def network_inputs(whitening, plan, X, dtype=None, threads=1):
    """``X`` as the training network reads it: whitened or standardized, or, for a network
    that reads sparse rows (``plan.sparse_width``), its :func:`~_core.sparse.padded_rows`."""
    dtype = plan.dtype if dtype is None else dtype
    if plan.sparse_width:
        return padded_rows(X, whitening.x_scale, dtype, plan.sparse_width)
    return whitening.inputs(X, dtype, threads)


def training_data(whitening, plan, X, Y, sample_weight, held_out=None, threads=1):
    """What the trainer gets: ``(data, sample, validation)``.

    ``data`` is ``(inputs, targets, weights)`` in the network's coordinates,
    in new 64-byte-aligned arrays that TensorFlow reads in place; for the
    certified single neuron its inputs are :class:`Blocks`, whitened a block
    at a time each epoch (no whitened copy of ``X``). ``sample`` is
    ``(inputs, targets)`` for building the network, and ``validation`` the
    ``held_out`` ``(X, Y, sample_weight)`` made the same way, or None.
    Equal weights are left out (None): fewer operations per step.
    """
    weights = None if np.all(sample_weight == sample_weight[0]) else mean_one(sample_weight)
    Ys = whitening.targets(Y)
    if plan.certified:
        data, head = (Blocks(whitening, X, Ys, weights, threads), None, None), whitening.inputs(X[:2])
    else:
        data = (network_inputs(whitening, plan, X, threads=threads), Ys, weights)
        head = data[0]
    validation = None
    if held_out is not None:
        Xv, Yv, wv = held_out
        validation = network_inputs(whitening, plan, Xv), whitening.targets(Yv), mean_one(wv) if wv.sum() > 0 else None
    return data, (head, Ys), validation


def second_moments(moments, fit_intercept):
    """Total weight, means and the matrix of weighted cross-products about them.

    ``moments`` are ``weighted_moments(..., cross=True)`` (about the means);
    without an intercept the model is not centred, so the products are taken
    about zero and the means reported as zero.
    """
    total, mean, cross = moments
    if fit_intercept:
        return total, mean, cross
    about_zero = np.outer(mean, mean) if np.ndim(cross) == 2 else mean**2
    return total, np.zeros_like(mean), cross + total * about_zero


def scaling_only(moments, n_features, fit_intercept, standardize, centre=True):
    """A :class:`Whitening` that only centres and scales (or does nothing).

    ``centre=False`` (sparse inputs, which centring would make dense) divides
    the inputs by their standard deviations without centring them, as
    ``StandardScaler(with_mean=False)`` does; the targets are centred either way.
    """
    total, mean, cross = second_moments(moments, fit_intercept)
    if not standardize:
        k = mean.shape[0] - n_features
        return Whitening(np.zeros(n_features), np.ones(n_features), np.zeros(k), np.ones(k))
    m2 = np.diag(cross) if np.ndim(cross) == 2 else cross
    x_mean, x_scale = moments_to_stats(total, mean[:n_features], m2[:n_features])
    if not centre:
        x_mean = np.zeros(n_features)
    y_mean, y_scale = moments_to_stats(total, mean[n_features:], m2[n_features:])
    return Whitening(x_mean, x_scale, y_mean, y_scale)


def fit_whitening(moments, n_features, *, fit_intercept, l2, X=None, sample_weight=None):
    """The whitening of the data whose ``weighted_moments((X, Y), w, cross=True)`` are ``moments``.

    Parameters
    ----------
    moments : tuple
    n_features : int
    fit_intercept : bool
    l2 : float
        Ridge penalty per unit of weight, on the standardized coefficients:
        the whitened inputs make ``Gram + l2 * I`` the identity.
    X, sample_weight : ndarray, optional
        The data itself, for the QR fallback. Without it (streamed data) an
        ill-conditioned Gram matrix is used as it is.
    """
    base = scaling_only(moments, n_features, fit_intercept, standardize=True)
    p = n_features
    if p > MAX_WHITENED_FEATURES:
        return base
    total, _, cross = second_moments(moments, fit_intercept)
    s = base.x_scale
    gram = cross[:p, :p] / total / np.outer(s, s) + l2 * np.eye(p)
    values, vectors = np.linalg.eigh(gram)
    top = max(values[-1], np.finfo(np.float64).tiny)
    if values[0] > top / GRAM_CONDITION or X is None:
        # Singular values of the standardized design, and its right singular vectors.
        sing, vt = np.sqrt(np.maximum(values[::-1], 0.0)), vectors[:, ::-1].T
        keep = values[::-1] > top * 1e-12
    else:
        _, sing, vt = np.linalg.svd(_tsqr(X, sample_weight, base.x_mean, s, l2))
        keep = sing > sing[0] * max(X.shape) * np.finfo(np.float64).eps
    if not keep.any():
        # Only constant columns: centred and scaled they are all zero, so
        # any transform leaves nothing but the intercept to train.
        return Whitening(*base.scaling, transform=np.eye(p), inverse=np.eye(p))
    # C order, as the transform comes back from a saved file: products then round alike.
    transform = np.ascontiguousarray(vt[keep].T / sing[keep])
    inverse = np.ascontiguousarray(sing[keep, None] * vt[keep])
    condition = float(sing[0] / sing[keep][-1])
    return Whitening(*base.scaling, transform=transform, inverse=inverse, condition=condition)


def prepare(X, Y, sample_weight, plan, *, fit_intercept, alpha, standardize, threads=1, moments=None):
    """How this data becomes the training network's: ``(whitening, moments)``.

    Whitened when ``plan.whiten``, else standardized or as it is. ``moments``
    are those of all of a stream's chunks (``train_on_chunks``), of which
    ``X`` is only the first: the QR fallback then has no data to use.
    """
    own = moments is None
    if own:
        # An overflow is reported below, as what it means for the data.
        with np.errstate(over="ignore", invalid="ignore"):
            moments = weighted_moments((X, Y), sample_weight, cross=plan.whiten, threads=threads)
    if not all(np.all(np.isfinite(part)) for part in moments[1:]):
        raise ValueError(
            "X or y has values too large to center and scale in float64: their squares overflow "
            "(the largest finite float64 is about 1.8e308). Rescale them, for example divide each "
            "column by its largest absolute value, before fitting."
        )
    if not plan.whiten:
        return scaling_only(moments, X.shape[1], fit_intercept, standardize, centre=not is_sparse(X)), moments
    whitening = fit_whitening(
        moments, X.shape[1], fit_intercept=fit_intercept, l2=alpha / moments[0],
        X=X if own else None, sample_weight=sample_weight,
    )
    return whitening, moments


def _tsqr(X, w, x_mean, x_scale, l2):
    """R of the QR factorization of ``sqrt(w / sum(w)) * (X - x_mean) / x_scale``,
    stacked on ``sqrt(l2) * I``, one block of rows at a time (memory stays at a block)."""
    p = X.shape[1]
    root_w = np.sqrt(w / w.sum())
    r = np.sqrt(l2) * np.eye(p)
    rows = block_rows(X, QR_BLOCK_ROWS)
    for start in range(0, X.shape[0], rows):
        stop = start + rows
        block = (dense_rows(X, start, stop) - x_mean) / x_scale * root_w[start:stop, None]
        r = np.linalg.qr(np.vstack([r, block]), mode="r")
    return r


def certificate(whitening, weights, grads):
    """How far the training network's weights are from the optimum of the whitened problem.

    On whitened inputs the Hessian of the mean squared error (ridge penalty
    included) is ``(2 / k) * I`` for ``k`` targets, so the Newton step, the
    exact distance to the optimum of a quadratic, is ``k / 2`` times the
    gradient. ``weights`` and ``grads`` are ``[kernel, bias]`` (``[kernel]``
    without an intercept); :func:`relative_gap` measures the step in the
    caller's units. It does not see the whitening's own rounding error:
    :func:`least_squares_gap` does.
    """
    kernel, *bias = weights
    grad_kernel, *grad_bias = grads
    half_k = kernel.shape[1] / 2
    unit = whitening.y_scale[None, :] / whitening.x_scale[:, None]
    standardized = whitening.transform @ kernel
    step = whitening.transform @ grad_kernel * half_k
    intercept = intercept_step = None
    if bias:
        intercept = bias[0] * whitening.y_scale + whitening.y_mean - whitening.x_mean @ (standardized * unit)
        intercept_step = grad_bias[0] * half_k * whitening.y_scale - whitening.x_mean @ (step * unit)
    return relative_gap(standardized, step, unit, intercept, intercept_step, whitening.y_scale)


def relative_gap(standardized, step, unit, intercept, intercept_step, y_scale):
    """The largest relative Newton step over the coefficients and the intercept.

    ``standardized`` and ``step`` are the coefficients and their Newton step
    in standardized units (``unit`` converts both to the caller's, so the
    ratios are the same in either). Each coefficient's step is divided by
    the coefficient, or by ``NEGLIGIBLE`` times the largest standardized
    coefficient of its target if that is larger (and at least by
    ``NEGLIGIBLE ** 2``, for targets that no feature explains); the intercept's by the
    intercept, or ``NEGLIGIBLE`` target standard deviations. At most ``tol``
    means every coefficient and the intercept are within ``tol`` (relative)
    of the optimum.
    """
    floor = np.maximum(NEGLIGIBLE * np.max(np.abs(standardized), axis=0, keepdims=True), NEGLIGIBLE**2)
    worst = float(np.max(np.abs(step) / np.maximum(np.abs(standardized), floor)))
    if intercept is not None:
        scale = np.maximum(np.abs(intercept), NEGLIGIBLE * y_scale)
        worst = max(worst, float(np.max(np.abs(intercept_step) / scale)))
    return worst


def least_squares_gap(X, Y, sample_weight, coef, intercept, whitening, l2, threads=1, tol=0.0):
    """How far ``coef`` (p x k) and ``intercept`` (k) are from the least-squares optimum (NumPy).

    The relative Newton step (:func:`relative_gap`) of the model as it
    predicts: the residual of ``X @ coef + intercept`` on the caller's raw
    ``X``, taken back through the standardized ``X`` and the inverse Hessian
    ``transform @ transform.T``, is the Newton step in the caller's units.
    Measured on the raw data, it sees what rounding in the whitening leaves:
    on NIST's Wampler5 a certificate on the whitened inputs read 1e-8 while
    the coefficients were 7e-7 away.

    Summed in float64, the residual and the gradient round by about the size
    of the error they measure there: over nine row orders of Wampler5 the
    reading was 14 times below the true distance to 30 times above it, and
    which order fell short depended on the BLAS. So a float64 reading within
    ``LONG_DOUBLE_MARGIN`` of ``tol`` (where the number decides convergence
    or is reported) is taken again in ``numpy.longdouble``: with the 64-bit
    mantissa of x86-64's long double it read within 3% on every order, at
    about four times the cost of a float64 pass. Where ``longdouble`` is no
    wider than float64 (Windows, ARM macOS) the float64 reading stands.
    Passes over ``X`` in blocks that stay in cache, split between
    ``threads``. ``intercept`` is None without one.
    """
    gap = _gap_summed_in(np.float64, X, Y, sample_weight, coef, intercept, whitening, l2, threads)
    if gap * LONG_DOUBLE_MARGIN > tol and np.finfo(np.longdouble).eps < np.finfo(np.float64).eps:
        gap = _gap_summed_in(np.longdouble, X, Y, sample_weight, coef, intercept, whitening, l2, threads)
    return gap


def _gap_summed_in(dtype, X, Y, sample_weight, coef, intercept, whitening, l2, threads):
    """:func:`least_squares_gap` with the residual and gradient summed in ``dtype``."""
    w = sample_weight.astype(dtype) / sample_weight.sum(dtype=dtype)
    x_mean, x_scale, _, y_scale = (part.astype(dtype) for part in whitening.scaling)
    coef_wide = coef.astype(dtype)
    offset = dtype(0.0) if intercept is None else intercept.astype(dtype)

    rows = block_rows(X, CACHE_ROWS)

    def span(first, last):
        grad, total = np.zeros(coef.shape, dtype), np.zeros(coef.shape[1], dtype)
        for start in range(first, last, rows):
            stop = min(start + rows, last)
            block = dense_rows(X, start, stop).astype(dtype, copy=False)
            residual = (block @ coef_wide + offset - Y[start:stop]) * (w[start:stop, None] / y_scale)
            grad += ((block - x_mean) / x_scale).T @ residual
            total += residual.sum(axis=0)
        return grad, total

    parts = in_spans(span, X.shape[0], threads)
    grad = sum(g for g, _ in parts).astype(np.float64)
    total = sum(t for _, t in parts).astype(np.float64)
    return _newton_gap(grad, total, coef, intercept, whitening, l2)


def moments_gap(moments, coef, intercept, whitening, l2):
    """:func:`least_squares_gap` read off the data's second moments, with no pass over the data.

    ``moments`` are those :func:`fit_whitening` was given. The gradient of
    the mean squared error is ``Sxx @ coef - Sxy`` in the moments' terms (and
    the mean residual ``x_mean @ coef + intercept - y_mean``), so the Newton
    step costs a p x p product. Its rounding error is about ``eps`` times the
    condition number of the standardized Gram matrix, relative to the
    coefficients: within ``MOMENTS_CONDITION`` that is under 1e-9, a tenth of
    ``tol="auto"``; beyond it the estimator measures on the data instead.
    """
    fit_intercept = intercept is not None
    total_weight, mean, cross = second_moments(moments, fit_intercept)
    p = coef.shape[0]
    x_scale, y_scale = whitening.x_scale, whitening.y_scale
    grad = (cross[:p, :p] @ coef - cross[:p, p:]) / total_weight / x_scale[:, None] / y_scale
    total = None
    if fit_intercept:
        total = (mean[:p] @ coef + intercept - mean[p:]) / y_scale
    return _newton_gap(grad, total, coef, intercept, whitening, l2)


def _newton_gap(grad, total, coef, intercept, whitening, l2):
    """The relative Newton step of ``coef`` and ``intercept`` given the mean squared error's
    gradient in standardized units (``grad``, p x k) and the mean residual in target
    standard deviations (``total``)."""
    x_mean, x_scale, _, y_scale = whitening.scaling
    unit = y_scale[None, :] / x_scale[:, None]
    standardized = coef / unit
    step = whitening.transform @ (whitening.transform.T @ (grad + l2 * standardized))
    intercept_step = None
    if intercept is not None:
        intercept_step = total * y_scale - x_mean @ (step * unit)
    return relative_gap(standardized, step, unit, intercept, intercept_step, y_scale)
