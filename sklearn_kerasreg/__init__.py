"""Keras regressors that behave as first-class scikit-learn estimators.

Importing this package does not import TensorFlow; it loads on the first fit.
"""

from ._estimator import KerasLinearRegressor

__version__ = "0.1.0"

__all__ = ["KerasLinearRegressor", "__version__"]
