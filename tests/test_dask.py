"""Searches on a Dask cluster through joblib, and training from Dask collections."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV

from sklearn_kerasreg import KerasLinearRegressor, train_on_chunks

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    # Worker processes, as on a real cluster; the nanny sets OMP_NUM_THREADS=1 in each.
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


def search(X, y):
    grid = {"alpha": [0.0, 1.0], "hidden_layer_sizes": [(), (4,)], "epochs": [40]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GridSearchCV(KerasLinearRegressor(random_state=0), grid, cv=2).fit(X, y)


def test_grid_search_on_dask_equals_local_search(client):
    from joblib import parallel_backend

    X, y = make_regression(300, 4, noise=5, random_state=0)
    local = search(X, y)
    with parallel_backend("dask"):
        remote = search(X, y)
    # Dask's workers run TensorFlow on one thread, this process on two: sums
    # may be taken in another order (on TensorFlow 2.16, one score differed
    # by 1 ulp).
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_allclose(remote.cv_results_[key], local.cv_results_[key], rtol=1e-12)
    np.testing.assert_array_equal(remote.cv_results_["rank_test_score"], local.cv_results_["rank_test_score"])
    assert remote.best_params_ == local.best_params_


def _fitted_thread_pools():
    import tensorflow as tf

    from sklearn_kerasreg import KerasLinearRegressor

    KerasLinearRegressor(random_state=0, epochs=5).fit(np.arange(20.0).reshape(-1, 1), np.arange(20.0))
    threading = tf.config.threading
    return threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()


@pytest.mark.tensorflow_only
def test_tensorflow_threads_are_capped_on_dask_workers(client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pools = client.run(_fitted_thread_pools)
    assert len(pools) == 2
    assert set(pools.values()) == {(1, 1)}


def test_train_from_dask_array_blocks():
    X, y = make_regression(20_000, 5, noise=5, random_state=0)
    dX = da.from_array(X, chunks=(4000, 5))
    dy = da.from_array(y, chunks=2500)  # not aligned with X: rechunked to X's blocks
    reg = train_on_chunks(KerasLinearRegressor(random_state=0), (dX, dy), n_passes=4)
    assert reg.n_iter_ == 4 * 5
    reference = LinearRegression().fit(X, y)
    assert abs(r2_score(y, reg.predict(X)) - r2_score(y, reference.predict(X))) < 1e-3


def test_train_from_dask_dataframe_partitions():
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = make_regression(12_000, 3, noise=5, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(target=y)
    reg = train_on_chunks(
        KerasLinearRegressor(random_state=0), dd.from_pandas(frame, npartitions=4), n_passes=4, target="target"
    )
    assert list(reg.feature_names_in_) == ["a", "b", "c"]
    reference = LinearRegression().fit(X, y)
    assert abs(r2_score(y, reg.predict(frame[["a", "b", "c"]])) - r2_score(y, reference.predict(X))) < 1e-3
