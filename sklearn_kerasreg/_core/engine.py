"""The training engine: Keras layers, optimizers and callbacks without Keras's per-epoch cost.

``keras.Model.fit`` on NumPy input rebuilds its data pipeline and synchronises
with Python after every epoch, which costs tens of milliseconds each time. On
small data an epoch is one cheap full-batch step, so that overhead is nearly
all of the fit. Here one compiled call runs many epochs (``_backends.tensorflow_loop``, with
the stop rule inside the graph), and :class:`Trainer` drives it from Python:
it starts each run from the fit's own weights (a :class:`State`), gets control back between calls to
report progress and to drive Keras callbacks (which see one
``on_epoch_end`` per epoch with the usual ``logs``), verifies the first
step of a certified fit, and keeps the best weights.

A certified trainer (the whitened single neuron, ``_core.whitening``) works
differently: each epoch is one full-batch gradient step, its gradient summed
block by block over data that the caller whitens one block at a time (so no
whitened copy of all the data is held), and a ``check`` of the weights and
that gradient gives their distance from the least-squares optimum; training
stops when that is within ``tol``, keeping the weights it measured.
"""

import math
import sys
from dataclasses import dataclass, field

import numpy as np

from .._backends.runtime import loop_class
from .models import copy_variables
from .stop_rule import StopRule

#: Each time the monitored loss stalls, the learning rate is divided by this.
LR_DROP_FACTOR = 5.0
#: Optimizer steps per compiled call when nothing needs Python in between.
STEPS_PER_CALL = 512


@dataclass
class TrainResult:
    """What one call to :func:`train` observed."""

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    n_epochs: int = 0
    converged: bool = False
    diverged: bool = False
    stopped_by_callback: bool = False
    #: Certified training: the smallest distance to the optimum that ``check`` measured,
    #: or the one ``verify`` measured after the first step (NaN otherwise).
    distance: float = float("nan")
    #: Whether ``verify`` certified the weights after the first step.
    verified: bool = False
    #: The learning rate training started with.
    learning_rate: float = float("nan")


@dataclass(frozen=True)
class State:
    """Where a run starts: a network's weights (``trainable_variables`` order, and its
    ``non_trainable_variables`` in ``others``) and its optimizer's variables, as arrays.

    ``optimizer=None``, or variables that do not fit the optimizer (of
    another class than ``optimizer_name``, other slots), start a new
    optimizer. ``learning_rate``, when given, is the rate the run starts at;
    None keeps the optimizer's rate as it was built (a schedule, or an
    optimizer instance's own rate).
    """

    weights: list
    optimizer: list | None = None
    learning_rate: float | None = None
    others: list | None = None
    optimizer_name: str | None = None


@dataclass(frozen=True)
class Penalty:
    """An L2 penalty a run adds to the training loss: ``l2 * sum(kernel ** 2)`` over the
    network's kernels, the first one taken as ``transform @ kernel`` when ``transform``
    is given (the single neuron's whitening: the penalty then acts on the
    coefficients of the standardized inputs).

    The values are a run's inputs, like its data: a trainer traced for a
    penalty of one shape serves every ``alpha`` and every fold.
    """

    l2: float
    transform: np.ndarray | None = None

    @property
    def shape(self):
        """What a trainer's traced code depends on: the transform's shape, or ()."""
        return () if self.transform is None else tuple(self.transform.shape)


def load_state(net, optimizer, state, fresh_optimizer=None):
    """Give ``net`` and ``optimizer`` the weights and optimizer variables of ``state``.

    ``fresh_optimizer`` holds the variables ``optimizer`` had when it was
    built: what a state without fitting variables starts from, and where the
    rate comes from when the state names none.
    """
    have = [tuple(np.shape(w)) for w in state.weights]
    want = [tuple(v.shape) for v in net.trainable_variables]
    if have != want:
        # A user's builder may build another network from changed model__ parameters.
        raise ValueError(
            f"The network the parameters now build has weights of shapes {want}, but the trained "
            f"weights have shapes {have}: they cannot continue. Fit with warm_start=False to train a new one."
        )
    copy_variables(state.weights, net.trainable_variables)
    if state.others:
        copy_variables(state.others, net.non_trainable_variables)
    if not optimizer.built:
        optimizer.build(net.trainable_variables)
    variables = optimizer.variables
    if fresh_optimizer is None:
        fresh_optimizer = [np.array(v.numpy()) for v in variables]
    fits = (
        state.optimizer is not None
        and state.optimizer_name in (None, type(optimizer).__name__)
        and len(state.optimizer) == len(variables)
        and all(np.shape(a) == tuple(v.shape) for a, v in zip(state.optimizer, variables))
    )
    copy_variables(state.optimizer if fits else fresh_optimizer, variables)
    rate = next((i for i, v in enumerate(variables) if v is optimizer.learning_rate), None)
    if rate is not None:
        start = fresh_optimizer[rate] if state.learning_rate is None else state.learning_rate
        optimizer.learning_rate.assign(start)


