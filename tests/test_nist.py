"""Accuracy against certified values: the NIST StRD linear least-squares suite, and beyond it.

The single neuron must reach every certified coefficient to at least 6
significant digits with default parameters, and say so honestly when float64
cannot certify its own tolerance. ``LinearRegression(tol=0)`` is the
reference on problems with no certified answer.
"""

import inspect
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge

from sklearn_kerasreg import KerasLinearRegressor

NIST = Path(__file__).parent / "data" / "nist"
NAMES = ["Norris", "Pontius", "NoInt1", "NoInt2", "Filip", "Longley",
         "Wampler1", "Wampler2", "Wampler3", "Wampler4", "Wampler5"]


def load(name):
    data = json.loads((NIST / f"{name}.json").read_text())
    x = np.asarray(data["x"], dtype=np.float64)
    if data["degree"]:
        x = np.column_stack([x[:, 0] ** k for k in range(1, data["degree"] + 1)])
    return x, np.asarray(data["y"], dtype=np.float64), data["intercept"], np.asarray(data["certified"])


def digits(estimate, certified):
    """LRE of the worst coefficient: significant digits that agree with the certified value."""
    error = np.abs(np.asarray(estimate) - certified) / np.abs(certified)
    return float(np.min(-np.log10(np.maximum(error, 1e-16))))


def estimate(reg, intercept):
    return np.r_[reg.intercept_, reg.coef_] if intercept else np.asarray(reg.coef_)


#: Where float64's rounding alone decides the sixth digit: over 12 row orders
#: of Wampler5 (the same rows, so the same certified answer), one machine
#: measured LinearRegression(tol=0) at 5.64 to 7.06 digits and the single
#: neuron at 6.09 to 7.67, but 5.87 on the file's own order. Such a set is held
#: to six digits over row orders (test_wampler5_six_digits_over_row_orders).
AT_FLOAT64_EDGE = {"Wampler5"}


#: Whether the certificate's pass over the data sums in a wider type than
#: float64 (x86-64's long double); where it cannot, its reading at float64's
#: edge is only good to a factor of about 30.
WIDE = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps


