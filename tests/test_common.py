"""scikit-learn's estimator checks on every shipped configuration."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_kerasreg import KerasLinearRegressor

# The configurations users get: the single neuron (certified least squares),
# with a ridge penalty and without an intercept, and an MLP.
ESTIMATORS = [
    KerasLinearRegressor(random_state=0),
    KerasLinearRegressor(alpha=1.0, random_state=0),
    KerasLinearRegressor(fit_intercept=False, random_state=0),
    KerasLinearRegressor(hidden_layer_sizes=(16, 16), epochs=300, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
