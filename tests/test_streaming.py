"""partial_fit and training from chunks: one epoch per call, consistent scaling, bounded memory."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from sklearn_kerasreg import KerasLinearRegressor, train_on_chunks


def relative_error(actual, expected):
    return np.linalg.norm(np.ravel(actual) - np.ravel(expected)) / np.linalg.norm(np.ravel(expected))


@pytest.fixture(scope="module")
def regression():
    return make_regression(8000, 5, noise=5, random_state=0)


def test_each_partial_fit_call_is_one_epoch_and_repeated_calls_converge(regression):
    X, y = regression
    reg = KerasLinearRegressor(random_state=0)
    for call in range(1, 21):
        reg.partial_fit(X, y)
        assert reg.n_iter_ == call and len(reg.loss_curve_) == call
    # 20 epochs of 4096-row Adam steps with the optimizer state carried over.
    reference = LinearRegression().fit(X, y)
    assert relative_error(reg.coef_, reference.coef_) < 1e-2
    assert reg.loss_curve_[-1] < reg.loss_curve_[0] / 10


def test_first_chunk_fixes_the_standardization(regression):
    X, y = regression
    # With a step this small the weights stay at their zero start, so the
    # intercept is the target mean the network is standardized with.
    reg = KerasLinearRegressor(random_state=0, learning_rate_init=1e-12).partial_fit(X[:1000], y[:1000])
    assert reg.intercept_ == pytest.approx(y[:1000].mean(), rel=1e-9)
    reg.partial_fit(X[1000:] * 3 + 1, y[1000:] + 100)
    assert reg.intercept_ == pytest.approx(y[:1000].mean(), rel=1e-6)
    # The certified warm fit moves its weights into this data's coordinates
    # instead, and lands on the optimum of all of it.
    reg.set_params(warm_start=True, learning_rate_init="auto").fit(X, y)
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(reg.coef_, reference.coef_, rtol=1e-7)


def test_partial_fit_after_fit_continues_from_its_weights(regression):
    X, y = regression
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    n_epochs, coef = reg.n_iter_, reg.coef_.copy()
    reg.partial_fit(X, y)
    assert reg.n_iter_ == n_epochs + 1 and len(reg.loss_curve_) == n_epochs + 1
    # fit converged; one more full-batch step on the same data stays there.
    assert relative_error(reg.coef_, coef) < 1e-10


def test_partial_fit_rejects_a_chunk_with_other_features(regression):
    X, y = regression
    reg = KerasLinearRegressor(random_state=0).partial_fit(X, y)
    before = reg.predict(X[:5])
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X[:, :3], y)
    np.testing.assert_array_equal(reg.predict(X[:5]), before)


def test_train_on_chunks_accumulates_exact_statistics_and_learns(regression):
    X, y = regression
    chunks = [(X[i : i + 1500], y[i : i + 1500]) for i in range(0, len(X), 1500)]
    # A step too small to move the weights from zero shows the standardization:
    # the intercept is the mean of all the chunks' targets, not the first's.
    still = train_on_chunks(KerasLinearRegressor(random_state=0, learning_rate_init=1e-12), chunks, n_passes=2)
    assert still.intercept_ == pytest.approx(y.mean(), rel=1e-9)
    assert abs(y[:1500].mean() - y.mean()) > 1e-3 * abs(y.mean())
    reg = train_on_chunks(KerasLinearRegressor(random_state=0), chunks, n_passes=6)
    assert reg.n_iter_ == 6 * len(chunks)
    reference = LinearRegression().fit(X, y)
    assert abs(r2_score(y, reg.predict(X)) - r2_score(y, reference.predict(X))) < 1e-3


def test_train_on_chunks_reads_csv_in_pieces(tmp_path, regression):
    pd = pytest.importorskip("pandas")
    X, y = regression
    path = tmp_path / "data.csv"
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).assign(target=y)
    frame.to_csv(path, index=False)
    reg = train_on_chunks(
        KerasLinearRegressor(random_state=0),
        lambda: pd.read_csv(path, chunksize=2000),
        n_passes=4,
        target="target",
    )
    assert list(reg.feature_names_in_) == [f"f{i}" for i in range(X.shape[1])]
    assert r2_score(y, reg.predict(frame.drop(columns="target"))) > 0.99


def test_one_shot_iterator_needs_a_single_pass(regression):
    X, y = regression
    generator = ((X[i : i + 2000], y[i : i + 2000]) for i in range(0, len(X), 2000))
    with pytest.raises(TypeError, match="read only once"):
        train_on_chunks(KerasLinearRegressor(), generator, n_passes=3)
    reg = train_on_chunks(KerasLinearRegressor(random_state=0), generator, n_passes=1)
    assert reg.n_iter_ == 4


@pytest.mark.parametrize(
    "chunks, kwargs, error, match",
    [
        ([np.zeros((3, 2))], {}, TypeError, "Each chunk must be"),
        (42, {}, TypeError, "must be iterable"),
        ([], {"n_passes": 2}, ValueError, "no rows"),
        ([(np.ones((4, 2)), np.ones(4))], {"n_passes": 0}, ValueError, "n_passes"),
    ],
)
def test_bad_chunk_sources_are_named(chunks, kwargs, error, match):
    with pytest.raises(error, match=match):
        train_on_chunks(KerasLinearRegressor(), chunks, **kwargs)


def test_dataframe_chunk_without_target_is_named():
    pd = pytest.importorskip("pandas")
    chunk = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    with pytest.raises(ValueError, match="target="):
        train_on_chunks(KerasLinearRegressor(), [chunk], n_passes=1)


def test_million_rows_streamed_match_linear_regression():
    X, y = make_regression(1_000_000, 20, noise=10, random_state=0)
    chunks = [(X[i : i + 100_000], y[i : i + 100_000]) for i in range(0, len(X), 100_000)]
    reg = train_on_chunks(KerasLinearRegressor(random_state=0), chunks, n_passes=5)
    reference = LinearRegression().fit(X, y)
    assert abs(r2_score(y, reg.predict(X)) - r2_score(y, reference.predict(X))) <= 1e-3


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, time
    import numpy as np, psutil
    from sklearn_kerasreg import KerasLinearRegressor, train_on_chunks

    n_chunks, rows = int(sys.argv[1]), int(sys.argv[2])

    def chunks():
        # Made on the fly: the whole data never exists at once.
        rng = np.random.RandomState(0)
        for _ in range(n_chunks):
            X = rng.normal(size=(rows, 50))
            yield X, X @ np.linspace(-1, 1, 50) + rng.normal(size=rows)

    reg = KerasLinearRegressor(random_state=0)
    reg.partial_fit(*next(chunks()))  # TensorFlow loaded and traced before measuring
    process = psutil.Process()
    base = peak = process.memory_info().rss
    done = threading.Event()

    def sample():
        global peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.002)

    thread = threading.Thread(target=sample)
    thread.start()
    train_on_chunks(reg, chunks, n_passes=2)
    done.set()
    thread.join()
    print(json.dumps({"peak_mb": (peak - base) / 2**20}))
    """
)


def peak_growth_mb(n_chunks, rows):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(n_chunks), str(rows)],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"]


def test_peak_memory_follows_chunk_size_not_chunk_count():
    pytest.importorskip("psutil")
    chunk_mb = 20_000 * 50 * 8 / 2**20  # 7.6 MB of float64 per chunk
    few = peak_growth_mb(n_chunks=5, rows=20_000)
    many = peak_growth_mb(n_chunks=40, rows=20_000)  # 305 MB of data in all
    large = peak_growth_mb(n_chunks=5, rows=160_000)  # 61 MB chunks
    print(f"peak growth: 5 x 7.6 MB chunks {few:.0f} MB, 40 x 7.6 MB {many:.0f} MB, 5 x 61 MB {large:.0f} MB")
    assert many < few + 5 * chunk_mb  # eight times the data, about the same peak
    assert large > few + 2 * chunk_mb  # eight times the chunk, a clearly larger peak
