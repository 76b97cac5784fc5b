"""What every backend's compiled loop offers the engine (``_core.engine.Trainer``).

``tensorflow_loop.TensorFlowLoop`` and ``jax_loop.JaxLoop`` implement it; a
loop for another backend implements the same, and registers in
``runtime.SUPPORTED_BACKENDS``.
"""

from typing import Protocol


class Loop(Protocol):
    """A trainer's compiled epochs and stop rule on one backend.

    Made once per trainer with the trainer's network, optimizer, loss, stop
    rule (``_core.stop_rule.StopRule``), batch settings, shuffle seed and
    ``penalty``, ``(indices of the kernels, shape of the transform or None)``.
    A run's values (weights, optimizer state, penalty, data) are given per
    run; nothing of one run's data stays with the loop.
    """

    #: How often the loop's compiled training code was traced (counted as
    #: the Python bodies run, which they do only while tracing).
    traces: int

    def set_penalty(self, l2, transform):
        """The penalty's values for the next runs."""

    def reset(self, seed, epoch=0):
        """Start a run from the network's current weights; shuffles count epochs from ``epoch``."""

    def inputs(self, data, validation):
        """A run's arrays as :meth:`epochs` takes them, made once a run."""

    def epochs(self, n, data, validation):
        """Up to ``n`` epochs in one compiled call: the losses and validation losses, as lists."""

    def certified_epoch(self, blocks, check):
        """One full-batch step, its gradient summed over ``blocks()`` and given to ``check``."""

    def train_pass(self, X, y, sample_weight):
        """One epoch over a chunk, no stop rule: its mean loss."""

    @property
    def converged(self) -> bool: ...

    @property
    def diverged(self) -> bool: ...

    @property
    def best(self) -> float:
        """The smallest monitored value of the run."""

    def restore_best_weights(self):
        """Give the network the best weights of the run."""

    def release(self):
        """Let the backend free what only compiling needed; the loop stays usable."""
