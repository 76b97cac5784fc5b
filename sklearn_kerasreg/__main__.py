"""``python -m sklearn_kerasreg``: the single-neuron tutorial, in one estimator call.

Fits ``KerasLinearRegressor`` and ``LinearRegression`` on the tutorial data
(``x = 0..50``, ``y = x + 10 * U(0, 1)``) and prints both fits side by side.
"""

import os
import sys
import time


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    from sklearn_kerasreg import KerasLinearRegressor

    rng = np.random.RandomState(0)
    x = np.linspace(0, 50, 51)
    X, y = x.reshape(-1, 1), x + 10 * rng.uniform(size=x.shape[0])

    start = time.perf_counter()
    import tensorflow  # noqa: F401  (loaded on first fit; timed apart here)

    print(f"TensorFlow loaded in {time.perf_counter() - start:.1f} s\n")
    rows = []
    for name, estimator in [
        ("KerasLinearRegressor", KerasLinearRegressor(random_state=0)),
        ("LinearRegression", LinearRegression()),
    ]:
        start = time.perf_counter()
        estimator.fit(X, y)
        elapsed = time.perf_counter() - start
        rows.append((name, float(estimator.coef_[0]), float(estimator.intercept_),
                     r2_score(y, estimator.predict(X)), elapsed))
    print("Tutorial data: x = 0..50, y = x + 10 * U(0, 1), 51 points\n")
    print(f"{'model':<22}{'slope':>12}{'intercept':>12}{'R^2':>10}{'fit [s]':>10}")
    for name, slope, intercept, r2, elapsed in rows:
        print(f"{name:<22}{slope:>12.6f}{intercept:>12.6f}{r2:>10.6f}{elapsed:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
