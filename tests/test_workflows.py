"""KerasLinearRegressor inside scikit-learn's composition, model-selection and parallel tools."""

import warnings

import numpy as np
import pytest
import sklearn
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.datasets import make_regression
from sklearn.ensemble import StackingRegressor, VotingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_predict,
    cross_validate,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from sklearn_kerasreg import KerasLinearRegressor

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def data():
    # Well conditioned, so the single neuron reaches LinearRegression's fit on every fold.
    X, y = make_regression(200, 6, noise=10, random_state=0)
    return X, y + 300  # positive targets, for the log transform below


@pytest.fixture
def quiet_convergence():
    # Short MLP fits in these tests are about the API, not the fit quality.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def close_to_linear_regression(estimator, X, y, rtol=1e-3):
    reference = LinearRegression().fit(X, y).predict(X)
    scale = np.abs(reference).mean()
    np.testing.assert_allclose(estimator.predict(X), reference, atol=rtol * scale)


def test_pipeline_with_scaler(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), KerasLinearRegressor(random_state=0)).fit(X, y)
    close_to_linear_regression(pipe, X, y)


def test_column_transformer_with_a_categorical_column():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "colour": rng.choice(["red", "blue", "green"], 120)})
    effect = frame["colour"].map({"red": 1.0, "blue": -2.0, "green": 0.5})
    y = 3 * frame["x"] + effect + 0.01 * rng.normal(size=120)
    pre = ColumnTransformer(
        [("num", "passthrough", ["x"]), ("cat", OneHotEncoder(drop="first", sparse_output=False), ["colour"])]
    ).set_output(transform="pandas")
    pipe = Pipeline([("pre", pre), ("reg", KerasLinearRegressor(random_state=0))]).fit(frame, y)
    close_to_linear_regression(pipe["reg"], pre.transform(frame), y)
    # The network sees the transformed columns, named by the ColumnTransformer.
    assert list(pipe["reg"].feature_names_in_) == list(pre.get_feature_names_out())


def test_transformed_target_regressor(data):
    X, y = data
    model = TransformedTargetRegressor(
        regressor=KerasLinearRegressor(random_state=0), func=np.log, inverse_func=np.exp
    ).fit(X, y)
    reference = TransformedTargetRegressor(LinearRegression(), func=np.log, inverse_func=np.exp).fit(X, y)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), rtol=1e-3)


def test_stacking_and_voting(data):
    X, y = data
    members = [("keras", KerasLinearRegressor(random_state=0)), ("ridge", Ridge(alpha=1e-6))]
    voting = VotingRegressor(members).fit(X, y)
    # Both members fit the same least-squares problem, so their average does too.
    close_to_linear_regression(voting, X, y)
    stacking = StackingRegressor(members, final_estimator=KerasLinearRegressor(random_state=0), cv=3)
    stacking.fit(X, y)
    assert stacking.final_estimator_.coef_.shape == (2,)
    assert np.corrcoef(stacking.predict(X), y)[0, 1] > 0.6


def test_cross_val_predict_and_cross_validate_match_linear_regression(data):
    X, y = data
    cv = KFold(4, shuffle=True, random_state=0)
    ours = cross_val_predict(KerasLinearRegressor(random_state=0), X, y, cv=cv)
    reference = cross_val_predict(LinearRegression(), X, y, cv=cv)
    np.testing.assert_allclose(ours, reference, rtol=1e-3, atol=1e-3 * np.abs(y).mean())
    scores = cross_validate(KerasLinearRegressor(random_state=0), X, y, cv=cv, scoring="r2")
    reference_scores = cross_validate(LinearRegression(), X, y, cv=cv, scoring="r2")
    np.testing.assert_allclose(scores["test_score"], reference_scores["test_score"], atol=1e-3)


def search_pipeline():
    return Pipeline([("scale", StandardScaler()), ("reg", KerasLinearRegressor(random_state=0))])


ROUTED_GRID = {
    "reg__optimizer__learning_rate": [0.05, 0.1],
    "reg__alpha": [0.0, 10.0],
}


