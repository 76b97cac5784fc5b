"""
Training on chunks of a large CSV file
======================================

:func:`~sklearn_kerasreg.train_on_chunks` trains a
:class:`~sklearn_kerasreg.KerasLinearRegressor` from data read piece by piece,
so memory holds one chunk at a time. Each pass over the file calls
:meth:`~sklearn_kerasreg.KerasLinearRegressor.partial_fit` once per chunk;
before the first pass, one extra pass measures the exact means and standard
deviations of the whole file for the standardization.

The file here is small (100,000 rows) so that the example runs in seconds,
and ``LinearRegression`` can check the answer on the whole data.
"""

# %%
# Write a CSV file
# ----------------
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(0)
n_rows, coef = 100_000, np.array([1.5, -2.0, 0.0, 0.5, 3.0])
X = rng.normal(loc=[0, 10, -3, 50, 1], scale=[1, 5, 1, 20, 2], size=(n_rows, 5))
y = X @ coef + 7.0 + rng.normal(scale=1.0, size=n_rows)
columns = [f"x{i}" for i in range(5)]
path = Path(tempfile.mkdtemp()) / "large.csv"
pd.DataFrame(X, columns=columns).assign(y=y).to_csv(path, index=False)
print(f"{path.stat().st_size / 1e6:.1f} MB, {n_rows} rows")

# %%
# Train from chunks of 25,000 rows
# --------------------------------
# The source is a function returning a fresh reader, so the file can be read
# once per pass. Each chunk is a DataFrame; ``target`` names its target column.
from sklearn_kerasreg import KerasLinearRegressor, train_on_chunks

reg = KerasLinearRegressor(random_state=0)
train_on_chunks(
    reg,
    lambda: pd.read_csv(path, chunksize=25_000),
    target="y",
    n_passes=10,
    verbose=1,
)
print("partial_fit calls:", reg.n_iter_)

# %%
# Check against LinearRegression on the whole file
# ------------------------------------------------
from sklearn.linear_model import LinearRegression

data = pd.read_csv(path)
lr = LinearRegression().fit(data[columns], data["y"])
table = pd.DataFrame(
    {"true": [*coef, 7.0], "train_on_chunks": [*reg.coef_, reg.intercept_], "LinearRegression": [*lr.coef_, lr.intercept_]},
    index=[*columns, "intercept"],
)
print(table.round(4).to_string())
print(f"R^2 on the whole file: {reg.score(data[columns], data['y']):.5f} (LinearRegression {lr.score(data[columns], data['y']):.5f})")

# %%
# The loss of each chunk
# ----------------------
# ``loss_curve_`` has one entry per ``partial_fit`` call (4 chunks x 10 passes).
from sklearn_kerasreg import LossCurveDisplay

display = LossCurveDisplay.from_estimator(reg)
display.ax_.set_xlabel("partial_fit call (chunk)")
