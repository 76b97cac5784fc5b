"""The MLP against MLPRegressor, the hand-written Keras recipe and the BLAS limit, in one run.

Keras picks its backend once per process, so each backend runs in a child
process of this script, one after the other, on the same data. The
TensorFlow child also times the peers (``MLPRegressor``,
``HistGradientBoostingRegressor`` and the Keras recipe on TensorFlow), so
every ratio in a table comes from one process.

- **diamonds** (plotnine's copy of ggplot2's data set, 53,940 rows): a
  75/25 split (40,455 training rows), ``log(price)`` as the target, a
  ``ColumnTransformer`` that one-hot encodes cut, color and clarity and
  scales the six numeric columns (26 inputs), then the regressor, all in a
  ``Pipeline``. Hidden layers (64, 64).
- **friedman1**: 5,000 rows with (32, 32, 32) and 100,000 rows with
  (64, 64), each tested on 1,000 more rows.
- **per epoch**: one epoch's time, read as the difference between fits of
  10 and 30 epochs that never stall, against the BLAS limit: the same
  epoch's matrix products (forward, and backward for the weights and the
  hidden activations) at the same batch size, timed in NumPy in float32
  and float64, best of 5.
- **grid search**: ``GridSearchCV(cv=5)`` over 4 hidden-layer sizes on
  diamonds, ours against ``MLPRegressor``, on TensorFlow.

"first" is the first fit of a shape in the process (it traces the training
loop; the first of all also imports TensorFlow or JAX, slow on machines
with ``PYTHONDONTWRITEBYTECODE=1``); "later" is the median of the later fits.

    pip install -e ".[benchmark]"
    python benchmarks/mlp.py            # writes results/mlp.md (about 25 minutes on 2 cores)
    python benchmarks/mlp.py --quick    # diamonds and the per-epoch rows only
"""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, os, statistics, sys, time, warnings
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_friedman1
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn_kerasreg import KerasLinearRegressor

quick, peers = sys.argv[1] == "quick", sys.argv[2] == "peers"
warnings.simplefilter("ignore", ConvergenceWarning)
start = time.perf_counter()
import keras  # noqa: E402 - timed: a process's first fit otherwise pays for it

keras.ops.convert_to_numpy(keras.ops.ones(1))
import_time = time.perf_counter() - start


def diamonds():
    from plotnine.data import diamonds as frame

    frame = frame.copy()
    y = np.log(frame.pop("price").to_numpy(float))
    for column in ("cut", "color", "clarity"):
        frame[column] = frame[column].astype(str)
    return train_test_split(frame, y, test_size=0.25, random_state=0)


def encoder():
    return ColumnTransformer([
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["cut", "color", "clarity"]),
        ("numbers", StandardScaler(), ["carat", "depth", "table", "x", "y", "z"]),
    ])


def friedman(n):
    X, y = make_friedman1(n + 1000, random_state=0)
    return X[1000:], X[:1000], y[1000:], y[:1000]


def timed(make, data, repeats):
    # Fit i is seeded with i: test R2 and epochs are the mean over the seeds
    # (one seed's R2 moved by 3e-3 on diamonds), times the first fit and the
    # median of the later ones.
    X, Xt, y, yt = data
    times, r2, n_iter = [], [], []
    for seed in range(repeats + 1):
        model = make(seed)
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
        r2.append(r2_score(yt, model.predict(Xt)))
        n_iter.append(getattr(model[-1] if hasattr(model, "steps") else model, "n_iter_", np.nan))
    return dict(first=times[0], later=statistics.median(times[1:]) if repeats else None,
                r2=float(np.mean(r2)), epochs=float(np.mean(n_iter)), seeds=repeats + 1)


def keras_recipe(hidden, seed):
    # What users write by hand: model.fit, Adam, batch 32, early stopping on a 10% split.
    import keras
    from sklearn.base import BaseEstimator, RegressorMixin

    class Recipe(RegressorMixin, BaseEstimator):
        def fit(self, X, y):
            keras.utils.set_random_seed(seed)
            self.net_ = keras.Sequential([keras.Input((X.shape[1],))]
                                        + [keras.layers.Dense(h, activation="relu") for h in hidden]
                                        + [keras.layers.Dense(1)])
            self.net_.compile(optimizer="adam", loss="mse")
            stop = keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
            history = self.net_.fit(np.asarray(X, "float32"), y, batch_size=32, epochs=1000,
                                   validation_split=0.1, callbacks=[stop], verbose=0)
            self.n_iter_ = len(history.history["loss"])
            return self

        def predict(self, X):
            return self.net_.predict(np.asarray(X, "float32"), verbose=0).ravel()

    return Recipe()


