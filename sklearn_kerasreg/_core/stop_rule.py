"""The stop rule: stalls, learning-rate drops, convergence and the best weights, once for every backend.

Each backend's compiled loop calls :meth:`StopRule.update` once an epoch,
inside its compiled code (``tf.function``, ``jax.jit``), with the values it
keeps and the epoch's monitored value. The rule is written with
``keras.ops`` and without branches: a branch per epoch would cost a
function call and, more, a subgraph to trace per fit, while ``where`` and
``minimum`` do the same work as a few scalar ops. The rule's result does
not depend on how many epochs a compiled call runs.
"""

from dataclasses import dataclass

#: The values the rule reads and writes, besides the weights.
COUNTERS = ("wait", "reference", "best", "drops", "lr", "converged")


@dataclass(frozen=True)
class StopRule:
    """When an epoch improves, when training stalls and stops (see ``Trainer`` for the settings).

    An epoch improves when the monitored value falls below the best so far
    by more than ``tol``; ``patience`` epochs in a row that do not improve
    form a stall. On a stall an ``adaptive`` rule divides the learning rate
    by ``drop_factor`` and goes on, up to ``max_drops`` times; otherwise the
    stall ends training. A ``certified`` value (a distance to the optimum)
    improves whenever it falls, and training has converged once it is at
    most ``tol``. A NaN never improves; the loops end a run on it anyway.
    """

    tol: float
    patience: int
    adaptive: bool
    drop_factor: float
    max_drops: int
    certified: bool
    restore_best: bool

    def update(self, state, value):
        """The new values of ``state`` after an epoch whose monitored value is ``value``.

        ``state`` maps each name of ``COUNTERS`` to a scalar (``reference``
        and ``best`` float64, ``wait`` and ``drops`` int32, ``lr`` the
        learning rate, ``converged`` a boolean), and, when the rule restores
        the best weights, ``weights`` and ``best_weights`` to lists of
        arrays. The result has the same keys except ``weights``.
        """
        from keras import ops

        threshold = state["reference"] - (0.0 if self.certified else self.tol)
        wait = ops.where(value < threshold, 0, state["wait"] + 1)
        reference = ops.minimum(state["reference"], value)
        new = {"best": ops.minimum(state["best"], value), "drops": state["drops"], "lr": state["lr"]}
        if self.restore_best:
            better = value < state["best"]
            pairs = zip(state["weights"], state["best_weights"])
            new["best_weights"] = [ops.where(better, w, b) for w, b in pairs]
        stalled = wait >= self.patience
        if self.adaptive:
            drop = stalled & (state["drops"] < self.max_drops)
            new["lr"] = ops.where(drop, state["lr"] / self.drop_factor, state["lr"])
            new["drops"] = state["drops"] + ops.cast(drop, "int32")
            wait = ops.where(drop, 0, wait)
            # Progress after a drop is measured from where the drop happened:
            # an optimizer that overshot is still improving while it comes
            # back down, though not yet below its best.
            reference = ops.where(drop, value, reference)
            stalled = stalled & ~drop
        if self.certified:
            stalled = stalled | (value <= self.tol)
        new.update(wait=wait, reference=reference, converged=state["converged"] | stalled)
        return new
