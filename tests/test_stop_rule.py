"""The stop rule that both compiled loops run (``_core.stop_rule``), driven epoch by epoch."""

import numpy as np
import pytest

from sklearn_kerasreg._backends.runtime import backend_scope
from sklearn_kerasreg._core.stop_rule import StopRule


def _run(rule, values, lr=1.0):
    """The rule's state after each of ``values``: a list of dicts of NumPy values."""
    with backend_scope():  # float64 on JAX, as in a fit
        return _updates(rule, values, lr)


def _updates(rule, values, lr):
    from keras import ops

    state = {
        "wait": ops.convert_to_tensor(0, "int32"), "drops": ops.convert_to_tensor(0, "int32"),
        "reference": ops.convert_to_tensor(np.inf, "float64"),
        "best": ops.convert_to_tensor(np.inf, "float64"),
        "lr": ops.convert_to_tensor(lr, "float64"), "converged": ops.convert_to_tensor(False),
        "best_weights": [ops.convert_to_tensor(np.zeros(2))],
    }
    seen = []
    for epoch, value in enumerate(values):
        state["weights"] = [ops.convert_to_tensor(np.full(2, float(epoch)))]
        state.update(rule.update(state, ops.convert_to_tensor(value, "float64")))
        seen.append({k: ops.convert_to_numpy(v[0] if k.endswith("weights") else v) for k, v in state.items()})
    return seen


def _rule(**settings):
    defaults = dict(
        tol=0.1, patience=2, adaptive=True, drop_factor=5.0, max_drops=1, certified=False, restore_best=True
    )
    return StopRule(**{**defaults, **settings})


def test_a_stall_drops_the_learning_rate_then_stops_training():
    # Improvements of less than tol do not count: epochs 2 and 3 stall (patience 2).
    seen = _run(_rule(), [1.0, 0.95, 0.92, 0.5, 0.45, 0.44])
    assert [int(s["drops"]) for s in seen] == [0, 0, 1, 1, 1, 1]
    assert float(seen[2]["lr"]) == pytest.approx(0.2)
    # Progress after the drop is measured from where it happened (0.92), so
    # 0.5 improves; the stall that follows, with no drops left, stops training.
    assert [bool(s["converged"]) for s in seen] == [False] * 5 + [True]


def test_constant_learning_rate_stops_at_the_first_stall():
    seen = _run(_rule(adaptive=False), [1.0, 0.95, 0.92])
    assert [bool(s["converged"]) for s in seen] == [False, False, True]
    assert float(seen[-1]["lr"]) == 1.0


def test_best_weights_are_those_of_the_smallest_value_and_nan_never_improves():
    seen = _run(_rule(patience=10), [3.0, 1.0, 2.0, np.nan])
    # The weights of epoch e are all e; the smallest value came at epoch 1.
    np.testing.assert_array_equal(seen[-1]["best_weights"], [1.0, 1.0])
    assert float(seen[2]["best"]) == 1.0
    # A NaN counts as a stall (the loops end the run on it as diverged).
    assert int(seen[-1]["wait"]) == 2


def test_a_certificate_converges_once_within_tol():
    # Any fall improves a certificate (no tol on the improvement), and a
    # value at most tol has converged.
    seen = _run(_rule(tol=1e-8, certified=True, patience=1), [1e-2, 9e-3, 1e-9])
    assert [bool(s["converged"]) for s in seen] == [False, False, True]
    assert int(seen[-1]["drops"]) == 0
