"""What a fit tells its caller about itself: its distance from the optimum, and warnings.

A number the estimator reports is right to the precision it claims, or it
warns: :func:`measure` gives the certified single neuron's distance from
the least-squares optimum as the exported model predicts, and
:func:`diagnose` raises on a diverged fit and warns when one is short of
its ``tol``.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._fixes import huber_delta
from .network import folded_weights
from .whitening import MOMENTS_CONDITION, least_squares_gap, moments_gap


def measure(X, Y, sample_weight, whitening, moments, fit_intercept, alpha, threads, tol, net):
    """Relative distance of ``net``, folded as the exported model is, from the least-squares optimum.

    Read off ``moments`` (those of ``X, Y``, or None) when the design is
    well-conditioned enough for them to tell it; else measured on ``X``,
    precisely where the reading is near ``tol``.
    """
    (kernel,), (bias,) = folded_weights(net, whitening)
    intercept, l2 = bias if fit_intercept else None, alpha / sample_weight.sum()
    if moments is not None and whitening.condition <= MOMENTS_CONDITION:
        return moments_gap(moments, kernel, intercept, whitening, l2)
    return least_squares_gap(X, Y, sample_weight, kernel, intercept, whitening, l2, threads, tol)


def diagnose(plan, result, whitening, gap, *, name, epochs, learning_rate_init, lr0):
    """Raise on divergence; warn when the fit is short of what it claims.

    ``gap`` is the certified relative distance to the least-squares
    optimum (NaN when the fit is not certified); ``name`` the estimator's
    class name; ``epochs``, ``learning_rate_init`` its parameters and
    ``lr0`` the initial rate they gave.
    """
    if result.diverged:
        raise ValueError(
            f"Training diverged: the loss became NaN or infinite at epoch {result.n_epochs}. "
            f"The learning rate is probably too large (learning_rate_init="
            f"{learning_rate_init!r}, initial rate {lr0:g}), or the inputs or targets "
            "have large values and standardize=False; lower the learning rate or standardize."
        )
    if plan.certified:
        if gap <= plan.tol:
            return
        if result.converged:
            why = (
                f"rounding error in float64 stops it there: the standardized design's condition "
                f"number is {whitening.condition:.1e}, so its least-squares coefficients are only "
                "determined to about that"
            )
        elif result.stopped_by_callback:
            why = "a callback stopped training first"
        else:
            why = f"epochs={epochs} ran out first"
        warnings.warn(
            f"The coefficients and intercept are an estimated {gap:.1e} (relative) from the "
            f"least-squares optimum, more than tol={plan.tol:g}: {why}.",
            ConvergenceWarning,
        )
    elif not (result.converged or result.stopped_by_callback):
        warnings.warn(
            f"{name} ran all epochs={epochs} before the monitored loss "
            f"stopped improving by tol={plan.tol:g}; the fit may not have converged. "
            "Raise epochs, or check the learning rate and the scaling of the data.",
            ConvergenceWarning,
        )


#: The built-in losses by Keras class name: the power of the targets' scale
#: that converts a loss on standardized targets into the caller's units.
_SCALE_POWER = {"MeanSquaredError": 2, "Huber": 2, "MeanAbsoluteError": 1}


def loss_factors(loss_fn, y_scale):
    """Per target, the factor that takes ``loss_fn`` on the training problem into the caller's
    units, for targets of scales ``y_scale`` (a ``Whitening``'s).

    The squared error and Huber scale with the square of a target's scale,
    the absolute error with the scale (Huber's ``delta`` then reads as
    ``delta * y_scale`` in the caller's units). None for a loss of the
    user's (or a built-in one of another reduction, or a Huber whose
    ``delta`` cannot be read), whose scaling is unknown: its values stay in
    the training units.
    """
    power = _SCALE_POWER.get(type(loss_fn).__name__)
    known = power is not None and getattr(loss_fn, "reduction", None) == "sum_over_batch_size"
    if type(loss_fn).__name__ == "Huber" and huber_delta(loss_fn) is None:
        known = False
    return np.asarray(y_scale, np.float64) ** power if known else None


def curve_scale(factors):
    """The one factor that converts a curve value (a mean over targets), or None.

    A curve value averages the targets' losses, so it converts only when
    every target has the same factor (one target, or ``standardize=False``).
    """
    if factors is None or np.any(factors != factors[0]):
        return None
    return float(factors[0])


def final_loss(loss_fn, factors, predictions, Y, sample_weight, whitening, penalty, weights):
    """The training loss at the final weights: ``(in the training units, in the caller's)``.

    ``factors`` are ``loss_factors(loss_fn, whitening.y_scale)``.
    ``predictions`` are the exported model's on the training inputs ``X``
    (caller's units), ``weights`` the training network's (``trainable_variables``
    order) and ``penalty`` its ``_core.engine.Penalty`` or None. The data term
    is the ``sample_weight``-weighted mean of ``loss_fn`` over rows, averaged
    over targets; the penalty is ``l2 * sum(kernel ** 2)`` as trained. In the
    caller's units each target's term is multiplied by its
    :func:`loss_factors` and the penalty by their mean; for a loss of the
    user's the second value is None.
    """
    w = sample_weight / sample_weight.sum()
    if factors is None:
        import keras

        # A loss of the user's sees what training showed it (it need not be a
        # function of the residual alone): standardized targets and outputs.
        per_target = None
        trained = loss_fn(whitening.targets(Y), whitening.targets(predictions), sample_weight=w * len(w))
        data = float(keras.ops.convert_to_numpy(trained))
    else:
        per_target = w @ _elementwise(loss_fn, (Y - predictions) / whitening.y_scale)
        data = float(per_target.mean())
    paid = 0.0
    if penalty is not None:
        kernels = [np.asarray(v, np.float64) for v in weights if np.ndim(v) == 2]
        if penalty.transform is not None:
            kernels[0] = penalty.transform @ kernels[0]
        paid = penalty.l2 * sum(float(np.sum(k**2)) for k in kernels)
    if factors is None:
        return data + paid, None
    return data + paid, float((per_target * factors).mean() + paid * factors.mean())


def _elementwise(loss_fn, residual):
    """The built-in ``loss_fn`` of each residual, in float64 (Keras's formulas)."""
    kind = type(loss_fn).__name__
    if kind == "MeanSquaredError":
        return residual**2
    size = np.abs(residual)
    if kind == "MeanAbsoluteError":
        return size
    delta = huber_delta(loss_fn)
    return np.where(size <= delta, 0.5 * residual**2, delta * (size - 0.5 * delta))


#: Iterations LSQR may take for the Ridge solution that :func:`ridge_miss` measures against.
RIDGE_ITERATIONS = 5000
#: A single neuron trained without whitening on sparse inputs whose coefficients are further
#: than this (relative, in norm) from Ridge's solution of its problem warns.
RIDGE_TOL = 1e-6


def ridge_miss(X, Y, sample_weight, whitening, kernel, *, alpha, fit_intercept):
    """How far the single neuron's coefficients are from the optimum of its problem, relative, in norm.

    For the single neuron trained without whitening (sparse inputs above the
    whitening limit, or ``standardize=False``): its problem is Ridge's, with
    ``alpha`` on the coefficients of the standardized inputs, and no
    certificate watched the training. The optimum comes from SciPy's LSQR on
    sparse products, with the centring implicit. ``kernel`` is the training
    network's (p x k, in ``whitening``'s coordinates). Returns the largest
    relative distance over the targets, in the caller's units (those of
    ``coef_``), or NaN when LSQR does not converge within ``RIDGE_ITERATIONS``.
    """
    from scipy.sparse.linalg import LinearOperator, lsqr

    x_mean, x_scale, y_mean, y_scale = whitening.scaling
    w = sample_weight / sample_weight.sum()
    root_w = np.sqrt(w)
    # The inputs are (X - x_mean) / x_scale; an intercept absorbs their weighted mean instead.
    offset = np.asarray(X.T @ w if fit_intercept else x_mean).ravel() / x_scale

    def matvec(v):
        v = np.ravel(v)
        return root_w * (X @ (v / x_scale) - offset @ v)

    def rmatvec(u):
        u = root_w * np.ravel(u)
        return np.asarray(X.T @ u).ravel() / x_scale - offset * u.sum()

    A = LinearOperator((X.shape[0], X.shape[1]), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)
    unit = y_scale[None, :] / x_scale[:, None]
    worst = 0.0
    for j in range(Y.shape[1]):
        target = (Y[:, j] - y_mean[j]) / y_scale[j]
        if fit_intercept:
            target = target - w @ target
        # Ridge's alpha per unit of weight, as the network's penalty (_core.network.penalty).
        damp = np.sqrt(alpha / sample_weight.sum())
        solution, stop, *_ = lsqr(A, root_w * target, damp=damp, atol=1e-14, btol=1e-14, iter_lim=RIDGE_ITERATIONS)
        if stop == 7:  # the iteration limit
            return float("nan")
        optimum = solution * unit[:, j]
        fitted = np.asarray(kernel[:, j], np.float64) * unit[:, j]
        worst = max(worst, float(np.linalg.norm(fitted - optimum) / max(np.linalg.norm(optimum), np.finfo(float).tiny)))
    return worst


def diagnose_ridge(X, Y, sample_weight, whitening, kernel, *, alpha, fit_intercept, optimizer):
    """Warn when the single neuron, trained on sparse ``X`` without whitening, is not at Ridge's solution.

    With ``alpha=0`` and at least as many features as rows of positive
    weight, least squares has many solutions and no one of them is "the"
    fit: the warning says so instead of measuring.
    """
    rows = int(np.count_nonzero(sample_weight > 0))
    if alpha == 0 and X.shape[1] >= rows:
        warnings.warn(
            f"X has more features than rows ({X.shape[1]} >= {rows}) and alpha=0: least squares then has "
            "many solutions, and this fit is the one its optimizer reached from zero, not LinearRegression's "
            "minimum-norm one. Set alpha > 0 for Ridge's unique solution.",
            UserWarning,
        )
        return
    miss = ridge_miss(X, Y, sample_weight, whitening, kernel, alpha=alpha, fit_intercept=fit_intercept)
    if np.isfinite(miss) and miss <= RIDGE_TOL:
        return
    name = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", type(optimizer).__name__)
    how_far = f"are {miss:.2e} (relative, in norm)" if np.isfinite(miss) else "could not be compared (LSQR did not converge)"
    warnings.warn(
        f"The coefficients {how_far} from Ridge's solution of the same problem (alpha={alpha:g} on the "
        f"standardized inputs), more than {RIDGE_TOL:g}: on sparse X above the whitening limit (or with "
        f"standardize=False) the single neuron trains with {name} until its loss stalls, with no "
        "certificate. sklearn.linear_model.Ridge solves this problem directly.",
        ConvergenceWarning,
    )
