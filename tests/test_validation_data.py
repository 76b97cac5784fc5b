"""Validation data given explicitly: ``fit(X, y, X_val=..., y_val=..., sample_weight_val=...)``."""

import inspect
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_kerasreg import KerasLinearRegressor

X, y = make_regression(260, 4, noise=20.0, random_state=0)
# The last 60 rows, in time order, are the validation set.
X_fit, y_fit, X_val, y_val = X[:200], y[:200], X[200:], y[200:]


def _fit(reg, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return reg.fit(*args, **kwargs)


def _validation_loss(reg, X_, y_, w=None):
    """The monitored loss of ``reg``'s model on ``X_``, as the validation curve reports it: the
    weighted mean squared error in the caller's units."""
    return np.average((reg.predict(X_) - y_) ** 2, weights=w)


@pytest.mark.parametrize("hidden", [(), (8,)], ids=["linear", "mlp"])
def test_given_validation_data_is_what_early_stopping_monitors(hidden):
    params = {"hidden_layer_sizes": hidden, "early_stopping": True, "epochs": 200, "random_state": 0}
    w_val = np.linspace(0.5, 2.0, len(y_val))
    reg = _fit(KerasLinearRegressor(**params), X_fit, y_fit, X_val=X_val, y_val=y_val, sample_weight_val=w_val)
    # The best weights on the validation data are kept, and their loss is
    # the curve's minimum: the curve was measured on X_val, with its weights.
    assert min(reg.validation_loss_curve_) == pytest.approx(_validation_loss(reg, X_val, y_val, w_val), rel=1e-5)
    # No row of X was held out: the fraction no longer matters.
    other = _fit(KerasLinearRegressor(**params, validation_fraction=0.5), X_fit, y_fit, X_val=X_val, y_val=y_val,
                 sample_weight_val=w_val)
    np.testing.assert_array_equal(other.predict(X), reg.predict(X))
    split = _fit(KerasLinearRegressor(**params), X_fit, y_fit)
    assert not np.array_equal(split.predict(X), reg.predict(X))


BAD_VALIDATION = [
    ("X_val-alone", {"X_val": X_val}, "X_val is given but y_val is not"),
    ("y_val-alone", {"y_val": y_val}, "y_val is given but X_val is not"),
    ("weights-alone", {"sample_weight_val": np.ones(60)}, "sample_weight_val is given without"),
    ("feature-count", {"X_val": X_val[:, :3], "y_val": y_val}, "X_val.*3 features.*expecting 4"),
    ("row-count", {"X_val": X_val, "y_val": y_val[1:]}, "X_val.*inconsistent numbers of samples"),
    ("targets", {"X_val": X_val, "y_val": np.c_[y_val, y_val]}, "y_val has 2 target"),
    ("NaN", {"X_val": np.where(X_val > 1, np.nan, X_val), "y_val": y_val}, "X_val.*NaN"),
    ("weights-length", {"X_val": X_val, "y_val": y_val, "sample_weight_val": np.ones(5)}, "sample_weight"),
]


@pytest.mark.parametrize("kwargs, match", [c[1:] for c in BAD_VALIDATION], ids=[c[0] for c in BAD_VALIDATION])
def test_bad_validation_data_is_rejected_and_loses_nothing(kwargs, match):
    reg = _fit(KerasLinearRegressor(early_stopping=True, epochs=20, random_state=0), X_fit, y_fit)
    before = reg.predict(X)
    with pytest.raises(ValueError, match=match):
        reg.fit(X_fit, y_fit, **kwargs)
    np.testing.assert_array_equal(reg.predict(X), before)


def test_validation_data_without_early_stopping_is_an_error():
    with pytest.raises(ValueError, match="only used for early stopping.*early_stopping=True"):
        KerasLinearRegressor().fit(X_fit, y_fit, X_val=X_val, y_val=y_val)


def test_validation_feature_names_must_match():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    reg = KerasLinearRegressor(early_stopping=True, epochs=5, random_state=0)
    with pytest.raises(ValueError, match="X_val.*feature names"):
        reg.fit(frame[:200], y_fit, X_val=frame[200:].rename(columns={"a": "z"}), y_val=y_val)


@pytest.fixture
def metadata_routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_validation_data_is_routed_through_a_pipeline_in_a_search(metadata_routing):
    reg = KerasLinearRegressor(early_stopping=True, epochs=100, random_state=0)
    reg.set_fit_request(X_val=True, y_val=True)
    if "transform_input" in inspect.signature(Pipeline).parameters:
        # scikit-learn 1.7 and later: X_val is scaled as X is.
        pipe = Pipeline([("scale", StandardScaler()), ("reg", reg)], transform_input=["X_val"])
    else:
        pipe = Pipeline([("identity", FunctionTransformer()), ("reg", reg)])
    search = GridSearchCV(pipe, {"reg__alpha": [0.0, 1.0]}, cv=2)
    # X_val has other rows than X, so the search hands it whole to every fit.
    _fit(search, X_fit, y_fit, X_val=X_val, y_val=y_val)
    best = search.best_estimator_
    X_val_seen = best[:-1].transform(X_val)
    assert min(best[-1].validation_loss_curve_) == pytest.approx(
        _validation_loss(best[-1], X_val_seen, y_val), rel=1e-5
    )


def test_unrequested_validation_data_is_an_error_under_routing(metadata_routing):
    search = GridSearchCV(Pipeline([("reg", KerasLinearRegressor(early_stopping=True))]), {"reg__alpha": [0.0]}, cv=2)
    with pytest.raises(ValueError, match="X_val"):
        search.fit(X_fit, y_fit, X_val=X_val, y_val=y_val)