def _value(learning_rate):
    """A learning rate's current value (a schedule's at the current step)."""
    # A variable's or a TensorFlow tensor's numpy(); a JAX array has none.
    return float(learning_rate.numpy() if hasattr(learning_rate, "numpy") else np.asarray(learning_rate))


class Trainer:
    """Runs epochs of gradient steps on in-memory tensors.

    A trainer is made for a data shape and traced on its first run; it can
    then train its network from any start (a :class:`State`) on any data of
    that shape, without tracing again (see ``train`` and ``_core.programs``).

    Parameters
    ----------
    net : keras.Model
        The trainer's own network.
    optimizer : keras.optimizers.Optimizer
        The trainer's own optimizer.
    loss_fn : keras.losses.Loss or callable
        Called as ``loss_fn(y_true, y_pred, sample_weight)``.
    n_samples : int or None
        Rows of the data ``train`` will get; None for a trainer that gets
        its data chunk by chunk through ``train_pass`` (``partial_fit``).
    validated : bool
        Whether ``train`` gets validation data, whose loss is then
        monitored instead of the training loss.
    batch_size : int
    shuffle : bool
    seed : int
        Seeds the shuffle of ``train_pass``; ``train`` takes its own.
    tol, n_iter_no_change : float, int
        An epoch "improves" when the monitored loss drops below the best so
        far by more than ``tol``; ``n_iter_no_change`` epochs in a row that do
        not improve form a stall.
    adaptive : bool
        On a stall, divide the learning rate by ``LR_DROP_FACTOR`` and go on,
        up to ``max_drops`` times; otherwise a stall ends training.
    max_drops : int
        The plan's (``_core.plan``).
    penalty : Penalty or None
        The shape of the penalty every run of this trainer adds (its values
        come with each run); None for none.
    certified : bool
        Train on blocks, one full-batch step an epoch, and monitor what
        ``train``'s ``check`` makes of each epoch's gradient instead of the loss;
        training has converged when it is at most ``tol``, and a stall of it (no
        new smallest value in ``n_iter_no_change`` epochs: rounding error
        has the last word) drops the learning rate as a stalled loss would.
    """

    def __init__(
        self, net, optimizer, loss_fn, n_samples=None, *,
        batch_size, shuffle, tol, n_iter_no_change, adaptive, validated=False, seed=0,
        max_drops=0, certified=False, penalty=None,
    ):
        self.net = net
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        if n_samples is None:
            # Data arrives per call to train_pass (partial_fit).
            n_samples = 0
            self.batch_size = max(1, int(batch_size))
        else:
            self.batch_size = max(1, min(int(batch_size), n_samples))
        self.n_samples = n_samples
        self.n_batches = math.ceil(self.n_samples / self.batch_size)
        self.shuffle = shuffle and (self.n_batches > 1 or self.n_samples == 0)
        self.tol = float(tol)
        self.patience = int(n_iter_no_change)
        # A LearningRateSchedule has no variable to lower; it then runs as "constant".
        self.adaptive = adaptive and hasattr(optimizer.learning_rate, "assign")
        self.max_drops = int(max_drops)
        self.validated = bool(validated)
        self.certified = bool(certified) and not self.validated
        if self.certified:
            self.n_batches = 1
        # A run ends on the weights of its last step, except where the best
        # weights are the documented result: early stopping's (the best
        # validation loss) and the certified fit's (the weights certified
        # closest to the optimum).
        self.restore_best = self.validated or self.certified
        rule = StopRule(
            tol=self.tol, patience=self.patience, adaptive=self.adaptive, drop_factor=LR_DROP_FACTOR,
            max_drops=self.max_drops, certified=self.certified, restore_best=self.restore_best,
        )
        self.penalty_shape = None if penalty is None else penalty.shape
        # Dense kernels are the 2-D weights; biases are 1-D.
        kernels = () if penalty is None else tuple(
            i for i, v in enumerate(net.trainable_variables) if len(v.shape) == 2
        )
        self.loop = loop_class()(
            net, optimizer, loss_fn, rule, batch_size=self.batch_size, n_batches=self.n_batches,
            shuffle=self.shuffle, seed=seed, penalty=(kernels, self.penalty_shape),
        )
        # What a start without optimizer state gets: this optimizer's as it was made.
        self._fresh_optimizer = [np.array(v.numpy()) for v in optimizer.variables]

    def train_pass(self, X, y, sample_weight, *, start, seed, epoch, penalty=None):
        """Run one epoch over ``X, y`` (arrays of the network's dtype) from ``start``; return its mean loss.

        ``epoch`` numbers the pass for its shuffle (with ``seed``). No stop
        rule or drops apply (``partial_fit``: the caller decides).
        """
        self._load(start, seed, epoch, penalty)
        return self.loop.train_pass(X, y, sample_weight)

    @property
    def traces(self):
        """How often this trainer's training code was traced (compiled, on JAX)."""
        return self.loop.traces

    def release(self):
        """Let the backend free what only compiling needed; the trainer stays usable."""
        self.loop.release()

    def state(self):
        """The network's weights and the optimizer's variables now, as a :class:`State`
        whose ``learning_rate`` is the rate now (None for a schedule)."""
        rate = self.optimizer.learning_rate
        return State(
            [np.array(v.numpy()) for v in self.net.trainable_variables],
            [np.array(v.numpy()) for v in self.optimizer.variables],
            _value(rate) if hasattr(rate, "assign") else None,
            [np.array(v.numpy()) for v in self.net.non_trainable_variables],
            type(self.optimizer).__name__,
        )

    def _load(self, start, seed, epoch=0, penalty=None):
        """Start a run from ``start`` (None: the weights as they are) with ``penalty``, and reset the stop rule."""
        if (None if penalty is None else penalty.shape) != self.penalty_shape:
            raise ValueError(f"this trainer was made for a penalty of shape {self.penalty_shape}.")
        if start is not None:
            load_state(self.net, self.optimizer, start, fresh_optimizer=self._fresh_optimizer)
        if penalty is not None:
            self.loop.set_penalty(penalty.l2, penalty.transform)
        self.loop.reset(seed, epoch)

    def train(
        self, X, y, sample_weight=None, validation=None, *, epochs, seed=0,
        start=None, penalty=None, callbacks=None, verbose=0, check=None, verify=None, loss_scale=None,
    ):
        """Run up to ``epochs`` epochs on the data; return a :class:`TrainResult`.

        Parameters
        ----------
        X, y, sample_weight : ndarray
            Training data of ``n_samples`` rows; ``sample_weight`` may be None.
            TensorFlow reads them in place: nothing may write to them during
            the call. A certified trainer takes instead, as ``X``, a
            ``_core.whitening.Blocks``: called once an epoch, it returns an
            iterable of ``(X, y, sample_weight)`` blocks of its ``n_rows``
            rows (``y`` and ``sample_weight`` are then None).
        validation : tuple of ndarray or None
            ``(X_val, y_val, sample_weight_val)``, given exactly when the
            trainer was made with ``validated=True``. The validation loss is
            then monitored instead of the training loss.
        check : callable or None
            Given exactly when the trainer is certified: called each epoch
            with the weights and their full-batch gradient (lists of arrays,
            in ``trainable_variables`` order), returns their distance from
            the optimum.
        verify : callable or None
            Certified training only: called with the trainer's network after
            the first step; if what it returns is within ``tol``, training
            ends there with those weights. A step that lands on the optimum
            then needs no second pass to say so. Only the first step is
            verified: choosing among several noisy readings the first one
            below ``tol`` would flatter the result.
        epochs : int
        seed : int
            Seeds the per-epoch shuffle (stateless: epoch ``e`` always uses the
            same permutation for the same seed).
        penalty : Penalty, optional
            The run's L2 penalty, of the shape the trainer was made for.
        start : State, optional
            Weights and optimizer state to start from: a shared trainer
            serves each fit from that fit's own start (``_core.programs``), and
            the fit reads its result off ``net`` and :meth:`state`. By
            default training continues from the trainer's weights as they are.
        callbacks : list of keras.callbacks.Callback
            They see the trainer's own network, so a trainer that serves
            other networks should not be given any.
        verbose : int
        loss_scale : float or None
            Multiplies the losses ``verbose`` shows: the caller's units, as in
            ``loss_curve_``. Callbacks see the training units.
        """
        import keras

        if (validation is not None) != self.validated:
            raise ValueError("validation data must be given exactly when the trainer was made with validated=True.")
        if (check is not None) != self.certified:
            raise ValueError("check must be given exactly when the trainer is certified.")
        self._load(start, seed, penalty=penalty)
        result = TrainResult(learning_rate=_value(self.optimizer.learning_rate))
        if self.certified:
            data = X  # the Blocks, read block by block each epoch
        else:
            data, validation = self.loop.inputs((X, y, sample_weight), validation)
        callbacks = list(callbacks or [])
        cb = keras.callbacks.CallbackList(callbacks, model=self.net, epochs=epochs, verbose=0)
        # Callbacks act between epochs, so they get one epoch per call.
        per_call = 1 if callbacks else max(1, STEPS_PER_CALL // self.n_batches)
        self.net.stop_training = False
        progress = _Progress(epochs, verbose, loss_scale)
        cb.on_train_begin()
        while not self._stopped(result, verify) and result.n_epochs < epochs:
            if callbacks:
                cb.on_epoch_begin(result.n_epochs)
            if self.certified:
                loss, val_loss = self.loop.certified_epoch(data, check), [np.nan]
            else:
                loss, val_loss = self.loop.epochs(min(per_call, epochs - result.n_epochs), data, validation)
            for j, value in enumerate(loss):
                logs = {"loss": value} if validation is None else {"loss": value, "val_loss": val_loss[j]}
                if callbacks:
                    cb.on_epoch_end(result.n_epochs + j, logs)
                progress.epoch_end(result.n_epochs + j, logs)
            result.loss += loss
            result.val_loss += val_loss
            result.n_epochs += len(loss)
        cb.on_train_end()
        progress.end(result)
        # Verified weights are the ones verify measured; otherwise the best the monitor saw.
        if not result.verified and self.restore_best and np.isfinite(self.loop.best) and not result.diverged:
            self.loop.restore_best_weights()
        if self.certified and not result.verified:
            result.distance = self.loop.best
        return result

    def _stopped(self, result, verify):
        """Whether the run ends after the epochs it has run, with the reason set on ``result``."""
        if result.n_epochs == 0:
            return False
        if self.loop.diverged:
            result.diverged = True
            return True
        if verify is not None and result.n_epochs == 1 and not self.loop.converged:
            result.distance = float(verify(self.net))
            if result.distance <= self.tol:
                result.converged = result.verified = True
                return True
        result.converged = self.loop.converged
        result.stopped_by_callback = not result.converged and self.net.stop_training
        return result.converged or result.stopped_by_callback


class _Progress:
    """What ``verbose`` shows, on standard output as Keras does.

    1: one Keras progress bar over the epochs, updated in place, with the
    time per epoch and the last epoch's losses; a fit that stops early ends
    the bar where it stopped. 2 and more: one line per epoch. The losses are
    multiplied by ``scale`` (the caller's units) when one is given.
    """

    def __init__(self, epochs, verbose, scale=None):
        self.epochs, self.verbose, self.scale = epochs, int(verbose), scale
        self.bar, self.logs = None, {}
        if self.verbose == 1:
            import keras

            # Every value is the last epoch's, not an average over the fit.
            self.bar = keras.utils.Progbar(epochs, stateful_metrics=["loss", "val_loss"], unit_name="epoch")

    def epoch_end(self, epoch, logs):
        if self.scale is not None:
            logs = {name: value * self.scale for name, value in logs.items()}
        self.logs = logs
        if self.bar is not None:
            self.bar.update(epoch + 1, list(logs.items()), finalize=False)
        elif self.verbose >= 2:
            shown = " - ".join(f"{k}: {v:.6g}" for k, v in logs.items())
            print(f"Epoch {epoch + 1}/{self.epochs} - {shown}", file=sys.stdout, flush=True)

    def end(self, result):
        n = result.n_epochs
        if self.bar is not None and n:
            self.bar.update(n, list(self.logs.items()), finalize=True)
        if self.verbose and n < self.epochs:
            # As Keras's EarlyStopping says it, with the reason.
            if result.diverged:
                why = "the loss is no longer finite"
            elif result.stopped_by_callback:
                why = "a callback asked to stop"
            else:
                why = "converged"
            print(f"Epoch {n}: training stopped, {why}.", file=sys.stdout, flush=True)
