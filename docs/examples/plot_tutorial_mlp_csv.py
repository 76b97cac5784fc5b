"""
Tutorial 2: an MLP trained on a CSV file, predicting x = 200
============================================================

The second tutorial loads a two-column CSV file with pandas, trains three
``Dense(32, activation="relu")`` layers and a ``Dense(1)`` output with
``RMSprop(learning_rate=0.0099)`` and the mean squared error for 500 epochs, and
predicts ``y`` at ``x = 200``.

.. note::

   **The data here is a stand-in made for these docs**, not the tutorial's CSV
   file, which we do not have. The example writes it itself: 101 rows,
   ``x = 0, 1, ..., 100`` and ``y = 0.5 * x + 5 + N(0, 4²)`` noise drawn with
   ``numpy.random.default_rng(0)``, written with three decimals. The number printed at ``x = 200`` below is
   what the network predicts on *this* data (the original tutorial reported
   about 88 to 90 on its own data); ``x = 200`` lies outside the data, so it
   is an extrapolation.
"""

# %%
# Write and read the CSV file
# ---------------------------
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(0)
x = np.arange(0, 101, dtype=float)
y = 0.5 * x + 5 + rng.normal(scale=4.0, size=x.size)

path = Path(tempfile.mkdtemp()) / "data.csv"
pd.DataFrame({"x": x, "y": y.round(3)}).to_csv(path, index=False)

data = pd.read_csv(path)
print(data.head())
X, y = data[["x"]], data["y"]

# %%
# The tutorial's recipe, written as parameters
# ---------------------------------------------
# Every number of the tutorial's ``model.fit(x, y, epochs=500)`` is a parameter:
#
# - ``hidden_layer_sizes=(32, 32, 32)``: three hidden ``Dense(32)`` layers
#   (``activation="relu"`` is the default) in front of ``Dense(1)``;
# - ``optimizer="rmsprop"`` with ``optimizer__learning_rate=0.0099``, a routed
#   parameter as in scikeras (set with ``set_params``);
# - ``loss="squared_error"`` (the default), Keras's MSE;
# - ``epochs=500``, ``batch_size=32`` (Keras's default), and a constant rate
#   that never stops early: ``learning_rate="constant"`` with
#   ``n_iter_no_change=500``;
# - ``standardize=False``: the tutorial trained on the raw ``x`` and ``y``.
#
# What cannot be written as a parameter is the tutorial's random draw of
# initial weights and shuffles; ``random_state=0`` makes this run repeatable.
# The estimator warns that the loss was still moving after 500 epochs (as the
# tutorial's loss was; Keras does not warn). The fit:
import warnings

from sklearn.exceptions import ConvergenceWarning

from sklearn_kerasreg import KerasLinearRegressor

mlp = KerasLinearRegressor(
    hidden_layer_sizes=(32, 32, 32), optimizer="rmsprop", epochs=500, batch_size=32,
    learning_rate="constant", n_iter_no_change=500, standardize=False, random_state=0,
).set_params(optimizer__learning_rate=0.0099)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    mlp.fit(X, y)
print(f"epochs run: {mlp.n_iter_}")
mlp.summary()

# %%
# The loss the tutorial printed for its last epoch is the mean over that
# epoch's batches, as the weights moved (``loss_curve_[-1]``); ``loss_`` is
# the loss of the weights the estimator returns, in ``y``'s units squared.
# At a constant RMSprop rate the two differ: the last steps still jump.
print(f"last epoch's running loss: {mlp.loss_curve_[-1]:.2f}, loss at the final weights: {mlp.loss_:.2f}")

# %%
# Predict x = 200
# ---------------
# The input is a DataFrame with the same column name the model was fitted on.
prediction = mlp.predict(pd.DataFrame({"x": [200.0]}))[0]
print(f"prediction at x = 200: {prediction:.2f}")

# %%
# A network with ReLU activations is piecewise linear, so beyond the data it
# continues along a straight line; ``LinearRegression`` is drawn for reference.
import matplotlib.pyplot as plt
from sklearn.linear_model import LinearRegression

grid = pd.DataFrame({"x": np.linspace(0, 210, 211)})
lr = LinearRegression().fit(X, y)
fig, ax = plt.subplots()
ax.scatter(X["x"], y, s=10, alpha=0.6, label="data (stand-in CSV)")
ax.plot(grid["x"], mlp.predict(grid), label="KerasLinearRegressor(32, 32, 32)")
ax.plot(grid["x"], lr.predict(grid), "--", color="black", label="LinearRegression")
ax.plot([200], [prediction], "o", color="red", label=f"x = 200: {prediction:.2f}")
ax.axvspan(100, 210, color="0.9", zorder=0)
ax.set(xlabel="x", ylabel="y", title="Extrapolation beyond x = 100 (shaded)")
ax.legend()

# %%
# The loss curve
# --------------
from sklearn_kerasreg import LossCurveDisplay

LossCurveDisplay.from_estimator(mlp)
