"""Display objects for fitted regressors, in the style of scikit-learn's.

matplotlib is an optional extra (``pip install "sklearn_kerasreg[plot]"``): it
is imported only when something is drawn, so importing this package, or
``sklearn_kerasreg``, never needs it.
"""

from .loss_curve import LossCurveDisplay
from .regression_line import RegressionLineDisplay

__all__ = ["LossCurveDisplay", "RegressionLineDisplay"]