def test_grid_search_over_routed_parameters_in_a_pipeline(data):
    X, y = data
    search = GridSearchCV(search_pipeline(), ROUTED_GRID, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_["reg"]
    assert best.optimizer__learning_rate == search.best_params_["reg__optimizer__learning_rate"]
    assert best.alpha == search.best_params_["reg__alpha"]
    # A penalty of 10 on 133 training rows shrinks the weights by about 7%; the search must see it.
    by_alpha = {p["reg__alpha"]: s for p, s in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"])}
    assert by_alpha[0.0] > by_alpha[10.0]


def test_randomized_and_halving_search_over_hidden_layer_sizes(data, quiet_convergence):
    X, y = data
    grid = {"reg__hidden_layer_sizes": [(), (8,)], "reg__epochs": [30]}
    randomized = RandomizedSearchCV(search_pipeline(), grid, n_iter=2, cv=2, random_state=0).fit(X, y)
    assert {p["reg__hidden_layer_sizes"] for p in randomized.cv_results_["params"]} == {(), (8,)}
    halving = HalvingGridSearchCV(
        search_pipeline(), grid, cv=2, factor=2, min_resources=60, random_state=0
    ).fit(X, y)
    assert halving.best_params_["reg__hidden_layer_sizes"] in [(), (8,)]
    assert np.isfinite(halving.best_score_)


def parallel_search(X, y, n_jobs):
    grid = {"reg__hidden_layer_sizes": [(), (4,)], "reg__epochs": [20]}
    return GridSearchCV(search_pipeline(), grid, cv=2, n_jobs=n_jobs).fit(X, y).cv_results_


def test_search_results_do_not_depend_on_n_jobs(data, quiet_convergence):
    X, y = data
    serial = parallel_search(X, y, n_jobs=1)
    first = parallel_search(X, y, n_jobs=2)
    # A second parallel search in the same process reuses the workers.
    second = parallel_search(X, y, n_jobs=2)
    for results in (first, second):
        for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
            np.testing.assert_array_equal(results[key], serial[key])


def _worker_thread_pools(X, y):
    import tensorflow as tf

    from sklearn_kerasreg import KerasLinearRegressor

    KerasLinearRegressor(random_state=0).fit(X, y)
    threading = tf.config.threading
    return threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()


@pytest.mark.tensorflow_only
def test_tensorflow_threads_are_capped_in_joblib_workers(data):
    # loky gives each of n_jobs workers cpu_count() // n_jobs threads; the
    # first fit in a worker applies the same cap to TensorFlow.
    import os

    n_jobs = 2
    expected = max(1, os.cpu_count() // n_jobs)
    pools = Parallel(n_jobs=n_jobs, backend="loky")(delayed(_worker_thread_pools)(*data) for _ in range(2))
    assert pools == [(expected, expected)] * 2


def test_thread_cap_reads_environment(monkeypatch):
    from sklearn_kerasreg._backends.runtime import THREADS_ENV, thread_cap

    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert thread_cap() == 3
    monkeypatch.setenv(THREADS_ENV, "1")
    assert thread_cap() == 1
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "2")  # TensorFlow's own setting wins
    assert thread_cap() is None


def frame_data():
    X, y = make_regression(150, 4, noise=5, random_state=1)
    return pd.DataFrame(X, columns=["age", "bmi", "bp", "s5"]), pd.Series(y, name="progression")


def test_pandas_feature_names_and_coefficients_by_name():
    X, y = frame_data()
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    assert list(reg.feature_names_in_) == list(X.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names" warning
        reg.predict(X)
    ours = pd.Series(reg.coef_, index=reg.feature_names_in_)
    reference = pd.Series(LinearRegression().fit(X, y).coef_, index=X.columns)
    scale = np.abs(reference).max()
    for name in ["age", "bmi", "s5"]:
        assert abs(ours[name] - reference[name]) <= 1e-3 * scale


def test_reordered_columns_are_rejected(quiet_convergence):
    X, y = frame_data()
    reg = KerasLinearRegressor(random_state=0, epochs=5).fit(X, y)
    with pytest.raises(ValueError, match="feature names"):
        reg.predict(X[list(reversed(X.columns))])


@pytest.fixture
def metadata_routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_sample_weight_is_routed_through_a_pipeline_in_a_search(metadata_routing, data):
    X, y = data
    weights = np.where(np.arange(len(y)) % 3 == 0, 0.0, 1.0)  # drop every third row
    scaler = FunctionTransformer()  # stateless: the weighted fit is then a plain weighted regression
    reg = KerasLinearRegressor(random_state=0).set_fit_request(sample_weight=True)
    reg.set_score_request(sample_weight=True)
    # scikit-learn 1.6 asks for the Pipeline's own score request too (Ridge alike).
    pipe = Pipeline([("f", scaler), ("reg", reg)]).set_score_request(sample_weight=True)
    search = GridSearchCV(pipe, {"reg__alpha": [0.0]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a failed (NaN) score is a warning
        search.fit(X, y, sample_weight=weights)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    kept = weights > 0
    reference = LinearRegression().fit(X[kept], y[kept])
    np.testing.assert_allclose(search.best_estimator_["reg"].coef_, reference.coef_, rtol=2e-3,
                               atol=2e-3 * np.abs(reference.coef_).max())


def test_clone_carries_metadata_requests_and_keeps_them_apart(metadata_routing):
    # scikit-learn 1.6 to 1.8 cannot clone a MetadataRequest; the copy must still work there.
    reg = KerasLinearRegressor(alpha=0.5).set_fit_request(sample_weight=True)
    copy = clone(reg)
    assert copy.get_metadata_routing().fit.requests["sample_weight"] is True
    copy.set_fit_request(sample_weight=False)
    assert reg.get_metadata_routing().fit.requests["sample_weight"] is True


def test_unrequested_sample_weight_is_an_error_under_routing(metadata_routing, data):
    X, y = data
    search = GridSearchCV(Pipeline([("reg", KerasLinearRegressor())]), {"reg__alpha": [0.0]}, cv=2)
    with pytest.raises(ValueError, match="sample_weight"):
        search.fit(X, y, sample_weight=np.ones(len(y)))
