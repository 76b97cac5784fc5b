"""Cross-validate a Keras regressor against ``LinearRegression`` on the same folds."""

import numbers
import sys

import numpy as np
from sklearn.base import clone, is_regressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, check_cv, cross_validate

_REFERENCE = "LinearRegression"
_SCORING = {"r2": "r2", "rmse": "neg_root_mean_squared_error"}


def compare_to_linear_regression(estimator, X, y, *, cv=5, random_state=0, feature_names=None, verbose=0):
    """Cross-validate ``estimator`` and ``LinearRegression`` on the same folds.

    Clones of both models are fitted and scored on identical train/test
    splits, fold by fold. For a linear network (one with ``coef_``), clones
    of both are then also refitted on all of ``X`` and ``y``, and their
    coefficients and intercepts put side by side: those come from the
    full-data fits, not from the folds. A nonlinear network (an MLP with a
    nonlinear activation) has no ``coef_`` and gets no coefficient table.

    Parameters
    ----------
    estimator : KerasLinearRegressor
        Any configuration; it is cloned, never fitted itself. Any scikit-learn
        regressor works, and is named by its class in the tables.
    X : array-like of shape (n_samples, n_features)
        With a pandas DataFrame, the coefficients are labelled by its column
        names; otherwise ``x0, x1, ...``.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        With several targets, R² and RMSE are averaged over the targets
        (uniformly, as scikit-learn's scorers do) and the coefficient table
        has one row per target and feature.
    cv : int or cross-validation splitter, default=5
        An int is the number of folds of ``KFold(cv, shuffle=True,
        random_state=random_state)``; shuffling matters for data sorted by a
        feature (as the tutorial data is). A splitter or an iterable of
        ``(train, test)`` index pairs is used as given. The splits are drawn
        once and shared by both models.
    random_state : int, RandomState instance or None, default=0
        Shuffles the folds when ``cv`` is an int. The estimator's own
        ``random_state`` is left as it is.
    feature_names : list of str or None, default=None
        Labels of the coefficients. None takes the column names of a
        DataFrame ``X``, or ``x0, x1, ...``.
    verbose : int, default=0
        When positive, print one line per fold and model, and one for the
        full-data refit, to standard error.

    Returns
    -------
    comparison : Comparison
        Per-fold and summary scores, the full-data fits and, for a linear
        network, the coefficients. ``print(comparison)`` shows the tables.

    See Also
    --------
    sklearn.model_selection.cross_validate : What runs each fold.

    Examples
    --------
    >>> from sklearn_kerasreg import KerasLinearRegressor, compare_to_linear_regression, load_tutorial
    >>> X, y = load_tutorial(return_X_y=True)
    >>> comparison = compare_to_linear_regression(KerasLinearRegressor(random_state=0), X, y, cv=3)
    >>> comparison.model_names
    ('KerasLinearRegressor', 'LinearRegression')
    >>> comparison.fold_scores["LinearRegression"]["r2"].shape
    (3,)
    >>> print(comparison)
    Cross-validation: 3 folds (KFold, shuffled), 51 samples, 1 feature
    <BLANKLINE>
    model                     R^2 mean   R^2 std   RMSE mean    RMSE std   fit [s]
    KerasLinearRegressor        0.96...
    LinearRegression            0.96...
    <BLANKLINE>
    Coefficients, both models refitted on all 51 samples
                   KerasLinearRegressor  LinearRegression   difference  relative
    x0                           0.96...          0.96...
    (intercept)                  6...             6...
    """
    if not _is_regressor(estimator):
        raise TypeError(f"estimator must be a scikit-learn regressor, got {type(estimator).__name__}.")
    n_features = _num_features(X)
    if feature_names is not None and len(feature_names) != n_features:
        raise ValueError(f"{len(feature_names)} feature_names for {n_features} features.")
    name = type(estimator).__name__
    if name == _REFERENCE:
        name = f"{name} (estimator)"
    n_samples = _num_samples(X)
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if not 2 <= cv <= n_samples:
            raise ValueError(f"cv={cv} folds need 2 <= cv <= n_samples={n_samples}.")
        splitter = KFold(n_splits=int(cv), shuffle=True, random_state=random_state)
        cv_name = "KFold, shuffled"
    else:
        splitter = check_cv(cv)
        cv_name = type(splitter).__name__
    splits = list(splitter.split(X, y))
    models = {name: estimator, _REFERENCE: LinearRegression()}

    fold_scores = {m: {"r2": [], "rmse": [], "fit_time": []} for m in models}
    for k, fold in enumerate(splits, start=1):
        for model_name, model in models.items():
            # One cross_validate call per fold and model: the same public
            # machinery as a plain call, with a progress line after each fit.
            result = cross_validate(clone(model), X, y, cv=[fold], scoring=_SCORING, error_score="raise")
            scores = fold_scores[model_name]
            scores["r2"].append(float(result["test_r2"][0]))
            scores["rmse"].append(-float(result["test_rmse"][0]))
            scores["fit_time"].append(float(result["fit_time"][0]))
            if verbose > 0:
                print(
                    f"fold {k}/{len(splits)}  {model_name:<22} R^2 {scores['r2'][-1]:.4f}  "
                    f"RMSE {scores['rmse'][-1]:#.4g}  fit {scores['fit_time'][-1]:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    fold_scores = {m: {k: np.asarray(v) for k, v in s.items()} for m, s in fold_scores.items()}

    if verbose > 0:
        print(f"refit on all {n_samples} samples", file=sys.stderr, flush=True)
    estimator_ = clone(estimator).fit(X, y)
    linear_regression_ = LinearRegression().fit(X, y)
    return Comparison(
        estimator_=estimator_,
        linear_regression_=linear_regression_,
        fold_scores=fold_scores,
        splits=splits,
        cv_name=cv_name,
        n_samples=n_samples,
        feature_names=np.asarray(
            _feature_names(linear_regression_) if feature_names is None else feature_names, dtype=object
        ),
        y=y,
    )


class Comparison:
    """Result of :func:`compare_to_linear_regression`.

    Attributes
    ----------
    model_names : tuple of str
        The network's class name, then ``"LinearRegression"``.
    fold_scores : dict
        ``fold_scores[model]["r2" | "rmse" | "fit_time"]`` is an array with
        one value per fold (R² and RMSE on the fold's test set).
    splits : list of (ndarray, ndarray)
        The shared ``(train, test)`` indices of each fold.
    estimator_ : estimator
        The network refitted on all the data.
    linear_regression_ : LinearRegression
        ``LinearRegression`` fitted on all the data.
    feature_names : ndarray of str
    target_names : list of str or None
        Labels of the targets when ``y`` had several, else None.
    coefficients : dict or None
        For a linear network: ``{"feature": labels, model: values, ...}``
        with the intercept as the last label, ``"(intercept)"``; with several
        targets, also a ``"target"`` list. None for a nonlinear network.

    See Also
    --------
    compare_to_linear_regression : The function that returns it.

    Examples
    --------
    >>> from sklearn_kerasreg import KerasLinearRegressor, compare_to_linear_regression, load_tutorial
    >>> X, y = load_tutorial(return_X_y=True)
    >>> comparison = compare_to_linear_regression(KerasLinearRegressor(random_state=0), X, y, cv=2)
    >>> comparison
    <Comparison of KerasLinearRegressor and LinearRegression, 2 folds>
    >>> sorted(comparison.summary()["LinearRegression"])
    ['fit_time_mean', 'r2_mean', 'r2_std', 'rmse_mean', 'rmse_std']
    >>> comparison.coefficients["feature"]
    ['x0', '(intercept)']
    >>> bool(abs(comparison.coefficients["relative difference"][0]) < 1e-3)
    True
    """

    def __init__(self, *, estimator_, linear_regression_, fold_scores, splits, cv_name, n_samples,
                 feature_names, y):
        self.estimator_ = estimator_
        self.linear_regression_ = linear_regression_
        self.fold_scores = fold_scores
        self.splits = splits
        self.cv_name = cv_name
        self.n_samples = n_samples
        self.feature_names = feature_names
        self.model_names = tuple(fold_scores)
        n_targets = 1 if np.ndim(y) == 1 else np.shape(y)[1]
        self.target_names = None
        if n_targets > 1:
            columns = getattr(y, "columns", None)
            self.target_names = [str(c) for c in columns] if columns is not None else [
                f"y{i}" for i in range(n_targets)
            ]
        self.coefficients = self._coefficients()

    def _coefficients(self):
        try:
            net = _with_intercept(self.estimator_.coef_, self.estimator_.intercept_)
        except AttributeError:
            return None
        lr = self.linear_regression_
        ref = _with_intercept(lr.coef_, lr.intercept_)
        labels = [*self.feature_names, "(intercept)"]
        table = {}
        if self.target_names is not None:
            table["target"] = [t for t in self.target_names for _ in labels]
        table["feature"] = labels * net.shape[0]
        net, ref = net.ravel(), ref.ravel()
        table[self.model_names[0]] = net
        table[_REFERENCE] = ref
        table["difference"] = net - ref
        with np.errstate(divide="ignore", invalid="ignore"):
            table["relative difference"] = np.abs(net - ref) / np.abs(ref)
        return table

    def summary(self):
        """Mean and standard deviation (over folds, ``ddof=0``) of each score, per model.

        Returns
        -------
        summary : dict
            ``summary[model]`` has keys ``r2_mean``, ``r2_std``,
            ``rmse_mean``, ``rmse_std`` and ``fit_time_mean``.
        """
        return {
            model: {
                "r2_mean": float(np.mean(s["r2"])),
                "r2_std": float(np.std(s["r2"])),
                "rmse_mean": float(np.mean(s["rmse"])),
                "rmse_std": float(np.std(s["rmse"])),
                "fit_time_mean": float(np.mean(s["fit_time"])),
            }
            for model, s in self.fold_scores.items()
        }

    def to_text(self):
        """The comparison as plain-text tables.

        Returns
        -------
        text : str
        """
        n_features = len(self.feature_names)
        lines = [
            f"Cross-validation: {len(self.splits)} folds ({self.cv_name}), {self.n_samples} samples, "
            f"{n_features} feature{'s' if n_features != 1 else ''}"
            + (f", {len(self.target_names)} targets (scores averaged)" if self.target_names else ""),
            "",
            f"{'model':<24}{'R^2 mean':>10}{'R^2 std':>10}{'RMSE mean':>12}{'RMSE std':>12}{'fit [s]':>10}",
        ]
        for model, s in self.summary().items():
            lines.append(
                f"{model:<24}{s['r2_mean']:>10.4f}{s['r2_std']:>10.4f}{s['rmse_mean']:>#12.4g}"
                f"{s['rmse_std']:>#12.4g}{s['fit_time_mean']:>10.3f}"
            )
        lines.append("")
        if self.coefficients is None:
            lines.append(
                f"{self.model_names[0]} is not linear (nonlinear hidden layers): no coefficients to compare."
            )
            return "\n".join(lines)
        table = self.coefficients
        net_name = self.model_names[0]
        lines.append(f"Coefficients, both models refitted on all {self.n_samples} samples")
        labels = table["feature"]
        if "target" in table:
            labels = [f"{t}: {f}" for t, f in zip(table["target"], labels)]
        width = max(12, *(len(label) + 2 for label in labels))
        lines.append(
            f"{'':<{width}}{net_name:>22}{_REFERENCE:>18}{'difference':>13}{'relative':>10}"
        )
        for i, label in enumerate(labels):
            rel = table["relative difference"][i]
            rel = f"{rel:>10.1e}" if np.isfinite(rel) else f"{'-':>10}"
            lines.append(
                f"{label:<{width}}{table[net_name][i]:>22.6g}{table[_REFERENCE][i]:>18.6g}"
                f"{table['difference'][i]:>13.2e}{rel}"
            )
        return "\n".join(lines)

    def __str__(self):
        return self.to_text()

    def __repr__(self):
        return f"<Comparison of {self.model_names[0]} and {_REFERENCE}, {len(self.splits)} folds>"

    def to_frame(self):
        """The tables as pandas DataFrames (requires pandas).

        Returns
        -------
        scores : DataFrame
            One row per model (the index), columns ``r2_mean``, ``r2_std``,
            ``rmse_mean``, ``rmse_std``, ``fit_time_mean``.
        coefficients : DataFrame or None
            Columns ``feature`` (``target`` first with several targets), the
            two model names, ``difference`` and ``relative difference``; None
            for a nonlinear network.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("Comparison.to_frame requires pandas; pip install pandas.") from exc
        scores = pd.DataFrame.from_dict(self.summary(), orient="index")
        scores.index.name = "model"
        coefficients = None if self.coefficients is None else pd.DataFrame(self.coefficients)
        return scores, coefficients


def _is_regressor(estimator):
    try:
        return is_regressor(estimator)
    except AttributeError:  # scikit-learn >= 1.6 on an object that is not an estimator at all
        return False


def _with_intercept(coef, intercept):
    """Coefficients and intercept as one (n_targets, n_features + 1) array."""
    return np.column_stack([np.atleast_2d(coef), np.atleast_1d(intercept)])


def _num_samples(X):
    if hasattr(X, "shape") and len(X.shape) > 0:
        return int(X.shape[0])
    return len(X)


def _num_features(X):
    shape = getattr(X, "shape", None) or np.shape(X)
    return int(shape[1]) if len(shape) > 1 else 1


def _feature_names(fitted):
    names = getattr(fitted, "feature_names_in_", None)
    if names is not None:
        return list(names)
    return [f"x{i}" for i in range(fitted.n_features_in_)]
