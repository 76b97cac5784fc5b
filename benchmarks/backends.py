"""The same fits on Keras's TensorFlow and JAX backends, in one run.

Keras picks its backend once per process, so each backend runs in a
subprocess of this script, one after the other, on the same data. For each
fit: the first fit of the shape in the process (it compiles the training
loop) and the median of 5 later fits, with LinearRegression timed in the
same process for the linear rows.

    python benchmarks/backends.py          # writes results/backends.md (about 3 minutes)
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, statistics, sys, time, warnings
import numpy as np
from sklearn.datasets import make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn_kerasreg import KerasLinearRegressor

def timed(make, X, y, repeats=5):
    times = []
    for _ in range(repeats + 1):
        est = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            est.fit(X, y)
            times.append(time.perf_counter() - start)
    return times[0], statistics.median(times[1:]), est

rows = []
x = np.linspace(0, 50, 51).reshape(-1, 1)
cases = [("tutorial (51 x 1)", x, x.ravel() + 10 * np.random.RandomState(0).uniform(size=51))]
for n in (10_000, 100_000, 1_000_000):
    X, y = make_regression(n, 20, noise=1.0, random_state=0)
    cases.append((f"make_regression ({n:,} x 20)", X, y))
for name, X, y in cases:
    first, later, est = timed(lambda: KerasLinearRegressor(random_state=0), X, y)
    _, lr, ref = timed(LinearRegression, X, y)
    err = float(np.linalg.norm(est.coef_ - ref.coef_) / np.linalg.norm(ref.coef_))
    rows.append(dict(data=name, model="KerasLinearRegressor", first=first, later=later, lr=lr, err=err))
X, y = make_friedman1(6000, random_state=0)
first, later, est = timed(lambda: KerasLinearRegressor(hidden_layer_sizes=(32, 32, 32), random_state=0),
                          X[:5000], y[:5000])
rows.append(dict(data="make_friedman1 (5,000 train)", model="KerasLinearRegressor(32,32,32)",
                 first=first, later=later, r2=est.score(X[5000:], y[5000:]), epochs=est.n_iter_))
print(json.dumps(rows))
"""


def run(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    results = {backend: run(backend) for backend in ("tensorflow", "jax")}
    lines = [
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}. "
        "Each backend in its own process, one after the other; first fit compiles the loop, "
        "later = median of 5 fits.",
        "",
        "| data | model | TF first [s] | TF later [s] | JAX first [s] | JAX later [s] | JAX/TF later "
        "| LR later [s] (TF / JAX process) | coef rel. err vs LR (TF / JAX) or R² (TF / JAX) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for tf_row, jax_row in zip(results["tensorflow"], results["jax"]):
        if "err" in tf_row:
            lr = f"{tf_row['lr']:.4f} / {jax_row['lr']:.4f}"
            quality = f"{tf_row['err']:.1e} / {jax_row['err']:.1e}"
        else:
            lr = ""
            quality = (f"R² {tf_row['r2']:.4f} ({tf_row['epochs']} epochs) / "
                       f"{jax_row['r2']:.4f} ({jax_row['epochs']} epochs)")
        lines.append(
            f"| {tf_row['data']} | {tf_row['model']} | {tf_row['first']:.3f} | {tf_row['later']:.4f} | "
            f"{jax_row['first']:.3f} | {jax_row['later']:.4f} | {jax_row['later'] / tf_row['later']:.2f}x | "
            f"{lr} | {quality} |"
        )
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "backends.md").write_text(text)
    (HERE / "results" / "backends.json").write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()
