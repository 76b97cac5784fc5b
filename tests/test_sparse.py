"""Sparse input: fit, partial_fit, predict, score and train_on_chunks take SciPy sparse X without densifying it."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_kerasreg import KerasLinearRegressor, load_estimator, save_estimator, train_on_chunks

MLP = {"hidden_layer_sizes": (16,), "epochs": 30, "batch_size": 64}


def one_hot_data(n=600, seed=0):
    """Two categorical columns one-hot encoded plus two numeric ones, as a CSR matrix, and a linear target."""
    rng = np.random.RandomState(seed)
    a, b = rng.randint(0, 6, n), rng.randint(0, 4, n)
    numeric = rng.normal(size=(n, 2)) * [1.0, 50.0] + [3.0, -20.0]
    X = sp.hstack([sp.csr_matrix(np.eye(6)[a]), sp.csr_matrix(np.eye(4)[b]), sp.csr_matrix(numeric)]).tocsr()
    y = X @ rng.normal(size=X.shape[1]) + 0.5 + 0.1 * rng.normal(size=n)
    return X, y


def quiet_fit(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


SPARSE_KINDS = [
    sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array, sp.coo_array, sp.lil_matrix,
]


@pytest.mark.parametrize("kind", SPARSE_KINDS, ids=lambda k: k.__name__)
def test_certified_single_neuron_on_sparse_data_matches_dense_to_1e_10(kind):
    X, y = one_hot_data()
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    for alpha in (0.0, 3.0):
        dense = KerasLinearRegressor(alpha=alpha, random_state=0).fit(X.toarray(), y, sample_weight=w)
        sparse = KerasLinearRegressor(alpha=alpha, random_state=0).fit(kind(X), y, sample_weight=w)
        np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-10, atol=1e-10 * np.abs(dense.coef_).max())
        assert sparse.intercept_ == pytest.approx(dense.intercept_, rel=1e-10, abs=1e-10)
        np.testing.assert_allclose(sparse.predict(kind(X)), dense.predict(X.toarray()), rtol=1e-10)
        assert sparse.score(kind(X), y) == pytest.approx(dense.score(X.toarray(), y), rel=1e-12)


def test_one_hot_with_every_category_predicts_as_linear_regression(exact_linear_regression):
    # All categories of each column are present: with the intercept the design is singular.
    # The certified fit lands on a least-squares solution (the minimum-norm one in standardized
    # units, so its coef_ differs from LinearRegression's), and predicts as LinearRegression does.
    X, y = one_hot_data()
    ours = KerasLinearRegressor(random_state=0).fit(X, y)
    reference = exact_linear_regression().fit(X.toarray(), y)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X.toarray()), rtol=1e-9)


def test_sparse_fit_reports_loss_in_callers_units():
    X, y = one_hot_data()
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    assert reg.loss_ == pytest.approx(np.mean((reg.predict(X) - y) ** 2), rel=1e-9)
    mlp = quiet_fit(KerasLinearRegressor(random_state=0, **MLP), X, y)
    assert mlp.loss_ == pytest.approx(np.mean((mlp.predict(X) - y) ** 2), rel=1e-6)


def test_mlp_reads_sparse_rows_as_the_same_dense_rows():
    # With standardize=False both networks read X's values as they are: the sparse one gathers
    # kernel rows where the dense one multiplies, and full-batch float64 steps agree to rounding.
    X, y = one_hot_data()
    X = X.multiply(1.0 / abs(X).max(axis=0).toarray()).tocsr()
    params = {**MLP, "batch_size": X.shape[0], "standardize": False}
    dense = quiet_fit(KerasLinearRegressor(random_state=0, **params), X.toarray(), y)
    sparse = quiet_fit(KerasLinearRegressor(random_state=0, **params), X, y)
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(sparse.predict(X), dense.predict(X.toarray()), rtol=1e-9)


def test_mlp_on_sparse_one_hot_learns_like_mlp_regressor():
    from sklearn.neural_network import MLPRegressor

    X, y = one_hot_data(2000)
    y = y + np.sin(3 * X[:, 10].toarray().ravel())  # a nonlinear part
    train, test = slice(0, 1500), slice(1500, None)
    ours = quiet_fit(KerasLinearRegressor(hidden_layer_sizes=(32,), random_state=0), X[train], y[train])
    theirs = quiet_fit(MLPRegressor(hidden_layer_sizes=(32,), random_state=0, max_iter=500), X[train], y[train])
    assert ours.score(X[test], y[test]) >= theirs.score(X[test], y[test]) - 0.01


def test_mlp_on_one_hot_column_transformer_in_grid_search():
    rng = np.random.RandomState(0)
    n = 400
    table = np.c_[rng.choice(list("abcdefgh"), n), rng.choice(list("xyz"), n), rng.normal(size=n)].astype(object)
    table[:, 2] = table[:, 2].astype(float)
    y = (table[:, 0] == "a") * 3.0 + (table[:, 1] == "z") * -2.0 + 0.5 * table[:, 2].astype(float) ** 2
    encode = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), [0, 1]), ("num", StandardScaler(), [2])],
        sparse_threshold=1.0,
    )
    assert sp.issparse(encode.fit_transform(table))
    pipe = make_pipeline(encode, KerasLinearRegressor(random_state=0, epochs=60, batch_size=32))
    search = GridSearchCV(pipe, {"keraslinearregressor__hidden_layer_sizes": [(8,), (16,)]}, cv=3)
    quiet_fit(search, table, y)
    assert search.best_score_ > 0.8
    assert search.predict(table[:5]).shape == (5,)


def test_wide_text_like_problem_matches_ridge_or_warns_by_how_much():
    rng = np.random.RandomState(0)
    n, p = 300, 2500  # above the whitening limit, and p > n
    X = sp.random(n, p, density=0.01, random_state=rng, format="csr")
    y = X @ (rng.normal(size=p) * (rng.rand(p) < 0.1)) + 0.05 * rng.normal(size=n)
    alpha = 5.0
    scale = StandardScaler(with_mean=False).fit(X).scale_
    ridge = Ridge(alpha=alpha, tol=1e-12).fit(X / scale, y / y.std())
    reference = ridge.coef_ * y.std() / scale
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = KerasLinearRegressor(alpha=alpha, random_state=0).fit(X, y)
    miss = np.linalg.norm(reg.coef_ - reference) / np.linalg.norm(reference)
    said = [str(w.message) for w in caught if "Ridge" in str(w.message)]
    if miss > 1e-6:
        assert said, f"coef_ is {miss:.1e} from Ridge's solution, without a warning"
        reported = float(said[0].split("coefficients are ")[1].split(" ")[0])
        assert reported == pytest.approx(miss, rel=0.05)
    else:
        assert not said


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_alpha_zero_with_more_features_than_rows_says_what_it_returns():
    rng = np.random.RandomState(0)
    X = sp.random(100, 2400, density=0.01, random_state=rng, format="csr")
    y = rng.normal(size=100)
    with pytest.warns(UserWarning, match="more features than"):
        KerasLinearRegressor(random_state=0, epochs=20).fit(X, y)


def test_fit_never_densifies_x():
    rng = np.random.RandomState(0)
    n, p = 4000, 5000  # dense float64: 160 MB
    X = sp.random(n, p, density=0.002, random_state=rng, format="csr")
    y = X @ rng.normal(size=p)
    dense_bytes = n * p * 8
    for params in ({"alpha": 1.0, "epochs": 5}, {"hidden_layer_sizes": (8,), "epochs": 2}):
        reg = KerasLinearRegressor(random_state=0, **params)
        tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg.fit(X, y)
            reg.predict(X)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < dense_bytes / 8, f"{params}: {peak / 1e6:.0f} MB traced, X dense is {dense_bytes / 1e6:.0f} MB"


@pytest.mark.parametrize("params", [{}, MLP], ids=["linear", "mlp"])
def test_persistence_and_onnx_of_a_sparse_fit(params, tmp_path):
    X, y = one_hot_data()
    reg = quiet_fit(KerasLinearRegressor(random_state=0, **params), X, y)
    expected = reg.predict(X)
    np.testing.assert_allclose(reg.predict(X.toarray()), expected, rtol=1e-10)
    path = tmp_path / "reg.kreg"
    save_estimator(reg, path)
    for copy in (pickle.loads(pickle.dumps(reg)), load_estimator(path)):
        np.testing.assert_array_equal(copy.predict(X), expected)
        # partial_fit continues the same in each copy as in memory
        np.testing.assert_array_equal(
            copy.partial_fit(X[:200], y[:200]).predict(X),
            pickle.loads(pickle.dumps(reg)).partial_fit(X[:200], y[:200]).predict(X),
        )
    skl2onnx = pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from sklearn_kerasreg import register_onnx_converter

    register_onnx_converter()
    onx = skl2onnx.to_onnx(reg, X[:1].toarray())
    session = onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: X.toarray()})[0]
    np.testing.assert_allclose(got.ravel(), expected, rtol=1e-9)


@pytest.mark.parametrize("params", [{}, MLP], ids=["linear", "mlp"])
def test_partial_fit_and_train_on_chunks_take_sparse_chunks(params):
    X, y = one_hot_data(1200)
    reg = KerasLinearRegressor(random_state=0, **params)
    for start in range(0, 1200, 300):
        reg.partial_fit(X[start : start + 300], y[start : start + 300])
    assert reg.n_iter_ == 4 and reg.predict(X).shape == (1200,)
    chunks = [(X[i : i + 300], y[i : i + 300]) for i in range(0, 1200, 300)]
    streamed = train_on_chunks(KerasLinearRegressor(random_state=0, **params), chunks, n_passes=8)
    assert streamed.score(X, y) > 0.95


def test_sparse_and_dense_calls_continue_each_other():
    X, y = one_hot_data()
    # A linear warm start re-whitens for each call's data: sparse after dense and dense after sparse.
    reg = KerasLinearRegressor(warm_start=True, random_state=0).fit(X.toarray(), y)
    reg.fit(X, y)
    np.testing.assert_allclose(reg.coef_, KerasLinearRegressor(random_state=0).fit(X, y).coef_, rtol=1e-9)
    # An MLP trained on sparse rows reads dense ones in the same (uncentred) coordinates ...
    mlp = quiet_fit(KerasLinearRegressor(warm_start=True, random_state=0, **MLP), X, y)
    quiet_fit(mlp, X.toarray(), y)
    mlp.partial_fit(X, y)
    # ... but one trained on centred dense inputs cannot continue on sparse ones, and says so.
    centred = quiet_fit(KerasLinearRegressor(warm_start=True, random_state=0, **MLP), X.toarray(), y)
    before = centred.predict(X)
    with pytest.raises(ValueError, match="sparse X cannot be centred"):
        centred.fit(X, y)
    with pytest.raises(ValueError, match="sparse X cannot be centred"):
        centred.partial_fit(X, y)
    np.testing.assert_array_equal(centred.predict(X), before)


def test_early_stopping_takes_sparse_or_dense_validation_data():
    X, y = one_hot_data()
    for X_val in (X[:100], X[:100].toarray()):
        reg = quiet_fit(
            KerasLinearRegressor(early_stopping=True, random_state=0, **MLP), X[100:], y[100:], X_val=X_val, y_val=y[:100]
        )
        assert len(reg.validation_loss_curve_) == reg.n_iter_
    dense = quiet_fit(KerasLinearRegressor(early_stopping=True, random_state=0, **MLP), X.toarray(), y, X_val=X[:100], y_val=y[:100])
    assert dense.n_iter_ >= 1
    split = quiet_fit(KerasLinearRegressor(early_stopping=True, random_state=0, **MLP), X, y)
    assert split.n_iter_ >= 1


def test_a_model_of_your_own_refuses_sparse_x_before_any_work():
    import keras

    def builder(meta, compile_kwargs):
        model = keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)])
        model.compile(**compile_kwargs)
        return model

    X, y = one_hot_data()
    reg = KerasLinearRegressor(model=builder, epochs=2)
    assert not reg.__sklearn_tags__().input_tags.sparse
    assert KerasLinearRegressor().__sklearn_tags__().input_tags.sparse
    with pytest.raises(TypeError, match="Sparse data was passed for X"):
        reg.fit(X, y)
    assert not hasattr(reg, "model_")


def test_non_finite_sparse_values_are_refused():
    X, y = one_hot_data()
    X = X.copy()
    X.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        KerasLinearRegressor().fit(X, y)
