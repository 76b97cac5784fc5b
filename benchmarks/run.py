"""Benchmark KerasLinearRegressor against the closed form and the wrappers people use.

    python benchmarks/run.py            # full suite (about 10 minutes on 2 cores)
    python benchmarks/run.py --quick    # small data only, about a minute
    python benchmarks/run.py --linear   # the single neuron against LinearRegression, up to 1M rows

Writes ``results/latest.json`` and ``results/latest.md`` beside this file.
Every figure in a table comes from one run, so ratios between rows are fair
even on a noisy machine; absolute times are this machine's.
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import psutil
from sklearn.datasets import load_diabetes, make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, SGDRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_kerasreg import KerasLinearRegressor

HERE = Path(__file__).resolve().parent


class PeakMemory:
    """Peak resident memory above the level at entry, sampled every 2 ms."""

    def __init__(self):
        self._process = psutil.Process()

    def __enter__(self):
        self.base = self._process.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        self.mb = (self.peak - self.base) / 2**20


def tutorial_recipe_scikeras():
    """The tutorial as people write it with scikeras: Dense(1), adam, 200 epochs, batch 32."""
    import keras
    from scikeras.wrappers import KerasRegressor

    def build(meta):
        return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)])

    return KerasRegressor(build, optimizer="adam", loss="mse", epochs=200, batch_size=32, verbose=0)


def tutorial_recipe_keras_wrapper():
    """The same recipe with Keras's own keras.wrappers.SKLearnRegressor."""
    import keras

    def build(X, y):
        model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        return model

    return keras.wrappers.SKLearnRegressor(build, fit_kwargs={"epochs": 200, "batch_size": 32, "verbose": 0})


def linear_peers(n_rows, quick, linear_only=False):
    if linear_only:
        return {"KerasLinearRegressor": lambda: KerasLinearRegressor(random_state=0), "LinearRegression": LinearRegression}
    peers = {
        "KerasLinearRegressor": lambda: KerasLinearRegressor(random_state=0),
        "LinearRegression": LinearRegression,
        "StandardScaler+SGDRegressor": lambda: make_pipeline(StandardScaler(), SGDRegressor(random_state=0)),
    }
    if n_rows <= (1_000 if quick else 20_000):
        # 200 epochs of batch-32 steps: about a minute at 10k rows and hours
        # at 1M, so only on small data.
        peers["scikeras KerasRegressor (tutorial recipe)"] = tutorial_recipe_scikeras
        peers["keras SKLearnRegressor (tutorial recipe)"] = tutorial_recipe_keras_wrapper
    return peers


def mlp_peers():
    return {
        "KerasLinearRegressor(32,32,32)": lambda: KerasLinearRegressor(
            hidden_layer_sizes=(32, 32, 32), random_state=0
        ),
        "MLPRegressor(32,32,32)": lambda: MLPRegressor(hidden_layer_sizes=(32, 32, 32), random_state=0),
    }


def fitted_coef(estimator):
    """Coefficients in the data's units, or None for a nonlinear model."""
    if hasattr(estimator, "steps"):  # StandardScaler + SGDRegressor
        return estimator[-1].coef_ / estimator[0].scale_
    if hasattr(estimator, "coef_"):  # False for a nonlinear KerasLinearRegressor
        return np.ravel(estimator.coef_)
    model = getattr(estimator, "model_", None)  # the wrappers' tutorial recipe: one Dense layer
    if model is not None and len(model.layers) == 1:
        return np.ravel(model.layers[0].get_weights()[0])
    return None


def measure(make, X_train, y_train, X_test, y_test, repeats, reference_coef=None):
    # Memory is measured on a fit of its own: the sampling thread takes the
    # interpreter every 2 ms, which slows a Python-driven fit more than one
    # LAPACK call (interleaved 10k x 20 fits: the single neuron 28.9 ms
    # plain and 30.8 ms sampled, LinearRegression 5.5 and 5.6 ms). A recipe
    # timed once (a minute a fit) is sampled during that fit.
    fit_times, predict_times = [], []
    for _ in range(repeats):
        estimator = make()
        with warnings.catch_warnings(), PeakMemory() if repeats == 1 else contextlib.nullcontext() as memory:
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            estimator.fit(X_train, y_train)
            fit_times.append(time.perf_counter() - start)
        estimator.predict(X_test[:10])  # warm up
        start = time.perf_counter()
        predictions = estimator.predict(X_test)
        predict_times.append(time.perf_counter() - start)
    if repeats > 1:
        with warnings.catch_warnings(), PeakMemory() as memory:
            warnings.simplefilter("ignore", ConvergenceWarning)
            make().fit(X_train, y_train)
    row = {
        "fit_s": statistics.median(fit_times),
        # The first fit of a shape in the process also traces the training
        # function; later ones reuse it (sklearn_kerasreg._core.programs).
        "first_fit_s": fit_times[0],
        "predict_s": statistics.median(predict_times),
        "r2": float(r2_score(y_test, predictions)),
        "peak_mb": memory.mb,
        "coef_rel_err": None,
    }
    coef = fitted_coef(estimator)
    if coef is not None and reference_coef is not None:
        row["coef_rel_err"] = float(np.linalg.norm(coef - reference_coef) / np.linalg.norm(reference_coef))
    return row


