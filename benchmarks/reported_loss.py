"""What a fit's own report costs: ``loss_`` (a pass of ``predict`` over the training data) and
the certificate's pass over the data (float64, and long double when the reading is near ``tol``).

    python benchmarks/reported_loss.py      # about 2 minutes on 2 cores

Writes ``results/reported_loss.md``. Each row: the median of 3 later fits (one first fit is
run and dropped), the time inside the fit spent on ``loss_`` and on each certificate pass
(spied on, not re-run), and ``LinearRegression().fit`` on the same data in the same run.
"""

import os
import statistics
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from sklearn.linear_model import LinearRegression

import sklearn_kerasreg._fitting as fitting
from sklearn_kerasreg import KerasLinearRegressor
from sklearn_kerasreg._core import whitening

HERE = Path(__file__).resolve().parent
spent = []


def spy(module, name, label):
    """Wrap ``module.name`` so that each call's time is recorded under ``label``."""
    original = getattr(module, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = original(*args, **kwargs)
        kind = label(args) if callable(label) else label
        spent.append((kind, time.perf_counter() - start))
        return result

    setattr(module, name, timed)


def cases(rng, n=1_000_000, p=20):
    X = rng.normal(size=(n, p))
    yield "1M x 20, independent columns", X, X @ rng.normal(size=p) + rng.normal(size=n)
    X = rng.normal(size=(n, 1)) + 1e-3 * rng.normal(size=(n, p))
    yield "1M x 20, nearly collinear columns", X, X @ rng.normal(size=p) + rng.normal(size=n)
    X = rng.normal(size=(10_000, p))
    yield "10k x 20, independent columns", X, X @ rng.normal(size=p) + rng.normal(size=10_000)


def main():
    spy(fitting, "_reported", "loss_")
    spy(whitening, "_gap_summed_in", lambda args: f"certificate pass, {np.dtype(args[0]).name}")
    rows = []
    for name, X, y in cases(np.random.default_rng(0)):
        fits, parts = [], []
        for _ in range(4):
            spent.clear()
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                KerasLinearRegressor(random_state=0).fit(X, y)
            fits.append(time.perf_counter() - start)
            parts.append(list(spent))
        start = time.perf_counter()
        LinearRegression().fit(X, y)
        reference = time.perf_counter() - start
        fit = statistics.median(fits[1:])
        shown = "; ".join(f"{kind} {seconds:.3f} s" for kind, seconds in parts[-1])
        rows.append(f"| {name} | {fit:.3f} | {fits[0]:.3f} | {reference:.3f} | {fit / reference:.2f}x | {shown} |")
        print(rows[-1], flush=True)
    table = [
        "| data | fit [s] (median, later) | first fit [s] | LinearRegression [s] | ratio | inside the last fit |",
        "|---|---:|---:|---:|---:|---|",
        *rows,
    ]
    (HERE / "results" / "reported_loss.md").write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
