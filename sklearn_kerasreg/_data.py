"""Data-side helpers of the estimator: seeds, splits, standardization, the optimality check."""

import math
import numbers

import numpy as np
from sklearn.model_selection import train_test_split

#: Rows per block when standardizing and checking, to bound temporary memory.
BLOCK_ROWS = 65536


def distance_to_least_squares(Xs, Ys, weights, kernel, bias, l2):
    """Relative distance of a linear layer from the exact (ridge) least-squares optimum.

    One Newton step from the trained weights lands on the optimum of the
    squared loss, so its length measures how far training stopped short.
    The optimum itself is not used: it is only a certificate of the fit.
    Near-singular directions (rcond below 1e-12, as in an underdetermined
    problem) are left out, since gradient descent from zero does not move
    along them either.
    """
    n, p = Xs.shape
    k = Ys.shape[1]
    # The Gram matrix and gradient of [Xs, 1], assembled block by block
    # without building the augmented matrix. Products are taken in the
    # dtype of Xs (float32 for large data: ample for a 1e-3 check) and
    # summed across blocks in float64.
    gram = np.zeros((p + 1, p + 1))
    grad = np.zeros((p + 1, k))
    weights_aug = np.vstack([kernel, bias[None, :]]).astype(np.float64)
    kernel_x = weights_aug[:p].astype(Xs.dtype)
    for start in range(0, n, BLOCK_ROWS):
        A = Xs[start : start + BLOCK_ROWS]
        w = None if weights is None else weights[start : start + BLOCK_ROWS].astype(Xs.dtype)
        wA = A if w is None else w[:, None] * A
        gram[:p, :p] += A.T @ wA
        gram[:p, p] += wA.sum(axis=0, dtype=np.float64)
        gram[p, p] += len(A) if w is None else w.sum(dtype=np.float64)
        # One target (column) at a time: 1-d operands keep NumPy on its fast paths.
        for j in range(k):
            resid = A @ kernel_x[:, j] + (weights_aug[p, j] - Ys[start : start + BLOCK_ROWS, j])
            if w is not None:
                resid *= w
            grad[:p, j] += resid.astype(Xs.dtype) @ A
            grad[p, j] += resid.sum()
    gram[p, :p] = gram[:p, p]
    gram /= n
    grad /= n
    penalty = np.full(p + 1, k * l2)
    penalty[-1] = 0.0
    gram[np.diag_indices(p + 1)] += penalty
    grad[:p] += k * l2 * kernel
    step = np.linalg.lstsq(gram, grad, rcond=1e-12)[0]
    return float(np.linalg.norm(step) / max(np.linalg.norm(weights_aug), 1e-6))


def draw_seeds(random_state):
    """Three seeds (weights, shuffles, split) without touching global random state."""
    if random_state is None:
        return np.random.default_rng().integers(0, 2**31 - 1, size=3).tolist()
    if isinstance(random_state, numbers.Integral):
        random_state = np.random.RandomState(random_state)
    return random_state.randint(0, 2**31 - 1, size=3).tolist()


def split(X, Y, w, fraction, seed):
    n_val = math.ceil(fraction * X.shape[0])
    if n_val < 2 or X.shape[0] - n_val < 2:
        raise ValueError(
            f"validation_fraction={fraction} of {X.shape[0]} samples leaves too few samples to "
            "train or validate on; use more data or set early_stopping=False."
        )
    return train_test_split(X, Y, w, test_size=n_val, random_state=seed)


def weighted_moments(A, w):
    """Total weight, weighted column means and weighted sums of squared deviations.

    Two passes over ``A`` in blocks, so temporaries stay small.
    """
    total = w.sum()
    equal = bool(np.all(w == w[0]))
    mean = np.zeros(A.shape[1])
    for start in range(0, A.shape[0], BLOCK_ROWS):
        block = A[start : start + BLOCK_ROWS]
        mean += block.sum(axis=0) * w[0] if equal else w[start : start + BLOCK_ROWS] @ block
    mean /= total
    m2 = np.zeros(A.shape[1])
    for start in range(0, A.shape[0], BLOCK_ROWS):
        block = A[start : start + BLOCK_ROWS] - mean
        if equal:
            m2 += np.einsum("ij,ij->j", block, block) * w[0]
        else:
            m2 += w[start : start + BLOCK_ROWS] @ (block * block)
    return total, mean, m2


def merge_moments(a, b):
    """Moments of two sets of rows combined (Chan et al.'s pairwise update,
    which stays accurate where running sums of squares would cancel)."""
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * n_b / n, m2_a + m2_b + delta**2 * n_a * n_b / n


def moments_to_stats(total, mean, m2):
    """Means and standard deviations from moments (1 for constant columns)."""
    scale = np.sqrt(m2 / total)
    tiny = 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))
    scale[scale <= tiny] = 1.0
    return mean, scale


def weighted_stats(A, w):
    """Weighted column means and standard deviations (1 for constant columns)."""
    return moments_to_stats(*weighted_moments(A, w))


def mean_one(w):
    """Weights rescaled to mean 1. Keras averages weighted losses over the
    sample count, so with these the loss is the weighted mean."""
    return w * (len(w) / w.sum())


def standardized(X, mean, scale, dtype=np.float64, rows=None):
    """``(X[rows] - mean) / scale``, built block by block to bound temporary memory."""
    out = np.empty(X.shape if rows is None else (len(rows), X.shape[1]), dtype=dtype)
    for start in range(0, out.shape[0], BLOCK_ROWS):
        block = X[start : start + BLOCK_ROWS] if rows is None else X[rows[start : start + BLOCK_ROWS]]
        out[start : start + BLOCK_ROWS] = (block - mean) / scale
    return out