def blas_epoch(n, widths, batch, dtype):
    # One epoch's matrix products at this batch size: forward, then the weight
    # gradients and (below the first layer) the activation gradients.
    rng = np.random.default_rng(0)
    acts = [rng.standard_normal((batch, w)).astype(dtype) for w in widths]
    weights = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(widths, widths[1:])]
    def step():
        for l, W in enumerate(weights):
            acts[l] @ W
            acts[l].T @ acts[l + 1]
            if l:
                acts[l + 1] @ W.T
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(-(-n // batch)):
            step()
        best = min(best, time.perf_counter() - start)
    return best


def epoch_time(X, y, hidden):
    # Fits of 10 and 30 epochs that never stall: the difference is 20 epochs.
    times = {}
    for epochs in (10, 30, 10, 30):
        est = KerasLinearRegressor(hidden_layer_sizes=hidden, epochs=epochs, n_iter_no_change=epochs, random_state=0)
        start = time.perf_counter()
        est.fit(X, y)
        times[epochs] = min(times.get(epochs, np.inf), time.perf_counter() - start)
    return (times[30] - times[10]) / 20


ours = lambda hidden, **kw: (lambda seed: KerasLinearRegressor(hidden_layer_sizes=hidden, random_state=seed, **kw))
mlp = lambda hidden, **kw: (lambda seed: MLPRegressor(hidden_layer_sizes=hidden, random_state=seed, **kw))
rows, epochs, searches = [], [], []
Xtr, Xte, ytr, yte = diamonds()
cases = [("diamonds (40,455 train, 26 inputs)", (Xtr, Xte, ytr, yte), (64, 64), True, 2)]
if not quick:
    cases += [("friedman1 (5,000 train)", friedman(5000), (32, 32, 32), False, 3),
              ("friedman1 (100,000 train)", friedman(100_000), (64, 64), False, 1)]
for name, data, hidden, pipeline, repeats in cases:
    wrap = (lambda make: (lambda seed: make_pipeline(encoder(), make(seed)))) if pipeline else (lambda make: make)
    models = {"KerasLinearRegressor": ours(hidden), "KerasLinearRegressor, early_stopping": ours(hidden, early_stopping=True)}
    # At 100k rows MLPRegressor takes minutes a fit: its defaults are timed
    # once and are the only peer (the recipe would take longer still).
    large = "100,000" in name
    if peers:
        models["MLPRegressor"] = mlp(hidden)
        if not large:
            models["MLPRegressor, early_stopping"] = mlp(hidden, early_stopping=True)
            models["Keras recipe (model.fit, Adam, batch 32, early stopping)"] = lambda seed: keras_recipe(hidden, seed)
        if pipeline:
            models["HistGradientBoostingRegressor"] = lambda seed: HistGradientBoostingRegressor(random_state=seed)
    for model, make in models.items():
        print(f"  {name}: {model}", file=sys.stderr, flush=True)
        once = model.startswith("Keras recipe") or (large and model == "MLPRegressor")
        rows.append(dict(data=name, model=model, **timed(wrap(make), data, 0 if once else repeats)))
    X = encoder().fit_transform(data[0]) if pipeline else data[0]
    widths = [X.shape[1], *hidden, 1]
    print(f"  {name}: per epoch", file=sys.stderr, flush=True)
    epochs.append(dict(data=name, hidden=list(hidden), ours=epoch_time(X, data[2], hidden),
                       blas32=blas_epoch(X.shape[0], widths, 200, np.float32),
                       blas64=blas_epoch(X.shape[0], widths, 200, np.float64)))
if not quick and peers:  # the search on TensorFlow only: it takes minutes
    grid = {"hidden_layer_sizes": [(32,), (64,), (32, 32), (64, 64)]}
    for model, est in (("KerasLinearRegressor", KerasLinearRegressor(random_state=0)),
                       ("MLPRegressor", MLPRegressor(random_state=0))):
        print(f"  grid search: {model}", file=sys.stderr, flush=True)
        search = GridSearchCV(make_pipeline(encoder(), est), {f"{type(est).__name__.lower()}__{k}": v for k, v in grid.items()}, cv=5)
        start = time.perf_counter()
        search.fit(Xtr, ytr)
        searches.append(dict(model=model, time=time.perf_counter() - start, cv=search.best_score_,
                             test=search.score(Xte, yte), best=str(search.best_params_)))
memory = None
if not quick and peers:
    # Peak resident memory above the level before fit, sampled every 2 ms, for
    # two epochs on 1M x 20 (the data, float64, allocated before).
    import threading

    import psutil

    X, y = make_friedman1(1_000_000, n_features=20, random_state=0)
    process = psutil.Process()
    base = process.memory_info().rss
    peak, stop = [base], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    KerasLinearRegressor(hidden_layer_sizes=(64, 64), epochs=2, n_iter_no_change=2, random_state=0).fit(X, y)
    stop.set()
    thread.join()
    memory = dict(data=X.nbytes / 2**20, peak=(max(peak[0], process.memory_info().rss) - base) / 2**20)
print(json.dumps(dict(rows=rows, epochs=epochs, searches=searches, import_time=import_time, memory=memory)))
"""


def run(backend, quick):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    peers = "peers" if backend == "tensorflow" else "ours"
    out = subprocess.run([sys.executable, "-c", CHILD, "quick" if quick else "full", peers], env=env,
                         stdout=subprocess.PIPE, text=True, check=False)
    if out.returncode:
        sys.exit(f"the {backend} run failed (its traceback is above)")
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(results, info):
    lines = [f"Machine: {info['cpus']} CPUs, Python {info['python']}; {info['versions']}; {info['date']}.", ""]
    for backend, result in results.items():
        lines.append(f"Importing Keras on {backend}: {result['import_time']:.1f} s (before the first fit; "
                     f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')}).")
    lines.append("")
    lines += ["| data | backend | model | later fit [s] | first fit [s] | x MLPRegressor (later) | test R² (mean over seeds) | epochs | seeds |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for backend, result in results.items():
        for row in result["rows"]:
            peer = "MLPRegressor, early_stopping" if "early_stopping" in row["model"] else "MLPRegressor"
            ref = next((r for r in results["tensorflow"]["rows"] if (r["data"], r["model"]) == (row["data"], peer)), None)
            t = row["later"] if row["later"] is not None else row["first"]
            rt = None if ref is None else (ref["later"] if ref["later"] is not None else ref["first"])
            ratio = f"{t / rt:.2f}x" if rt else ""
            later = f"{row['later']:.2f}" if row["later"] is not None else "(one fit)"
            lines.append(f"| {row['data']} | {backend} | {row['model']} | {later} | {row['first']:.2f} | {ratio} | "
                         f"{row['r2']:.4f} | {row['epochs']:.0f} | {row['seeds']} |")
    lines += ["", "Per epoch (batch 200):", "",
              "| data | hidden | backend | epoch [ms] | BLAS float32 [ms] | BLAS float64 [ms] | x BLAS float32 |",
              "|---|---|---|---:|---:|---:|---:|"]
    for backend, result in results.items():
        for e in result["epochs"]:
            lines.append(f"| {e['data']} | {tuple(e['hidden'])} | {backend} | {1000 * e['ours']:.1f} | "
                         f"{1000 * e['blas32']:.1f} | {1000 * e['blas64']:.1f} | {e['ours'] / e['blas32']:.2f}x |")
    if any(r["searches"] for r in results.values()):
        lines += ["", "GridSearchCV(cv=5), 4 hidden-layer sizes, on diamonds:", "",
                  "| backend | model | time [s] | best CV R² | test R² | best |", "|---|---|---:|---:|---:|---|"]
        for backend, result in results.items():
            for s in result["searches"]:
                lines.append(f"| {backend} | {s['model']} | {s['time']:.1f} | {s['cv']:.4f} | {s['test']:.4f} | {s['best']} |")
    memory = results["tensorflow"].get("memory")
    if memory:
        lines += ["", (f"Memory, 1M x 20 with (64, 64), two epochs on TensorFlow: {memory['peak']:.0f} MB above "
                       f"the level before fit, for {memory['data']:.0f} MB of float64 data.")]
    return "\n".join(lines) + "\n"


def main():
    quick = "--quick" in sys.argv
    from importlib.metadata import version

    info = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
        "versions": {name: version(name) for name in ("numpy", "scikit-learn", "tensorflow", "keras", "jax")},
    }
    results = {}
    for backend in ("tensorflow", "jax"):
        print(f"{backend}:", file=sys.stderr, flush=True)
        results[backend] = run(backend, quick)
    text = markdown(results, info)
    (HERE / "results" / ("mlp_quick.md" if quick else "mlp.md")).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
