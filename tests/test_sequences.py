"""Random sequences of calls that continue training, checked against the semantics of continuation.

One state machine per estimator configuration (single neuron, MLP, user builder) drives fit, warm
fit, partial_fit, train_on_chunks, set_params, clone, pickle and save/load, and calls that must
fail, on *twins* of one estimator that all receive the same calls, each call on dense or sparse X:

- ``memory``: never stored;
- ``pickled``: replaced now and then by ``pickle.loads(pickle.dumps(twin))``;
- ``saved``: replaced now and then by ``load_estimator`` of ``save_estimator(twin)``;
- ``clean``: never sees a call that must fail (so a failed call must leave no trace, not even in
  the optimizer's state).

After every step the twins predict the same (storage does not change how training continues); a
call that must fail raises ValueError and changes nothing; a certified linear fit sits on the
optimum of the current problem; ``n_iter_`` and ``loss_curve_`` count the epochs; an MLP whose
training centred dense inputs refuses to continue on sparse ones (they cannot be centred). Public API only.

CI runs a short derandomized profile (the same sequences every run);
``SKLEARN_KERASREG_LONG_SEQUENCES=1`` runs four times the examples and steps, new ones each run.
"""

import inspect
import os
import pickle
import tempfile
import warnings

import keras
import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sklearn.base import clone
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge

from sklearn_kerasreg import KerasLinearRegressor, load_estimator, save_estimator, train_on_chunks

LONG = os.environ.get("SKLEARN_KERASREG_LONG_SEQUENCES") == "1"