def fit_and_check_warning(X, y, intercept, certified, overstated=10, understated=10):
    """The fit's digits; a warning, if any, must be the certificate speaking truthfully.

    It states a distance at most ``understated`` times below the true one
    and at most ``overstated`` times above it.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        reg = KerasLinearRegressor(fit_intercept=intercept, random_state=0).fit(X, y)
    ours = digits(estimate(reg, intercept), certified)
    # It states a distance of the size of the true error (by default within
    # a factor of 10) and above tol.
    for warning in caught:
        stated = float(str(warning.message).split("an estimated ")[1].split(" ")[0])
        assert 10 ** -ours / understated <= stated <= 10 ** -ours * overstated
        assert stated > 1e-8
    if not caught:
        assert ours >= 7.5  # certified to tol=1e-8, relative, and true
    return ours


@pytest.mark.parametrize("name", NAMES)
def test_nist_certified_to_six_digits(name):
    ours = fit_and_check_warning(*load(name))
    assert ours >= (5.5 if name in AT_FLOAT64_EDGE else 6.0), f"{name}: {ours:.1f} digits"


def test_wampler5_six_digits_over_row_orders():
    X, y, intercept, certified = load("Wampler5")
    rng = np.random.RandomState(0)
    orders = [np.arange(len(y))] + [rng.permutation(len(y)) for _ in range(8)]
    # Summed in long double, the certificate reads the true distance to a few
    # percent on every order (a float64 sum read one order 14 times low).
    within = 1.2 if WIDE else 200
    ours = [fit_and_check_warning(X[o], y[o], intercept, certified, overstated=within, understated=within)
            for o in orders]
    assert np.median(ours) >= 6.0 and min(ours) >= 5.5, np.round(ours, 2)


def test_nist_linear_regression_reference():
    # The comparison the suite is about: LinearRegression's default tol is
    # silently wrong on most of these sets; with tol=0 it is right.
    if "tol" not in inspect.signature(LinearRegression).parameters:
        pytest.skip("LinearRegression has had its tol cut-off only since scikit-learn 1.7")
    default = [digits(estimate(LinearRegression(fit_intercept=i).fit(X, y), i), c)
               for X, y, i, c in map(load, NAMES)]
    exact = [digits(estimate(LinearRegression(fit_intercept=i, tol=0).fit(X, y), i), c)
             for X, y, i, c in map(load, NAMES)]
    assert sum(d < 6 for d in default) >= 5
    # Filip, at a condition number of 3.8e9, is the hardest: 5.9 digits on
    # one machine, 5.44 on another.
    assert min(exact) >= 5.0


def transformed_designs():
    """Problems nobody tuned the fit to: rescaled, permuted, offset and weighted columns,
    and a larger correlated design."""
    rng = np.random.RandomState(0)
    X, y, _, _ = load("Longley")
    scales = 10.0 ** rng.uniform(-6, 6, X.shape[1])
    order = rng.permutation(X.shape[1])
    cov = 0.95 ** np.abs(np.subtract.outer(np.arange(40), np.arange(40)))
    big = rng.multivariate_normal(np.zeros(40), cov, size=20_000)
    return {
        "longley rescaled": (X * scales, y, None),
        "longley permuted": (X[:, order], y, None),
        "longley offset 1e6": (X + 1e6, y, None),
        "longley weighted": (X, y, rng.uniform(0.1, 3.0, len(y))),
        "correlated 20000 x 40": (big, big @ rng.normal(size=40) + 5 + rng.normal(size=20_000), None),
        "wampler4 targets x1e8": (load("Wampler4")[0], load("Wampler4")[1] * 1e8, None),
    }


@pytest.mark.parametrize("name", list(transformed_designs()))
def test_matches_exact_linear_regression_beyond_nist(name, exact_linear_regression):
    X, y, w = transformed_designs()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = KerasLinearRegressor(random_state=0).fit(X, y, sample_weight=w)
    ref = exact_linear_regression().fit(X, y, sample_weight=w)
    np.testing.assert_allclose(reg.coef_, ref.coef_, rtol=1e-6)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-6)


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_alpha_is_ridge_on_the_standardized_problem(alpha):
    X, y, _, _ = load("Longley")
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    reg = KerasLinearRegressor(alpha=alpha, random_state=0).fit(X, y, sample_weight=w)
    # Ridge on inputs standardized with the same weighted statistics.
    mean = np.average(X, axis=0, weights=w)
    scale = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=w))
    ridge = Ridge(alpha=alpha, solver="svd").fit((X - mean) / scale, y, sample_weight=w)
    np.testing.assert_allclose(reg.coef_, ridge.coef_ / scale, rtol=1e-7)
    assert reg.intercept_ == pytest.approx(ridge.intercept_ - mean @ (ridge.coef_ / scale), rel=1e-7)


def test_no_intercept_has_no_bias_and_matches_linear_regression():
    X, y, _, _ = load("NoInt2")
    reg = KerasLinearRegressor(fit_intercept=False, random_state=0).fit(X, y)
    assert reg.intercept_ == 0.0
    assert not reg.model_.layers[-1].use_bias
    ref = LinearRegression(fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(reg.coef_, ref.coef_, rtol=1e-12)


def test_rank_deficient_design_gives_the_minimum_norm_solution():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(200, 2))
    X = np.hstack([x, x[:, :1]])  # third column repeats the first
    y = x @ [1.0, 2.0] + 3
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    # Training from zero never moves along the direction the data leave
    # open, so the repeated column's weight is split evenly.
    np.testing.assert_allclose(reg.coef_, [0.5, 2.0, 0.5], rtol=1e-8)
    assert reg.intercept_ == pytest.approx(3.0, rel=1e-10)


def test_blocks_of_rows_train_as_the_whole_data(monkeypatch, exact_linear_regression):
    # Data larger than one block is whitened a block at a time, each epoch;
    # the full-batch gradient summed over blocks must give the same fit.
    from sklearn_kerasreg._core import whitening as _whitening

    X, y, _, _ = load("Longley")
    X, y = np.tile(X, (40, 1)), np.tile(y, 40) + np.random.RandomState(0).normal(size=640)
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    whole = KerasLinearRegressor(random_state=0).fit(X, y, sample_weight=w)
    made = []
    real = _whitening.Blocks

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(_whitening, "BLOCK_BYTES", 64 * 8 * X.shape[1])  # 64 rows a block
    monkeypatch.setattr(_whitening, "Blocks", spy)
    kept = KerasLinearRegressor(random_state=0).fit(X, y, sample_weight=w)
    monkeypatch.setattr(_whitening, "WHOLE_BYTES", 0)  # whitened again each epoch
    blocked = KerasLinearRegressor(random_state=0).fit(X, y, sample_weight=w)
    assert made[0].rows == 64 and made[0]._whole is not None and made[1]._whole is None
    for fit in (kept, blocked):
        np.testing.assert_allclose(fit.coef_, whole.coef_, rtol=1e-9)
        assert fit.intercept_ == pytest.approx(whole.intercept_, rel=1e-9)
    np.testing.assert_allclose(blocked.coef_, exact_linear_regression().fit(X, y, sample_weight=w).coef_, rtol=1e-7)


@pytest.mark.parametrize("case", ["constant target", "only constant columns", "more features than rows"])
def test_degenerate_designs_fit_in_one_epoch_without_a_false_warning(case):
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    if case == "constant target":
        y = np.full(50, 3.0)
    elif case == "only constant columns":
        X = np.ones((50, 2))
    else:
        X = rng.normal(size=(10, 40))
        y = y[:10]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = KerasLinearRegressor(random_state=0).fit(X, y)
    assert reg.n_iter_ == 1
    np.testing.assert_allclose(reg.predict(X), LinearRegression().fit(X, y).predict(X), atol=1e-10)
