"""What scikit-learn callbacks cost a fit: the same fits with no callback, a no-op one, and ProgressBar.

    python benchmarks/callbacks.py      # about a minute; writes results/callbacks.md

All rows come from one run; medians of several fits after one that traces.
"""

import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, make_regression
from sklearn.exceptions import ConvergenceWarning

from sklearn_kerasreg import KerasLinearRegressor


class NoOp:
    """A callback that is called for every task and never stops training."""

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        return False


def median_fit(make, X, y, reps):
    make().fit(X, y)  # traces the training function, as a first fit does
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        make().fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    import tensorflow  # noqa: F401 - imported before any timing
    from sklearn.callback import ProgressBar

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_diabetes(return_X_y=True)
    Xb, yb = make_regression(10_000, 20, noise=1.0, random_state=0)
    cases = {
        "diabetes, single neuron (1 epoch)": (lambda: KerasLinearRegressor(random_state=0), X, y, 15),
        "10k x 20, single neuron (1 epoch)": (lambda: KerasLinearRegressor(random_state=0), Xb, yb, 15),
        "diabetes, MLP 3 x 32, 100 epochs": (
            lambda: KerasLinearRegressor(hidden_layer_sizes=(32, 32, 32), epochs=100, tol=0, random_state=0),
            X, y, 5,
        ),
    }
    lines = [
        "| fit | no callback [s] | no-op callback [s] | ratio | ProgressBar [s] | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, (make, X_, y_, reps) in cases.items():
        none = median_fit(make, X_, y_, reps)
        noop = median_fit(lambda: make().set_callbacks(NoOp()), X_, y_, reps)
        bar = median_fit(lambda: make().set_callbacks(ProgressBar()), X_, y_, reps)
        lines.append(f"| {name} | {none:.3f} | {noop:.3f} | {noop / none:.2f}x | {bar:.3f} | {bar / none:.2f}x |")
        print(lines[-1], flush=True)
    out = Path(__file__).parent / "results" / "callbacks.md"
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