def profile(examples):
    """CI: ``examples`` sequences of 8 steps, the same on every run; LONG: four times both, and
    new sequences on every run (about 16 times CI's work)."""
    return settings(
        max_examples=4 * examples if LONG else examples,
        stateful_step_count=32 if LONG else 8,
        derandomize=not LONG,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # explain traces TF: slow
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


X, Y = make_regression(60, 3, noise=5.0, bias=5.0, random_state=0)
DATA = {
    "all": (X, Y),
    **{f"chunk{k}": (X[20 * k : 20 * k + 20], Y[20 * k : 20 * k + 20]) for k in range(3)},
    "shifted": (X[:30], Y[:30] + 50.0),  # the bug report's y + 50
}
CHUNKS = ["chunk0", "chunk1", "chunk2"]
X_NAN = X.copy()
X_NAN[27, 1] = np.nan  # in chunk1 (and in "shifted"'s rows)
PROBE = np.vstack([X[::6], 3 * X[:2]])  # rows seen in training, and two beyond them
EXACT = {"tol": 0} if "tol" in inspect.signature(LinearRegression).parameters else {}

# A callback instance is state shared by whoever holds it: each twin gets its own, from a factory.
CALLBACKS = {
    "None": lambda: None,
    "[History()]": lambda: [keras.callbacks.History()],
    "TerminateOnNaN": lambda: keras.callbacks.TerminateOnNaN,  # a class: each fit makes its own
}
CHANGES = st.sampled_from(
    [("alpha", v) for v in (0.0, 1.0, 100.0)]
    + [("learning_rate_init", v) for v in ("auto", 0.05, 0.3)]
    + [("epochs", v) for v in (1, 5, 20)]
    + [("batch_size", v) for v in ("auto", 16, 64)]
    + [("loss", v) for v in ("squared_error", "huber", "absolute_error")]
    + [("tol", v) for v in ("auto", 1e-6, 1e-3)]
    + [("callbacks", v) for v in CALLBACKS]
)


def build(meta, compile_kwargs):
    """A user's builder: Dense(4, relu) + Dense(1), compiled as the estimator asks."""
    model = keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(4, activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(**compile_kwargs)
    return model


def state(est):
    """What a failed call must leave as it was: (predictions, loss_curve_, n_iter_), None if unfitted."""
    if not hasattr(est, "model_"):
        return None
    return est.predict(PROBE), list(est.loss_curve_), est.n_iter_


def plain(value):
    """A parameter as compared across twins (a JSON round trip turns tuples into lists)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def relative_gap(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def optimum(Xd, yd, alpha):
    """coef_ and intercept_ of the exact solution. ``alpha`` is Ridge's penalty on the standardized
    inputs (user guide), so Ridge runs on standardized columns and is mapped back."""
    if alpha == 0:
        ref = LinearRegression(**EXACT).fit(Xd, yd)
        return ref.coef_, ref.intercept_
    mean, scale = Xd.mean(axis=0), Xd.std(axis=0)
    ref = Ridge(alpha=alpha, solver="svd").fit((Xd - mean) / scale, yd)
    return ref.coef_ / scale, ref.intercept_ - mean @ (ref.coef_ / scale)


class Sequences(RuleBasedStateMachine):
    """Twins of one estimator configuration under a random sequence of calls."""

    PARAMS = {}  # the configuration (subclasses)
    RTOL = 1e-10  # how closely the twins must predict alike
    STORABLE = True  # whether save_estimator can store the configuration
    CERTIFIED = False  # the single neuron: a squared-error full-batch fit is certified
    SPARSE = True  # whether calls may pass sparse X (a user's model reads dense X only)

    def __init__(self):
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        names = ["memory", "pickled", "saved", "clean"] if self.STORABLE else ["memory", "pickled", "clean"]
        self.twins = {name: KerasLinearRegressor(**self.PARAMS) for name in names}
        self.callbacks = "None"
        self.fitted_hidden = None  # hidden_layer_sizes the weights were built for; None while unfitted
        self.centred = False  # whether the weights' inputs were centred: made from dense X, with hidden layers

    def teardown(self):
        self.tmp.cleanup()

    # -- running one call on the twins --------------------------------------------------
    def _set(self, **params):
        """set_params on every twin (the clean twin too: it skips failing calls, not parameters)."""
        for est in self.twins.values():
            est.set_params(**params)

    def _run(self, call, names):
        """``call(twin)`` on each named twin: {name: (exception or None, ConvergenceWarning raised)}."""
        outcomes = {}
        for name in names:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    call(self.twins[name])
                    error = None
                except Exception as exc:  # noqa: BLE001 - judged by the caller
                    error = exc
            outcomes[name] = error, any(issubclass(w.category, ConvergenceWarning) for w in caught)
        return outcomes

    def _must_fail(self, call, words=()):
        """``call`` raises ValueError (naming ``words``) on every twin but clean, and changes nothing."""
        names = [name for name in self.twins if name != "clean"]
        before = {name: state(self.twins[name]) for name in names}
        for name, (error, _) in self._run(call, names).items():
            if not isinstance(error, ValueError):
                raise AssertionError(f"{name}: expected a ValueError, got {error!r}") from error
            missing = [word for word in words if word not in str(error)]
            assert not missing, f"{name}: the message does not say {missing}: {error}"
            after = state(self.twins[name])
            assert (before[name] is None) == (after is None), f"{name}: a failed call changed fitted-ness"
            if after is not None:
                np.testing.assert_array_equal(after[0], before[name][0], err_msg=f"{name}: failed call moved it")
                assert after[1:] == before[name][1:], f"{name}: a failed call changed loss_curve_/n_iter_"

    def _x(self, Xd, sparse):
        """``Xd`` as the call passes it: CSR when ``sparse`` (and the configuration takes it)."""
        return sp.csr_matrix(Xd) if sparse and self.SPARSE else Xd

    def _train(self, call, continues, added=None, sparse=False):
        """``call`` trains every twin; continuing weights of another architecture must fail (item 3),
        as must continuing an MLP's centred inputs on ``sparse`` X. ``added``: epochs partial_fit
        calls add. Returns {name: ConvergenceWarning raised}, or None."""
        hidden = tuple(self.twins["memory"].hidden_layer_sizes)
        if continues and self.fitted_hidden not in (None, hidden):
            self._must_fail(call, words=("hidden_layer_sizes", "warm_start=False"))
            return None
        warm = continues and self.fitted_hidden is not None
        sparse = sparse and self.SPARSE
        if warm and sparse and self.centred:
            self._must_fail(call, words=("cannot be centred",))
            return None
        before = {name: state(est) if warm else None for name, est in self.twins.items()}
        outcomes = self._run(call, self.twins)
        for name, (error, _) in outcomes.items():
            if error is not None:
                raise AssertionError(f"{name}: {error!r}") from error
            est, (_, curve, n_iter) = self.twins[name], before[name] or (None, [], 0)
            if added is not None:  # partial_fit adds one epoch per call (item 10)
                assert est.n_iter_ == n_iter + added, f"{name}: n_iter_ {est.n_iter_} != {n_iter} + {added}"
            else:  # a fit counts its own epochs
                assert 1 <= est.n_iter_ <= est.epochs, f"{name}: n_iter_ {est.n_iter_}, epochs {est.epochs}"
            grown = len(est.loss_curve_) - len(curve)
            assert grown == (added or est.n_iter_), f"{name}: loss_curve_ grew by {grown}, n_iter_ {est.n_iter_}"
        if not warm:
            self.fitted_hidden = hidden
            self.centred = bool(hidden) and not sparse
        return {name: warned for name, (_, warned) in outcomes.items()}

    def _fit(self, data, warm, sparse=False):
        """fit every twin on ``data``; a certified fit must sit on the current problem's optimum (item 2)."""
        Xd, yd = DATA[data]
        self._set(warm_start=warm)
        Xc = self._x(Xd, sparse)
        warned = self._train(lambda est: est.fit(Xc, yd), continues=warm, sparse=sparse)
        est = self.twins["memory"]
        full_batch = est.batch_size == "auto" or est.batch_size >= len(Xd)
        if warned is None or not (self.CERTIFIED and est.loss == "squared_error" and full_batch):
            return
        coef, intercept = optimum(Xd, yd, est.alpha)
        rtol = 1e-6 if est.tol == "auto" else max(1e-6, 2 * est.tol)
        for name, twin in self.twins.items():
            if not warned[name]:  # no ConvergenceWarning: it claims the optimum
                np.testing.assert_allclose(
                    twin.coef_, coef, rtol=rtol, atol=rtol * np.abs(coef).max(),
                    err_msg=f"{name}: coef_ is not Ridge(alpha={est.alpha})'s after fit(warm_start={warm})",
                )
                assert abs(twin.intercept_ - intercept) <= rtol * abs(intercept), f"{name}: intercept_"

    # -- rules that train ----------------------------------------------------------------
    @initialize(start=st.sampled_from(["all", "chunk0", "shifted", "unfitted"]), sparse=st.booleans())
    def start(self, start, sparse):
        """Begin fitted cold on a dataset, or unfitted."""
        if start != "unfitted":
            self._fit(start, warm=False, sparse=sparse)

    @rule(data=st.sampled_from(list(DATA)), sparse=st.booleans())
    def fit_cold(self, data, sparse):
        """fit with warm_start=False."""
        self._fit(data, warm=False, sparse=sparse)

    @rule(data=st.sampled_from(list(DATA)), sparse=st.booleans())
    def fit_warm(self, data, sparse):
        """fit with warm_start=True."""
        self._fit(data, warm=True, sparse=sparse)

    @rule(data=st.sampled_from([*CHUNKS, "shifted"]), sparse=st.booleans())
    def partial_fit(self, data, sparse):
        """partial_fit on one chunk."""
        Xd, yd = DATA[data]
        Xc = self._x(Xd, sparse)
        self._train(lambda est: est.partial_fit(Xc, yd), continues=True, added=1, sparse=sparse)

    @rule(
        chunks=st.lists(st.sampled_from(CHUNKS), min_size=2, max_size=3), n_passes=st.integers(1, 2),
        sparse=st.booleans(),
    )
    def chunks(self, chunks, n_passes, sparse):
        """train_on_chunks over 2-3 chunks."""
        source = [(self._x(DATA[name][0], sparse), DATA[name][1]) for name in chunks]
        self._train(
            lambda est: train_on_chunks(est, source, n_passes=n_passes), True, n_passes * len(source), sparse=sparse
        )

    @rule(data=st.sampled_from(list(DATA)), sparse=st.booleans())
    def clone_fit_cold(self, data, sparse):
        """A clone fitted cold predicts exactly as every twin fitted cold (item 1)."""
        Xd, yd = DATA[data]
        fresh = clone(self.twins["memory"]).set_params(warm_start=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            expected = fresh.fit(self._x(Xd, sparse), yd).predict(PROBE)
        self._fit(data, warm=False, sparse=sparse)
        for name, est in self.twins.items():
            gap = relative_gap(est.predict(PROBE), expected)
            assert gap <= 1e-12, f"{name} fitted cold is {gap:.1e} away from a clone fitted cold"

    # -- rules that change parameters or storage --------------------------------------
    @rule(change=CHANGES)
    def set_param(self, change):
        """set_params of one training parameter, on every twin."""
        name, value = change
        if name == "callbacks":
            for est in self.twins.values():  # a fresh callback per twin
                est.set_params(callbacks=CALLBACKS[value]())
            self.callbacks = value
        else:
            self._set(**{name: value})

    @precondition(lambda self: "hidden_layer_sizes" in self.PARAMS)
    @rule(hidden=st.sampled_from([(4,), (3, 3)]))
    def set_hidden_layer_sizes(self, hidden):
        """set_params(hidden_layer_sizes=...): continuing other weights must then fail."""
        self._set(hidden_layer_sizes=hidden)

    @rule()
    def pickle_round_trip(self):
        """The pickled twin goes through pickle.dumps/loads."""
        self.twins["pickled"] = pickle.loads(pickle.dumps(self.twins["pickled"]))

    @precondition(lambda self: self.STORABLE and self.fitted_hidden is not None)
    @rule()
    def save_load_round_trip(self):
        """The saved twin goes through save_estimator/load_estimator."""
        path = os.path.join(self.tmp.name, "twin.kreg")
        est = self.twins["saved"]
        # Callbacks are not plain data: saved as their default (None), with a warning, and given
        # back after loading, as a user would (they do not change what training computes).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            save_estimator(est, path, drop_unsafe_params=est.callbacks is not None)
        self.twins["saved"] = load_estimator(path).set_params(callbacks=CALLBACKS[self.callbacks]())

    # -- calls that must fail and change nothing (item 5) ---------------------------------
    @rule(warm=st.booleans(), sparse=st.booleans())
    def fit_with_nan(self, warm, sparse):
        """fit on X holding a NaN."""
        self._set(warm_start=warm)
        Xc = self._x(X_NAN, sparse)
        self._must_fail(lambda est: est.fit(Xc, Y))

    @rule(rows=st.sampled_from([slice(20, 40), slice(0, 30)]), sparse=st.booleans())
    def partial_fit_with_nan(self, rows, sparse):
        """partial_fit on a chunk holding a NaN."""
        Xc = self._x(X_NAN[rows], sparse)
        self._must_fail(lambda est: est.partial_fit(Xc, Y[rows]))

    @precondition(lambda self: self.fitted_hidden is not None)
    @rule(method=st.sampled_from(["fit", "partial_fit"]))
    def wrong_number_of_features(self, method):
        """A warm fit or partial_fit on 2 features instead of 3."""
        if method == "fit":
            self._set(warm_start=True)
            self._must_fail(lambda est: est.fit(X[:, :2], Y))
        else:
            self._must_fail(lambda est: est.partial_fit(X[:20, :2], Y[:20]))

    @rule(n_passes=st.integers(1, 2))
    def chunks_with_nan(self, n_passes):
        """train_on_chunks whose 2nd chunk holds a NaN."""
        source = [DATA["chunk0"], (X_NAN[20:40], Y[20:40]), DATA["chunk2"]]
        self._must_fail(lambda est: train_on_chunks(est, source, n_passes=n_passes))

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def twins_agree(self):
        """Every twin predicts, and counts epochs, as the memory twin does (item 4)."""
        ref = state(self.twins["memory"])
        for name, est in self.twins.items():
            got = state(est)
            assert (got is None) == (ref is None), f"{name}: fitted-ness differs from the memory twin"
            if ref is not None:
                gap = relative_gap(got[0], ref[0])
                assert gap <= self.RTOL, f"{name} predicts {gap:.1e} (relative) away from the memory twin"
                assert got[2] == ref[2], f"{name}: n_iter_ {got[2]} != {ref[2]}"
                np.testing.assert_allclose(got[1], ref[1], rtol=self.RTOL, atol=self.RTOL, err_msg=name)

    @invariant()
    def twins_share_parameters(self):
        """The twins hold the same parameters (callbacks aside: storing may drop them)."""
        ref = self.twins["memory"].get_params(deep=False)
        for name, est in self.twins.items():
            params = est.get_params(deep=False)
            for key, value in ref.items():
                if key != "callbacks":
                    assert plain(params[key]) == plain(value), f"{name}: {key}={params[key]!r}, not {value!r}"


class SingleNeuron(Sequences):
    PARAMS = {"random_state": 0, "epochs": 20}
    CERTIFIED = True


class MLP(Sequences):
    PARAMS = {"hidden_layer_sizes": (4,), "random_state": 0, "epochs": 10}
    RTOL = 1e-6


class UserBuilder(Sequences):
    PARAMS = {"model": build, "random_state": 0, "epochs": 10}
    RTOL = 1e-6
    # No saved twin: save_estimator stores a builder only as its default (model=None, with
    # drop_unsafe_params=True), i.e. as a single neuron: continuing that would be an architecture
    # change (item 3), so such a twin cannot follow the others. Pickle stores the builder.
    STORABLE = False
    SPARSE = False


# About 60 s for the three on 2 cores when every check passes; a user's model is built and traced
# at every fit, so the builder gets fewer sequences.
TestSingleNeuron = SingleNeuron.TestCase
TestSingleNeuron.settings = profile(examples=8)
TestMLP = MLP.TestCase
TestMLP.settings = profile(examples=8)
TestUserBuilder = UserBuilder.TestCase
TestUserBuilder.settings = profile(examples=4)
