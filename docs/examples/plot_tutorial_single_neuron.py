"""
Tutorial 1: linear regression with a single neuron
===================================================

The classic first Keras tutorial: one ``Dense(1)`` layer learns a straight line
through 51 noisy points, ``x = 0, 1, ..., 50`` and ``y = x + 10 * U(0, 1)``. The
original trained for 200 epochs, printed ``model.summary()``, plotted the loss
curve and read the slope and intercept with ``get_weights()``. Here the same
network is a scikit-learn estimator, :class:`~sklearn_kerasreg.KerasLinearRegressor`,
and its answer is checked against :class:`~sklearn.linear_model.LinearRegression`,
the closed-form least-squares solution.
"""

# %%
# The data
# --------
# :func:`~sklearn_kerasreg.load_tutorial` returns the tutorial's 51 points,
# drawn with ``np.random.RandomState(0)`` and shipped with the package.
from sklearn_kerasreg import load_tutorial

X, y = load_tutorial(return_X_y=True)
print(X.shape, y.shape)

# %%
# Fit the single neuron
# ---------------------
# The default network is one ``Dense`` layer, ``y = X @ coef_ + intercept_``.
# It trains by full-batch gradient descent on whitened inputs, where a step is
# a Newton step, and stops once the slope and intercept are measured within
# ``tol`` (1e-8, relative) of the least-squares optimum: here after one epoch
# (``epochs`` is a maximum). ``random_state`` makes the run repeatable.
from sklearn_kerasreg import KerasLinearRegressor

reg = KerasLinearRegressor(random_state=0).fit(X, y)
reg.summary()
print(f"epochs run: {reg.n_iter_}")
print(f"slope {reg.coef_[0]:.6f}, intercept {reg.intercept_:.6f}")

# %%
# ``coef_`` and ``intercept_`` are read from the fitted Keras model, ``model_``,
# in the data's units: the same numbers the original tutorial got with
# ``get_weights()``.
kernel, bias = reg.model_.get_weights()
print(kernel.ravel(), bias)

# %%
# Compare with LinearRegression
# -----------------------------
# Gradient descent should land on the least-squares optimum.
from sklearn.linear_model import LinearRegression

lr = LinearRegression().fit(X, y)
print(f"LinearRegression: slope {lr.coef_[0]:.6f}, intercept {lr.intercept_:.6f}")
print(f"relative difference of the slope: {abs(reg.coef_[0] - lr.coef_[0]) / abs(lr.coef_[0]):.1e}")

# %%
# The loss
# --------
# The tutorial printed the mean squared error of each epoch, in ``y``'s units
# squared. ``loss_curve_`` holds the same quantity in the same units, one
# value per epoch: for a full-batch fit, the loss after the epoch's step (the
# tutorial's Keras printed each epoch's mean over its batches of 32). Here one Newton step
# reached the optimum, so the curve is one point, and it is ``loss_``, the
# mean squared error of ``predict`` on the training data: the same as
# ``LinearRegression``'s. The README's first command draws this point beside
# the tutorial's own 200 epochs of Adam.
from sklearn.metrics import mean_squared_error

print(f"loss_curve_: {reg.loss_curve_}, loss_: {reg.loss_:.6f}")
print(f"LinearRegression's mean squared error: {mean_squared_error(y, lr.predict(X)):.6f}")

from sklearn_kerasreg import LossCurveDisplay

LossCurveDisplay.from_estimator(reg)

# %%
# The fitted line
# ---------------
# The data, the network's line and ``LinearRegression``'s line (dashed),
# which lie on top of each other.
from sklearn_kerasreg import RegressionLineDisplay

RegressionLineDisplay.from_estimator(reg, X, y)
