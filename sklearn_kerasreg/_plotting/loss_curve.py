"""LossCurveDisplay: the loss of each training epoch."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .common import pyplot, styled

#: Loss curves of at most this many epochs are drawn with a marker at each epoch.
SHORT_CURVE = 50


class LossCurveDisplay:
    """Training (and validation) loss per epoch.

    The picture of gradient descent at work: the loss of each epoch, which
    falls steeply and then flattens as the fit converges. Build it with
    :meth:`from_estimator`; the constructor only stores the curves.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss of each epoch, e.g. ``estimator.loss_curve_``.
    validation_loss_curve : array-like of shape (n_epochs,), default=None
        Validation loss of each epoch, e.g. ``estimator.validation_loss_curve_``
        (present when the estimator was fitted with ``early_stopping=True``).
    estimator_name : str, default=None
        Prefixed to the legend labels; None leaves them plain.
    standardized : bool, default=False
        The losses are on standardized targets; the y label says so.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The training loss curve.
    validation_line_ : matplotlib Line2D or None
        The validation loss curve; None without a validation curve.
    ax_ : matplotlib Axes
        Axes the curves are drawn on.
    figure_ : matplotlib Figure
        Figure containing the curves.

    See Also
    --------
    RegressionLineDisplay : The data and the fitted line of a one-feature regression.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_kerasreg import KerasLinearRegressor
    >>> from sklearn_kerasreg import LossCurveDisplay
    >>> X = np.linspace(0, 50, 51).reshape(-1, 1)
    >>> y = X.ravel() + 10 * np.random.RandomState(0).uniform(size=51)
    >>> reg = KerasLinearRegressor(random_state=0).fit(X, y)
    >>> disp = LossCurveDisplay.from_estimator(reg)
    >>> disp.line_.get_ydata().shape == (len(reg.loss_curve_),)
    True
    >>> disp.ax_.get_yscale()
    'log'
    """

    def __init__(self, loss_curve, *, validation_loss_curve=None, estimator_name=None, standardized=False):
        self.loss_curve = loss_curve
        self.validation_loss_curve = validation_loss_curve
        self.estimator_name = estimator_name
        self.standardized = standardized

    def plot(self, ax=None, *, log_scale=True, name=None, line_kwargs=None, validation_line_kwargs=None):
        """Draw the curves against the epoch number (1-based).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a new figure and axes.
        log_scale : bool, default=True
            Log scale for the loss axis. The loss of a converging fit spans
            decades, and on a linear scale everything after the first few
            epochs looks flat; the log scale shows whether it is still falling.
            Needs every loss to be positive.
        name : str, default=None
            Overrides ``estimator_name`` in the legend labels.
        line_kwargs : dict, default=None
            Passed to ``ax.plot`` for the training curve.
        validation_line_kwargs : dict, default=None
            Passed to ``ax.plot`` for the validation curve.

        Returns
        -------
        display : LossCurveDisplay
            ``self``, with the artists stored.
        """
        plt = pyplot(f"{type(self).__name__}.plot")
        loss = np.asarray(self.loss_curve, dtype=float)
        val = None if self.validation_loss_curve is None else np.asarray(self.validation_loss_curve, float)
        if log_scale and any(np.any(c <= 0) for c in (loss, val) if c is not None):
            raise ValueError(
                "A loss value is zero or negative, which a log scale cannot show; pass log_scale=False."
            )
        name = self.estimator_name if name is None else name
        prefix = "" if name is None else f"{name}: "
        if ax is None:
            _, ax = plt.subplots()

        # A certified linear fit often takes one to three epochs: a line
        # through one point draws nothing, so short curves get markers.
        marker = {"marker": "o"} if loss.size <= SHORT_CURVE else {}
        self.line_ = ax.plot(
            np.arange(1, loss.size + 1),
            loss,
            **styled({"label": f"{prefix}training loss", **marker}, line_kwargs),
        )[0]
        self.validation_line_ = None
        if val is not None:
            self.validation_line_ = ax.plot(
                np.arange(1, val.size + 1),
                val,
                **styled(
                    {"label": f"{prefix}validation loss", "linestyle": "--", **marker}, validation_line_kwargs
                ),
            )[0]
        if log_scale:
            ax.set_yscale("log")
        ylabel = "Loss (standardized units)" if self.standardized else "Loss"
        ax.set(xlabel="Epoch", ylabel=ylabel)
        _epoch_axis(ax, max(loss.size, 0 if val is None else val.size))
        ax.legend()

        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls, estimator, *, ax=None, log_scale=True, name=None, standardized=False, line_kwargs=None,
        validation_line_kwargs=None,
    ):
        """Plot the loss curves of a fitted estimator.

        Parameters
        ----------
        estimator : estimator instance
            A fitted estimator with a ``loss_curve_``, such as
            :class:`KerasLinearRegressor` (or scikit-learn's ``MLPRegressor``).
            Its ``validation_loss_curve_`` is drawn when it is not None.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a new figure and axes.
        log_scale : bool, default=True
            Log scale for the loss axis; see :meth:`plot`.
        name : str, default=None
            Prefixed to the legend labels; None leaves them plain.
        standardized : bool, default=False
            Draw the losses of :class:`KerasLinearRegressor` on the problem it
            trained, with standardized targets (the units of a loss-based
            ``tol``), instead of the caller's units: each value is divided by
            the factor it was converted with. Raises ``ValueError`` for an
            estimator that does not record its factors (``MLPRegressor``).
        line_kwargs : dict, default=None
            Passed to ``ax.plot`` for the training curve.
        validation_line_kwargs : dict, default=None
            Passed to ``ax.plot`` for the validation curve.

        Returns
        -------
        display : LossCurveDisplay

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If ``estimator`` is not fitted.
        """
        pyplot(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        if not hasattr(estimator, "loss_curve_"):
            raise ValueError(
                f"{type(estimator).__name__} has no loss_curve_; LossCurveDisplay needs an "
                "estimator trained epoch by epoch, such as KerasLinearRegressor."
            )
        loss = np.asarray(estimator.loss_curve_, dtype=float)
        val = getattr(estimator, "validation_loss_curve_", None)
        val = None if val is None else np.asarray(val, dtype=float)
        # KerasLinearRegressor keeps, for each value, the factor that took it
        # into the caller's units (None: it stayed on the training problem).
        scales = getattr(estimator, "_loss_curve_scales", None)
        if scales is None and standardized:
            raise ValueError(f"{type(estimator).__name__} does not say how its losses were scaled.")
        converted = scales is not None and all(v is not None for v in scales)
        mixed = scales is not None and not converted and any(v is not None for v in scales)
        if standardized:
            loss = loss / _factors(scales)
            if val is not None:
                val = val / _factors(estimator._validation_loss_curve_scales)
        on_training_problem = scales is not None and (standardized or not (converted or mixed))
        display = cls(
            loss,
            validation_loss_curve=val,
            estimator_name=name,
            standardized=bool(on_training_problem and getattr(estimator, "standardize", False)),
        )
        display.plot(
            ax=ax, log_scale=log_scale, line_kwargs=line_kwargs, validation_line_kwargs=validation_line_kwargs
        )
        if mixed and not standardized:
            # Warm fits changed the loss between one the estimator converts and one it cannot.
            display.ax_.set_ylabel("Loss (your units; standardized where a fit's loss has no known factor)")
        return display


def _epoch_axis(ax, n_epochs):
    """Integer epoch ticks; up to 10 epochs, each a tick, with room around a curve of one or two points."""
    from matplotlib.ticker import MaxNLocator

    if n_epochs <= 10:
        ax.set_xticks(np.arange(1, n_epochs + 1))
        ax.set_xlim(0.5, n_epochs + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _factors(scales):
    """The curve values' factors as an array, 1 where a value was not converted."""
    return np.array([1.0 if v is None else v for v in scales], dtype=float)