def tutorial_data():
    rng = np.random.RandomState(0)
    x = np.linspace(0, 50, 51)
    return x.reshape(-1, 1), x + 10 * rng.uniform(size=51)


def run(quick, linear_only=False):
    import keras
    import tensorflow as tf  # noqa: F401  (import cost kept out of every timing)

    keras.utils.disable_interactive_logging()  # the Keras wrapper's predict progress bars

    # LinearRegression's own time at 1M rows spreads from 0.54 s to 1.17 s
    # between fits here; five keep the medians of both sides steadier.
    repeats = 5
    datasets = {"tutorial (51 x 1)": tutorial_data(), "diabetes (442 x 10)": load_diabetes(return_X_y=True)}
    sizes = [10_000] if quick else [10_000, 100_000, 1_000_000]
    for n in sizes:
        datasets[f"make_regression ({n:,} x 20)"] = make_regression(n, 20, noise=10, random_state=0)

    rows = []
    for name, (X, y) in datasets.items():
        # Linear fits are judged on their training data, as LinearRegression's coefficients are.
        reference = LinearRegression().fit(X, y).coef_
        for peer, make in linear_peers(X.shape[0], quick, linear_only).items():
            print(f"  {name}: {peer}", file=sys.stderr, flush=True)
            # The recipes take seconds to minutes a fit; one timing says enough.
            rep = 1 if "recipe" in peer and (quick or X.shape[0] > 1000) else repeats
            row = measure(make, X, y, X, y, rep, reference)
            rows.append({"data": name, "model": peer, **row})

    if linear_only:
        return rows, []
    n_friedman = 2000 if quick else 5000
    X, y = make_friedman1(n_samples=n_friedman + 1000, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=1000, random_state=0)
    for peer, make in mlp_peers().items():
        print(f"  friedman1: {peer}", file=sys.stderr, flush=True)
        row = measure(make, X_train, y_train, X_test, y_test, repeats)
        rows.append({"data": f"make_friedman1 ({n_friedman:,} train, 1,000 test)", "model": peer, **row})

    searches = []
    X, y = load_diabetes(return_X_y=True)
    grids = {
        "KerasLinearRegressor": (KerasLinearRegressor(random_state=0), {"alpha": [0.0, 0.1, 1.0, 10.0]}),
        "scikeras KerasRegressor (tutorial recipe)": (
            tutorial_recipe_scikeras(),
            {"optimizer__learning_rate": [0.001, 0.003, 0.01, 0.03]},
        ),
    }
    if not quick:
        for peer, (estimator, grid) in grids.items():
            print(f"  GridSearchCV(cv=5, 4 candidates): {peer}", file=sys.stderr, flush=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                search = GridSearchCV(estimator, grid, cv=5).fit(X, y)
                searches.append({
                    "model": peer, "fit_s": time.perf_counter() - start,
                    "best_score": float(search.best_score_),
                })
    return rows, searches


def machine():
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "versions": {m: __import__(m).__version__ for m in ["numpy", "sklearn", "tensorflow", "keras", "scikeras"]},
        "date": time.strftime("%Y-%m-%d"),
    }


def markdown(rows, searches, info):
    def fmt(value, spec):
        return "" if value is None else format(value, spec)

    lines = [
        f"Machine: {info['cpus']} CPUs, {info['memory_gb']} GB, {info['platform']}, Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + f"; {info['date']}.",
        "",
        "| data | model | fit [s] (median) | first fit [s] | predict [s] | R² "
        "| coef rel. err vs LinearRegression | peak memory [MB] |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['model']} | {r['fit_s']:.3f} | {r['first_fit_s']:.3f} | {r['predict_s']:.4f} "
            f"| {r['r2']:.4f} "
            f"| {fmt(r['coef_rel_err'], '.1e')} | {r['peak_mb']:.0f} |"
        )
    if searches:
        lines += ["", "GridSearchCV(cv=5) over 4 candidates on load_diabetes:", "",
                  "| model | search time [s] | best CV R² |", "|---|---:|---:|"]
        for s in searches:
            lines.append(f"| {s['model']} | {s['fit_s']:.2f} | {s['best_score']:.4f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data only (about a minute)")
    parser.add_argument("--linear", action="store_true", help="linear rows against LinearRegression only")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    rows, searches = run(args.quick, args.linear)
    info = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "quick" if args.quick else "linear" if args.linear else "latest"
    (args.out / f"{stem}.json").write_text(json.dumps({"machine": info, "rows": rows, "searches": searches}, indent=2))
    table = markdown(rows, searches, info)
    (args.out / f"{stem}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
