"""What a fit tells its caller about itself: its distance from the optimum, and warnings.

A number the estimator reports is right to the precision it claims, or it
warns: :func:`measure` gives the certified single neuron's distance from
the least-squares optimum as the exported model predicts, and
:func:`diagnose` raises on a diverged fit and warns when one is short of
its ``tol``.
"""

import warnings

from sklearn.exceptions import ConvergenceWarning

from .network import folded_weights
from .whitening import MOMENTS_CONDITION, least_squares_gap, moments_gap


def measure(X, Y, sample_weight, whitening, moments, fit_intercept, alpha, threads, net):
    """Relative distance of ``net``, folded as the exported model is, from the least-squares optimum.

    Read off ``moments`` (those of ``X, Y``, or None) when the design is
    well-conditioned enough for them to tell it; else measured on ``X``.
    """
    (kernel,), (bias,) = folded_weights(net, whitening)
    intercept, l2 = bias if fit_intercept else None, alpha / sample_weight.sum()
    if moments is not None and whitening.condition <= MOMENTS_CONDITION:
        return moments_gap(moments, kernel, intercept, whitening, l2)
    return least_squares_gap(X, Y, sample_weight, kernel, intercept, whitening, l2, threads)


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
