"""Keras regressors that behave as first-class scikit-learn estimators.

Importing this package does not import TensorFlow; it loads on the first fit.
"""

from ._compare import Comparison, compare_to_linear_regression
from ._estimator import KerasLinearRegressor
from ._io.datasets import load_tutorial
from ._io.onnx import register_onnx_converter
from ._io.persistence import load_estimator, save_estimator
from ._plotting import LossCurveDisplay, RegressionLineDisplay
from ._streaming import train_on_chunks
from ._version import __version__

__all__ = [
    "Comparison",
    "KerasLinearRegressor",
    "LossCurveDisplay",
    "RegressionLineDisplay",
    "__version__",
    "compare_to_linear_regression",
    "load_estimator",
    "load_tutorial",
    "register_onnx_converter",
    "save_estimator",
    "train_on_chunks",
]
