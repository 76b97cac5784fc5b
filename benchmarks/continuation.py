"""What a fit's cost depends on, and what continuing training costs.

    python benchmarks/continuation.py        # about 2 minutes on 2 cores

Rows, each timed in this one process (ratios between rows are the figures to read):

- 4000 x 800, the single neuron, ``alpha=0`` against ``alpha=1``: the first
  fit of the shape (it traces), later fits on the same data, and a 5-fold
  cross-validation (folds are other data of one shape). A fit's cost should
  not depend on ``alpha``: the penalty is an input of the traced code.
- 10k x 20: a cold fit, a warm fit, and a ``partial_fit`` of 2,000 rows, all
  on one shared trainer after the first.
- an MLP (32, 32) on friedman1 (2,000 rows): a warm fit of 20 epochs and a
  ``partial_fit``, in memory against after a pickle round trip.

Writes ``results/continuation.md`` beside this file.
"""

import os
import pickle
import statistics
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from sklearn.base import clone
from sklearn.datasets import make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, cross_val_score

from sklearn_kerasreg import KerasLinearRegressor

HERE = Path(__file__).resolve().parent


def timed(call, repeat=5):
    """``(first, median of the later ones)`` wall times of ``call()``, in seconds."""
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times[0], statistics.median(times[1:])


def main():
    import tensorflow  # noqa: F401  (imported before any timing)

    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    X, y = make_regression(4000, 800, noise=10, random_state=0)
    for alpha in (0.0, 1.0):
        reg = KerasLinearRegressor(alpha=alpha, random_state=0)
        first, later = timed(lambda: clone(reg).fit(X, y))
        cv = KFold(5, shuffle=True, random_state=0)
        start = time.perf_counter()
        cross_val_score(reg, X, y, cv=cv)
        rows.append((f"4000 x 800, alpha={alpha:g}", "fit", first, later, time.perf_counter() - start))

    X, y = make_regression(10_000, 20, noise=10, random_state=0)
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    rows.append(("10k x 20", "cold fit", *timed(lambda: clone(reg).fit(X, y)), None))
    warm = clone(reg).set_params(warm_start=True).fit(X, y)
    rows.append(("10k x 20", "warm fit", *timed(lambda: warm.fit(X, y)), None))
    stream = clone(reg).partial_fit(X[:2000], y[:2000])
    rows.append(("10k x 20", "partial_fit, 2,000 rows", *timed(lambda: stream.partial_fit(X[:2000], y[:2000])), None))

    X, y = make_friedman1(2000, random_state=0)
    mlp = KerasLinearRegressor(hidden_layer_sizes=(32, 32), epochs=20, warm_start=True, random_state=0).fit(X, y)
    twin = pickle.loads(pickle.dumps(mlp))
    rows.append(("friedman1 MLP (32, 32)", "warm fit, 20 epochs", *timed(lambda: mlp.fit(X, y), 3), None))
    rows.append(("friedman1 MLP (32, 32)", "partial_fit", *timed(lambda: mlp.partial_fit(X, y)), None))
    rows.append(("friedman1 MLP (32, 32)", "partial_fit after pickle", *timed(lambda: twin.partial_fit(X, y)), None))

    lines = [
        "| data | call | first [s] | later (median of 5) [s] | 5-fold CV [s] |",
        "|---|---|---:|---:|---:|",
    ]
    for data, call, first, later, cv in rows:
        lines.append(f"| {data} | {call} | {first:.3f} | {later:.4f} | {'' if cv is None else f'{cv:.2f}'} |")
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "continuation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
