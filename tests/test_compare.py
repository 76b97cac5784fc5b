"""compare_to_linear_regression: same folds, right numbers, honest tables."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_score

from sklearn_kerasreg import KerasLinearRegressor, compare_to_linear_regression, load_tutorial

pd = pytest.importorskip("pandas")

NET = "KerasLinearRegressor"
REF = "LinearRegression"


@pytest.fixture(scope="module")
def tutorial_comparison():
    """The single neuron against LinearRegression on the tutorial data, as a DataFrame."""
    X, y = load_tutorial(return_X_y=True, as_frame=True)
    net = KerasLinearRegressor(random_state=0)
    comparison = compare_to_linear_regression(net, X, y, cv=3, random_state=1)
    return comparison, X, y


def test_scores_match_an_independent_cross_validation(tutorial_comparison):
    comparison, X, y = tutorial_comparison
    folds = KFold(3, shuffle=True, random_state=1)
    r2 = cross_val_score(LinearRegression(), X, y, cv=folds, scoring="r2")
    rmse = -cross_val_score(LinearRegression(), X, y, cv=folds, scoring="neg_root_mean_squared_error")
    np.testing.assert_allclose(comparison.fold_scores[REF]["r2"], r2, rtol=1e-12)
    np.testing.assert_allclose(comparison.fold_scores[REF]["rmse"], rmse, rtol=1e-12)
    for (train, test), (expected_train, expected_test) in zip(comparison.splits, folds.split(X)):
        np.testing.assert_array_equal(train, expected_train)
        np.testing.assert_array_equal(test, expected_test)

    summary = comparison.summary()[REF]
    assert summary["r2_mean"] == pytest.approx(r2.mean(), rel=1e-12)
    assert summary["r2_std"] == pytest.approx(r2.std(), rel=1e-12)
    assert summary["rmse_mean"] == pytest.approx(rmse.mean(), rel=1e-12)
    row = next(line for line in comparison.to_text().splitlines() if line.startswith(REF))
    assert row.split()[1:3] == [f"{r2.mean():.4f}", f"{r2.std():.4f}"]


def test_network_is_scored_on_the_same_folds(tutorial_comparison):
    comparison, X, y = tutorial_comparison
    train, test = comparison.splits[0]
    net = KerasLinearRegressor(random_state=0).fit(X.iloc[train], y.iloc[train])
    expected = r2_score(y.iloc[test], net.predict(X.iloc[test]))
    assert comparison.fold_scores[NET]["r2"][0] == pytest.approx(expected, rel=1e-9)


def test_coefficients_agree_with_linear_regression(tutorial_comparison):
    comparison, X, y = tutorial_comparison
    reference = LinearRegression().fit(X, y)
    table = comparison.coefficients
    assert list(table["feature"]) == ["x", "(intercept)"]  # DataFrame column names
    np.testing.assert_allclose(table[REF], [reference.coef_[0], reference.intercept_], rtol=1e-12)
    np.testing.assert_allclose(table[NET], [reference.coef_[0], reference.intercept_], rtol=1e-3)
    np.testing.assert_allclose(table["difference"], table[NET] - table[REF])
    # The table holds the full-data fits kept on the result.
    assert table[NET][0] == comparison.estimator_.coef_[0]
    assert table[NET][1] == comparison.estimator_.intercept_
    text = comparison.to_text()
    assert NET in text and REF in text and "(intercept)" in text


def test_to_frame_columns(tutorial_comparison):
    comparison, _, _ = tutorial_comparison
    scores, coefficients = comparison.to_frame()
    assert list(scores.index) == [NET, REF]
    assert list(scores.columns) == ["r2_mean", "r2_std", "rmse_mean", "rmse_std", "fit_time_mean"]
    assert list(coefficients.columns) == ["feature", NET, REF, "difference", "relative difference"]
    assert scores.loc[REF, "rmse_mean"] == comparison.fold_scores[REF]["rmse"].mean()


def test_mlp_has_no_coefficient_table():
    X, y = load_tutorial(return_X_y=True)
    mlp = KerasLinearRegressor(hidden_layer_sizes=(4,), epochs=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        comparison = compare_to_linear_regression(mlp, X, y, cv=2)
    assert comparison.coefficients is None
    assert comparison.to_frame()[1] is None
    assert "not linear" in comparison.to_text()
    assert "(intercept)" not in comparison.to_text()
    assert comparison.estimator_.hidden_layer_sizes == (4,)
    assert mlp.__dict__.get("model_") is None  # the estimator passed is never fitted


# Any regressor with coef_ exercises the table logic without TensorFlow.
def test_feature_labels_default_and_given():
    X, y = np.random.RandomState(0).normal(size=(30, 2)), np.arange(30.0)
    assert list(compare_to_linear_regression(Ridge(), X, y, cv=3).coefficients["feature"]) == [
        "x0", "x1", "(intercept)"
    ]
    given = compare_to_linear_regression(Ridge(), X, y, cv=3, feature_names=["a", "b"])
    assert list(given.coefficients["feature"]) == ["a", "b", "(intercept)"]
    with pytest.raises(ValueError, match="feature_names"):
        compare_to_linear_regression(Ridge(), X, y, feature_names=["a"])


def test_multi_output_has_a_row_per_target_and_feature():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 2))
    Y = pd.DataFrame(X @ [[1.0, 2.0], [3.0, 4.0]], columns=["u", "v"])
    comparison = compare_to_linear_regression(Ridge(alpha=1e-9), X, Y, cv=4)
    table = comparison.to_frame()[1]
    assert list(table["target"]) == ["u"] * 3 + ["v"] * 3
    np.testing.assert_allclose(table["Ridge"], table[REF], atol=1e-6)
    assert "2 targets" in comparison.to_text()


def test_verbose_prints_a_line_per_fold_and_model(capsys):
    X, y = np.arange(20.0).reshape(-1, 1), np.arange(20.0)
    compare_to_linear_regression(Ridge(), X, y, cv=3, verbose=1)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert [line.split()[:3] for line in lines[:6]] == [
        ["fold", f"{k}/3", model] for k in (1, 2, 3) for model in ("Ridge", REF)
    ]
    assert lines[6].startswith("refit")


def test_a_given_splitter_is_used_as_is():
    X, y = np.arange(20.0).reshape(-1, 1), np.arange(20.0) ** 2
    comparison = compare_to_linear_regression(Ridge(), X, y, cv=KFold(4))
    np.testing.assert_array_equal(comparison.splits[0][1], np.arange(5))


@pytest.mark.parametrize(
    "estimator, cv, error, match",
    [
        (object(), 5, TypeError, "regressor"),
        (Ridge(), 1, ValueError, "cv=1"),
        (Ridge(), 21, ValueError, "cv=21"),
    ],
)
def test_rejects_bad_arguments(estimator, cv, error, match):
    with pytest.raises(error, match=match):
        compare_to_linear_regression(estimator, np.zeros((20, 1)), np.zeros(20), cv=cv)
