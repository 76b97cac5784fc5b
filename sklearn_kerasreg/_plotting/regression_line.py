"""RegressionLineDisplay: the data of a one-feature regression and the fitted line."""

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from .common import pyplot, styled


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
        plt = pyplot(f"{type(self).__name__}.plot")
        if ax is None:
            _, ax = plt.subplots()

        scatter_kwargs = {"alpha": 0.8, "label": "Data", **(scatter_kwargs or {})}
        self.scatter_ = ax.scatter(self.x, self.y, **scatter_kwargs)
        label = "Estimator" if self.estimator_name is None else self.estimator_name
        self.line_ = ax.plot(self.grid, self.predictions, **styled({"label": label}, line_kwargs))[0]
        self.reference_line_ = None
        if self.reference_predictions is not None:
            label = "Reference" if self.reference_name is None else self.reference_name
            defaults = {"label": label, "linestyle": "--", "color": "black"}
            self.reference_line_ = ax.plot(
                self.grid, self.reference_predictions, **styled(defaults, reference_line_kwargs)
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
        pyplot(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        x, y, feature_name, target_name = _one_feature(cls.__name__, estimator, X, y)
        grid = np.linspace(x.min(), x.max(), grid_resolution)
        grid_X = grid.reshape(-1, 1)
        columns = getattr(X, "columns", None)
        if columns is not None:
            # Predict on the same kind of container as X, so that an estimator
            # fitted on a DataFrame finds its feature names and does not warn.
            grid_X = type(X)({columns[0]: grid})
        predictions = np.asarray(estimator.predict(grid_X)).ravel()
        reference_predictions = reference_name = None
        if reference is not None:
            reference = _fitted_reference(reference, X, y)
            reference_predictions = np.asarray(reference.predict(grid_X)).ravel()
            reference_name = type(reference).__name__

        display = cls(
            x,
            y,
            grid=grid,
            predictions=predictions,
            reference_predictions=reference_predictions,
            feature_name=feature_name,
            target_name=target_name,
            estimator_name=type(estimator).__name__ if name is None else name,
            reference_name=reference_name,
        )
        return display.plot(
            ax=ax,
            scatter_kwargs=scatter_kwargs,
            line_kwargs=line_kwargs,
            reference_line_kwargs=reference_line_kwargs,
        )


def _one_feature(caller, estimator, X, y):
    """``(x, y, feature_name, target_name)``: the single feature and the target, 1-d, and their names."""
    columns = getattr(X, "columns", None)
    values = check_array(X, dtype="numeric")
    if values.shape[1] != 1:
        raise ValueError(
            f"{caller} draws y against a single feature, but X has {values.shape[1]} "
            "features. For several features use sklearn.metrics.PredictionErrorDisplay "
            "or sklearn.inspection.PartialDependenceDisplay."
        )
    target_name = getattr(y, "name", None)
    feature_names = getattr(estimator, "feature_names_in_", None)
    if columns is not None:
        feature_name = str(columns[0])
    elif feature_names is not None:
        feature_name = str(feature_names[0])
    else:
        feature_name = None
    return values[:, 0], column_or_1d(y), feature_name, None if target_name is None else str(target_name)


def _fitted_reference(reference, X, y):
    """The reference model, fitted on ``X, y``: ``"linear_regression"`` or a clone of a regressor."""
    if isinstance(reference, str) and reference == "linear_regression":
        # Imported here: scipy-heavy, and only needed to draw.
        from sklearn.linear_model import LinearRegression

        reference = LinearRegression()
    elif isinstance(reference, str):
        raise ValueError(f"reference must be 'linear_regression', a regressor or None, got {reference!r}.")
    return clone(reference).fit(X, y)
