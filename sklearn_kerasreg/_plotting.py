"""Display objects for fitted regressors, in the style of scikit-learn's.

matplotlib is an optional extra (``pip install "sklearn_kerasreg[plot]"``): it
is imported only when something is drawn, so importing this module, or the
package, never needs it.
"""

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

_INSTALL_HINT = 'pip install "sklearn_kerasreg[plot]"'
#: Loss curves of at most this many epochs are drawn with a marker at each epoch.
SHORT_CURVE = 50


def _pyplot(caller):
    """matplotlib.pyplot, or an ImportError that names the extra to install."""
    # scikit-learn's check_matplotlib_support is private and suggests
    # `pip install matplotlib`; our users should install the extra instead.
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(f"{caller} requires matplotlib. Install it with `{_INSTALL_HINT}`.") from exc
    return plt


def _line_kwargs(defaults, user):
    """``defaults`` overridden by ``user``, with matplotlib aliases (``ls``, ``c``) resolved."""
    from matplotlib.cbook import normalize_kwargs
    from matplotlib.lines import Line2D

    # Without normalizing, a user's ``ls=":"`` would clash with our ``linestyle``.
    return {**normalize_kwargs(defaults, Line2D), **normalize_kwargs(user or {}, Line2D)}


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
        The losses are on standardized targets (as ``KerasLinearRegressor``'s
        are with ``standardize=True``); the y label says so.

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
        plt = _pyplot(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

        loss = np.asarray(self.loss_curve, dtype=float)
        val = None if self.validation_loss_curve is None else np.asarray(self.validation_loss_curve, float)
        if log_scale:
            curves = [loss] if val is None else [loss, val]
            if any(np.any(c <= 0) for c in curves):
                raise ValueError(
                    "A loss value is zero or negative, which a log scale cannot show; "
                    "pass log_scale=False."
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
            **_line_kwargs({"label": f"{prefix}training loss", **marker}, line_kwargs),
        )[0]
        self.validation_line_ = None
        if val is not None:
            self.validation_line_ = ax.plot(
                np.arange(1, val.size + 1),
                val,
                **_line_kwargs(
                    {"label": f"{prefix}validation loss", "linestyle": "--", **marker}, validation_line_kwargs
                ),
            )[0]
        if log_scale:
            ax.set_yscale("log")
        # Our estimator's loss_curve_ is on standardized targets; say so only
        # when we know, since MLPRegressor's curve is in the targets' units.
        ylabel = "Loss (standardized units)" if self.standardized else "Loss"
        ax.set(xlabel="Epoch", ylabel=ylabel)
        n_epochs = max(loss.size, 0 if val is None else val.size)
        if n_epochs <= 10:
            # Each epoch a tick, with room around a curve of one or two points.
            ax.set_xticks(np.arange(1, n_epochs + 1))
            ax.set_xlim(0.5, n_epochs + 0.5)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()

        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls, estimator, *, ax=None, log_scale=True, name=None, line_kwargs=None, validation_line_kwargs=None
    ):
        """Plot the loss curves of a fitted estimator.

        Parameters
        ----------
        estimator : estimator instance
            A fitted estimator with a ``loss_curve_``, such as
            :class:`KerasLinearRegressor` (or scikit-learn's ``MLPRegressor``).
            Its ``validation_loss_curve_`` is drawn when it is not None.
            :class:`KerasLinearRegressor` records the loss on the standardized
            problem when ``standardize=True``, so the values are unitless.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a new figure and axes.
        log_scale : bool, default=True
            Log scale for the loss axis; see :meth:`plot`.
        name : str, default=None
            Prefixed to the legend labels; None leaves them plain.
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
        _pyplot(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        if not hasattr(estimator, "loss_curve_"):
            raise ValueError(
                f"{type(estimator).__name__} has no loss_curve_; LossCurveDisplay needs an "
                "estimator trained epoch by epoch, such as KerasLinearRegressor."
            )
        display = cls(
            estimator.loss_curve_,
            validation_loss_curve=getattr(estimator, "validation_loss_curve_", None),
            estimator_name=name,
            standardized=bool(getattr(estimator, "standardize", False)),
        )
        return display.plot(
            ax=ax, log_scale=log_scale, line_kwargs=line_kwargs, validation_line_kwargs=validation_line_kwargs
        )


class RegressionLineDisplay:
    """The data of a one-feature regression with the fitted line (or curve).

    A scatter of ``y`` against the single feature, the estimator's
    predictions over a sorted grid of that feature, and optionally a
    reference model's predictions (``LinearRegression`` by default): a
    linear network trained well lies on top of it. Build it with
    :meth:`from_estimator`; the constructor only stores the data.

    Only one feature can be drawn this way: with several, the predictions
    along one feature depend on the values chosen for the others. Use
    ``sklearn.metrics.PredictionErrorDisplay`` or
    ``sklearn.inspection.PartialDependenceDisplay`` for those.

    Parameters
    ----------
    x : array-like of shape (n_samples,)
        The feature.
    y : array-like of shape (n_samples,)
        The target.
    grid : array-like of shape (n_grid,)
        Sorted feature values the predictions are evaluated at.
    predictions : array-like of shape (n_grid,)
        The estimator's predictions on ``grid``.
    reference_predictions : array-like of shape (n_grid,), default=None
        The reference model's predictions on ``grid``; None draws no reference.
    feature_name : str, default=None
        x-axis label; None gives ``"x0"``.
    target_name : str, default=None
        y-axis label; None gives ``"y"``.
    estimator_name : str, default=None
        Legend label of the estimator's line; None gives ``"Estimator"``.
    reference_name : str, default=None
        Legend label of the reference line; None gives ``"Reference"``.

    Attributes
    ----------
    scatter_ : matplotlib PathCollection
        The data points.
    line_ : matplotlib Line2D
        The estimator's predictions.
    reference_line_ : matplotlib Line2D or None
        The reference model's predictions; None without a reference.
    ax_ : matplotlib Axes
        Axes the plot is drawn on.
    figure_ : matplotlib Figure
        Figure containing the plot.

    See Also
    --------
    LossCurveDisplay : The loss of each training epoch.
    sklearn.metrics.PredictionErrorDisplay : Predicted against actual values, for any number of features.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_kerasreg import KerasLinearRegressor
    >>> from sklearn_kerasreg import RegressionLineDisplay
    >>> X = np.linspace(0, 50, 51).reshape(-1, 1)
    >>> y = X.ravel() + 10 * np.random.RandomState(0).uniform(size=51)
    >>> reg = KerasLinearRegressor(random_state=0).fit(X, y)
    >>> disp = RegressionLineDisplay.from_estimator(reg, X, y)
    >>> [text.get_text() for text in disp.ax_.get_legend().get_texts()]
    ['Data', 'KerasLinearRegressor', 'LinearRegression']
    """

    def __init__(
        self,
        x,
        y,
        *,
        grid,
        predictions,
        reference_predictions=None,
        feature_name=None,
        target_name=None,
        estimator_name=None,
        reference_name=None,
    ):
        self.x = x
        self.y = y
        self.grid = grid
        self.predictions = predictions
        self.reference_predictions = reference_predictions
        self.feature_name = feature_name
        self.target_name = target_name
        self.estimator_name = estimator_name
        self.reference_name = reference_name

    def plot(self, ax=None, *, scatter_kwargs=None, line_kwargs=None, reference_line_kwargs=None):
        """Draw the data, the estimator's line and the reference line.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a new figure and axes.
        scatter_kwargs : dict, default=None
            Passed to ``ax.scatter`` for the data.
        line_kwargs : dict, default=None
            Passed to ``ax.plot`` for the estimator's line.
        reference_line_kwargs : dict, default=None
            Passed to ``ax.plot`` for the reference line.

        Returns
        -------
        display : RegressionLineDisplay
            ``self``, with the artists stored.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        if ax is None:
            _, ax = plt.subplots()

        scatter_kwargs = {"alpha": 0.8, "label": "Data", **(scatter_kwargs or {})}
        self.scatter_ = ax.scatter(self.x, self.y, **scatter_kwargs)
        label = "Estimator" if self.estimator_name is None else self.estimator_name
        self.line_ = ax.plot(self.grid, self.predictions, **_line_kwargs({"label": label}, line_kwargs))[0]
        self.reference_line_ = None
        if self.reference_predictions is not None:
            label = "Reference" if self.reference_name is None else self.reference_name
            defaults = {"label": label, "linestyle": "--", "color": "black"}
            self.reference_line_ = ax.plot(
                self.grid, self.reference_predictions, **_line_kwargs(defaults, reference_line_kwargs)
            )[0]
        ax.set(
            xlabel="x0" if self.feature_name is None else self.feature_name,
            ylabel="y" if self.target_name is None else self.target_name,
        )
        ax.legend()

        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        reference="linear_regression",
        grid_resolution=100,
        ax=None,
        name=None,
        scatter_kwargs=None,
        line_kwargs=None,
        reference_line_kwargs=None,
    ):
        """Plot a fitted one-feature regressor over its data.

        Parameters
        ----------
        estimator : estimator instance
            A fitted regressor (or pipeline) that takes one feature.
        X : array-like of shape (n_samples, 1)
            The feature, as a column; a pandas DataFrame's column name labels
            the x-axis.
        y : array-like of shape (n_samples,)
            The target; a pandas Series' name labels the y-axis.
        reference : "linear_regression", regressor or None, default="linear_regression"
            Model drawn for comparison, fitted here on ``X`` and ``y``:
            ``"linear_regression"`` is ``sklearn.linear_model.LinearRegression()``,
            an unfitted regressor is cloned and fitted, None draws none.
        grid_resolution : int, default=100
            Number of evenly spaced feature values, from the smallest to the
            largest in ``X``, the predictions are drawn at; enough for the
            curve of a network with hidden layers to look smooth.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a new figure and axes.
        name : str, default=None
            Legend label of the estimator's line; None uses its class name.
        scatter_kwargs : dict, default=None
            Passed to ``ax.scatter`` for the data.
        line_kwargs : dict, default=None
            Passed to ``ax.plot`` for the estimator's line.
        reference_line_kwargs : dict, default=None
            Passed to ``ax.plot`` for the reference line.

        Returns
        -------
        display : RegressionLineDisplay

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If ``estimator`` is not fitted.
        ValueError
            If ``X`` has more than one feature, or ``y`` more than one target.
        """
        _pyplot(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        columns = getattr(X, "columns", None)
        values = check_array(X, dtype="numeric")
        if values.shape[1] != 1:
            raise ValueError(
                f"{cls.__name__} draws y against a single feature, but X has {values.shape[1]} "
                "features. For several features use sklearn.metrics.PredictionErrorDisplay "
                "or sklearn.inspection.PartialDependenceDisplay."
            )
        target_name = getattr(y, "name", None)
        y = column_or_1d(y)
        x = values[:, 0]

        grid = np.linspace(x.min(), x.max(), grid_resolution)
        grid_X = grid.reshape(-1, 1)
        if columns is not None:
            # Predict on the same kind of container as X, so that an estimator
            # fitted on a DataFrame finds its feature names and does not warn.
            grid_X = type(X)({columns[0]: grid})
        feature_names = getattr(estimator, "feature_names_in_", None)
        if columns is not None:
            feature_name = str(columns[0])
        elif feature_names is not None:
            feature_name = str(feature_names[0])
        else:
            feature_name = None

        predictions = np.asarray(estimator.predict(grid_X)).ravel()
        reference_predictions = reference_name = None
        if reference is not None:
            if isinstance(reference, str) and reference == "linear_regression":
                # Imported here: scipy-heavy, and only needed to draw.
                from sklearn.linear_model import LinearRegression

                reference = LinearRegression()
            elif isinstance(reference, str):
                raise ValueError(
                    f"reference must be 'linear_regression', a regressor or None, got {reference!r}."
                )
            reference = clone(reference).fit(X, y)
            reference_predictions = np.asarray(reference.predict(grid_X)).ravel()
            reference_name = type(reference).__name__

        display = cls(
            x,
            y,
            grid=grid,
            predictions=predictions,
            reference_predictions=reference_predictions,
            feature_name=feature_name,
            target_name=None if target_name is None else str(target_name),
            estimator_name=type(estimator).__name__ if name is None else name,
            reference_name=reference_name,
        )
        return display.plot(
            ax=ax,
            scatter_kwargs=scatter_kwargs,
            line_kwargs=line_kwargs,
            reference_line_kwargs=reference_line_kwargs,
        )
