"""The training engine: Keras layers, optimizers and callbacks without Keras's per-epoch cost.

``keras.Model.fit`` on NumPy input rebuilds its data pipeline and synchronises
with Python after every epoch, which costs tens of milliseconds each time. On
small data an epoch is one cheap full-batch step, so that overhead is nearly
all of the fit. Here the data is copied to TensorFlow once, and one compiled
call runs many epochs; the convergence rule (``tol``, ``n_iter_no_change``,
learning-rate drops, the best weights so far) runs inside the graph, so the
result does not depend on how many epochs a call runs. Python gets control
back between calls to report progress and to drive Keras callbacks, which see
one ``on_epoch_end`` per epoch with the usual ``logs``.

A certified trainer (the whitened single neuron, ``_whitening``) works
differently: each epoch is one full-batch gradient step, its gradient summed
block by block over data that the caller whitens one block at a time (so no
whitened copy of all the data is held), and a ``check`` of the weights and
that gradient gives their distance from the least-squares optimum; training
stops when that is within ``tol``, keeping the weights it measured.
"""

import functools
import math
import sys
from dataclasses import dataclass, field

import numpy as np

#: Each time the monitored loss stalls, the learning rate is divided by this.
LR_DROP_FACTOR = 5.0
#: With ``learning_rate="adaptive"``, training stops at the first stall after
#: this many drops (the rate is then below 1/3000 of where it started).
MAX_LR_DROPS = 5
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
    #: or the one ``verify`` measured after the first step.
    certified: float = float("nan")
    #: Whether ``verify`` certified the weights after the first step.
    verified: bool = False


class Trainer:
    """Runs epochs of gradient steps on in-memory tensors.

    A trainer is made for a data shape and traced on its first run; it can
    then train any network and optimizer shaped like its own on any data of
    that shape, without tracing again (see ``train`` and ``_programs``).

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
        max_drops=MAX_LR_DROPS, certified=False,
    ):
        import tensorflow as tf

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
        # Restoring the best weights is only meaningful when the monitored
        # value belongs to one set of weights: a full-batch step's loss or
        # certificate, or a validation loss measured after the epoch.
        self.restore_best = self.validated or self.n_batches == 1
        # The training state below is reset by every call to train.
        self._weights = net.trainable_variables
        self._best_weights = [tf.Variable(v, trainable=False) for v in self._weights]
        self._best = tf.Variable(np.inf, dtype=tf.float64, trainable=False)
        self._reference = tf.Variable(np.inf, dtype=tf.float64, trainable=False)
        self._wait = tf.Variable(0, dtype=tf.int32, trainable=False)
        self._drops = tf.Variable(0, dtype=tf.int32, trainable=False)
        self._epoch = tf.Variable(0, dtype=tf.int32, trainable=False)
        self._seed = tf.Variable(int(seed), dtype=tf.int32, trainable=False)
        self._converged = tf.Variable(False, trainable=False)
        self._diverged = tf.Variable(False, trainable=False)
        if not optimizer.built:
            optimizer.build(self._weights)
        # The data and validation data are arguments, not captured: a
        # trainer traces once and can then serve any number of fits of the
        # same shapes (see _programs). TensorFlow counts traces per function
        # code object, so a bound method (or a closure) would make a search's
        # many trainers warn of retracing; a partial is counted on its own.
        self._run = tf.function(functools.partial(Trainer._run_epochs, self))
        if self.certified:
            self._sums = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self._weights]
            # reduce_retracing: blocks come in two lengths (all but the last, the last).
            self._accumulate = tf.function(functools.partial(Trainer._accumulate_block, self), reduce_retracing=True)
            self._apply_sums = tf.function(functools.partial(Trainer._apply_block_sums, self))
            self._monitor_value = tf.function(functools.partial(Trainer._monitor, self))
        self._pass = None
        self._gradients_released = False

    # -- graph code -----------------------------------------------------
    def _loss(self, X, y, w, training):
        import tensorflow as tf

        pred = self.net(X, training=training)
        loss = self.loss_fn(y, pred, sample_weight=w)
        if training and self.net.losses:
            loss = loss + tf.add_n(self.net.losses)
        return loss

    def _step(self, X, y, w):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = self._loss(X, y, w, training=True)
        grads = tape.gradient(loss, self._weights)
        return tf.cast(loss, tf.float64), grads

    def _monitor(self, value):
        """Update the stall counter and the best weights with this epoch's monitored value.

        Written without branches: each ``tf.cond`` costs a function call per
        epoch and, more, a subgraph to trace per fit; ``tf.where`` and
        unconditional assignments do the same work as a few scalar ops. A
        NaN never counts as an improvement; it ends training anyway
        (``_run_epochs`` marks the run diverged). A certificate improves
        whenever it falls and has converged once it is at most ``tol``.
        """
        import tensorflow as tf

        tol = tf.constant(0.0 if self.certified else self.tol, tf.float64)
        wait = tf.where(value < self._reference - tol, 0, self._wait + 1)
        reference = tf.minimum(self._reference, value)
        if self.restore_best:
            better = value < self._best
            for best, var in zip(self._best_weights, self._weights):
                best.assign(tf.where(better, var, best))
        self._best.assign(tf.minimum(self._best, value))
        stalled = wait >= self.patience
        if self.adaptive:
            drop = stalled & (self._drops < self.max_drops)
            lr = self.optimizer.learning_rate
            lr.assign(tf.where(drop, lr / tf.cast(LR_DROP_FACTOR, lr.dtype), lr))
            self._drops.assign_add(tf.cast(drop, tf.int32))
            wait = tf.where(drop, 0, wait)
            # Progress after a drop is measured from where the drop happened:
            # an optimizer that overshot is still improving while it comes
            # back down, though not yet below its best.
            reference = tf.where(drop, value, reference)
            stalled = stalled & ~drop
        if self.certified:
            stalled = stalled | (value <= self.tol)
        self._converged.assign(self._converged | stalled)
        self._wait.assign(wait)
        self._reference.assign(reference)

    def _batched_epoch(self, X, y, w):
        """One epoch of mini-batch steps over ``X, y`` (``w`` may be None); the mean loss.

        The row count is read from the tensor, so the same code serves the
        in-memory data of ``fit`` and the chunks of ``partial_fit``. The
        shuffle is stateless: epoch ``e`` always uses the same permutation.
        """
        import tensorflow as tf

        n = tf.shape(X)[0]
        order = tf.range(n)
        if self.shuffle:
            order = tf.random.experimental.stateless_shuffle(order, seed=tf.stack([self._seed, self._epoch]))
        n_batches = (n + self.batch_size - 1) // self.batch_size
        total = tf.constant(0.0, tf.float64)
        for b in tf.range(n_batches):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            w_batch = None if w is None else tf.gather(w, idx)
            loss, grads = self._step(tf.gather(X, idx), tf.gather(y, idx), w_batch)
            self.optimizer.apply(grads, self._weights)
            total += loss * tf.cast(tf.shape(idx)[0], tf.float64)
        return total / tf.cast(n, tf.float64)

    def _accumulate_block(self, X, y, w, fraction):
        """Add ``fraction`` (the block's share of the rows) of the block's gradient to the sums."""
        import tensorflow as tf

        loss, grads = self._step(X, y, w)
        for total, grad in zip(self._sums, grads):
            total.assign_add(grad * tf.cast(fraction, grad.dtype))
        return loss * fraction

    def _apply_block_sums(self):
        """One full-batch step with the summed gradient; the sums start again from zero."""
        import tensorflow as tf

        self.optimizer.apply([tf.identity(total) for total in self._sums], self._weights)
        for total in self._sums:
            total.assign(tf.zeros_like(total))

    def _run_epochs(self, n_epochs, data, val):
        import tensorflow as tf

        losses = tf.TensorArray(tf.float64, size=n_epochs)
        val_losses = tf.TensorArray(tf.float64, size=n_epochs)
        done = tf.constant(0)
        for i in tf.range(n_epochs):
            if self.n_batches == 1:
                epoch_loss, grads = self._step(*data)
                if val is None:
                    # The loss belongs to the weights before this step.
                    self._monitor(epoch_loss)
                self.optimizer.apply(grads, self._weights)
            else:
                epoch_loss = self._batched_epoch(*data)
                if val is None:
                    self._monitor(epoch_loss)
            val_loss = tf.constant(np.nan, tf.float64)
            if val is not None:
                val_loss = tf.cast(self._loss(*val, training=False), tf.float64)
                self._monitor(val_loss)
            losses = losses.write(i, epoch_loss)
            val_losses = val_losses.write(i, val_loss)
            self._epoch.assign_add(1)
            done = i + 1
            finite = tf.math.is_finite(epoch_loss)
            if val is not None:
                finite = finite & tf.math.is_finite(val_loss)
            self._diverged.assign(self._diverged | ~finite)
            if self._converged or self._diverged:
                break
        return losses.stack()[:done], val_losses.stack()[:done]

    def _one_pass(self, X, y, w):
        """One epoch over data given per call (``partial_fit``): no stop rule, no drops."""
        loss = self._batched_epoch(X, y, w)
        self._epoch.assign_add(1)
        return loss

    def train_pass(self, X, y, sample_weight):
        """Run one epoch over ``X, y`` (arrays of the network's dtype); return its mean loss."""
        import tensorflow as tf

        if self._pass is None:
            # reduce_retracing: the second chunk length makes the trace
            # shape-generic, so a stream of chunks traces at most twice.
            self._pass = tf.function(functools.partial(Trainer._one_pass, self), reduce_retracing=True)
        from ._fixes import no_graph_rewrites

        with no_graph_rewrites():
            loss = self._pass(tf.convert_to_tensor(X), tf.convert_to_tensor(y), tf.convert_to_tensor(sample_weight))
        return float(loss)

    # -- Python driver ----------------------------------------------------
    def _inputs(self, X, y, sample_weight, validation):
        """The arrays as the traced function takes them: tensors over their memory."""
        return _tensors((X, y, sample_weight)), _tensors(validation)

    def _load(self, net, optimizer, seed):
        """Start a run: take ``net``'s weights and ``optimizer``'s state, reset the stop rule."""
        import tensorflow as tf

        if net is not None and net is not self.net:
            if not optimizer.built:
                optimizer.build(net.trainable_variables)
            _copy(net.trainable_variables, self._weights)
            _copy(optimizer.variables, self.optimizer.variables)
        _copy(self._weights, self._best_weights)
        for var in (self._best, self._reference):
            var.assign(tf.constant(np.inf, tf.float64))
        for var in (self._wait, self._drops, self._epoch):
            var.assign(0)
        self._seed.assign(int(seed))
        self._converged.assign(False)
        self._diverged.assign(False)

    def _store(self, net, optimizer):
        """End a run: hand the weights and the optimizer's state back to ``net`` and ``optimizer``."""
        if net is not None and net is not self.net:
            _copy(self._weights, net.trainable_variables)
            _copy(self.optimizer.variables, optimizer.variables)

    def release(self):
        """Let TensorFlow free what only tracing needed; the trainer stays usable (see ``_fixes``)."""
        from ._fixes import release_custom_gradients

        if not self._gradients_released:
            functions = [self._run]
            if self.certified:
                functions += [self._accumulate, self._apply_sums, self._monitor_value]
            for function in functions:
                release_custom_gradients(function)
            self._gradients_released = True

    def train(
        self, X, y, sample_weight=None, validation=None, *, epochs, seed=0,
        net=None, optimizer=None, callbacks=None, verbose=0, check=None, verify=None,
    ):
        """Run up to ``epochs`` epochs on the data; return a :class:`TrainResult`.

        Parameters
        ----------
        X, y, sample_weight : ndarray
            Training data of ``n_samples`` rows; ``sample_weight`` may be None.
            TensorFlow reads them in place: nothing may write to them during
            the call. A certified trainer takes instead, as ``X``, a
            ``_whitening.Blocks``: called once an epoch, it returns an
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
        net, optimizer : keras.Model and keras.optimizers.Optimizer, optional
            A network and optimizer shaped like the trainer's own: training
            starts from their weights and state, and they get the result. By
            default the trainer's own are trained in place.
        callbacks : list of keras.callbacks.Callback
            They see the trainer's own network, so a trainer that serves
            other networks should not be given any.
        verbose : int
        """
        import keras
        import tensorflow as tf

        from ._fixes import no_graph_rewrites

        if (validation is not None) != self.validated:
            raise ValueError("validation data must be given exactly when the trainer was made with validated=True.")
        if (check is not None) != self.certified:
            raise ValueError("check must be given exactly when the trainer is certified.")
        if not self.certified:
            data, val = self._inputs(X, y, sample_weight, validation)
        self._load(net, optimizer, seed)
        result = TrainResult()
        callbacks = list(callbacks or [])
        cb = keras.callbacks.CallbackList(callbacks, model=self.net, epochs=epochs, verbose=0)
        # Callbacks act between epochs, so they get one epoch per call.
        per_call = 1 if callbacks else max(1, STEPS_PER_CALL // self.n_batches)
        self.net.stop_training = False
        progress = _Progress(epochs, verbose)
        cb.on_train_begin()
        while result.n_epochs < epochs:
            n = min(per_call, epochs - result.n_epochs)
            if callbacks:
                cb.on_epoch_begin(result.n_epochs)
            if self.certified:
                loss, val_loss, val = self._certified_epoch(X, check), [np.nan], None
            else:
                with no_graph_rewrites():
                    losses = self._run(tf.constant(n), data, val)
                loss, val_loss = (t.numpy().tolist() for t in losses)
            for j, value in enumerate(loss):
                epoch = result.n_epochs + j
                logs = {"loss": value}
                if val is not None:
                    logs["val_loss"] = val_loss[j]
                if callbacks:
                    cb.on_epoch_end(epoch, logs)
                progress.epoch_end(epoch, logs)
            result.loss += loss
            result.val_loss += val_loss
            result.n_epochs += len(loss)
            if bool(self._diverged.numpy()):
                result.diverged = True
                break
            if verify is not None and result.n_epochs == 1 and not bool(self._converged.numpy()):
                result.certified = float(verify(self.net))
                if result.certified <= self.tol:
                    result.converged = result.verified = True
                    break
            if bool(self._converged.numpy()):
                result.converged = True
                break
            if self.net.stop_training:
                result.stopped_by_callback = True
                break
        cb.on_train_end()
        progress.end(result)
        # Verified weights are the ones verify measured; otherwise the best the monitor saw.
        if not result.verified and self.restore_best and np.isfinite(self._best.numpy()) and not result.diverged:
            _copy(self._best_weights, self._weights)
        if self.certified and not result.verified:
            result.certified = float(self._best.numpy())
        self._store(net, optimizer)
        return result

    def _certified_epoch(self, blocks, check):
        """One full-batch step, its gradient summed over ``blocks()`` and given to ``check``
        with the weights it was taken at. Returns the loss, as a one-element list."""
        import tensorflow as tf

        from ._fixes import no_graph_rewrites

        loss = 0.0
        with no_graph_rewrites():
            for X, y, w in blocks():
                fraction = tf.constant(X.shape[0] / blocks.n_rows, tf.float64)
                loss += float(self._accumulate(*_tensors((X, y, w)), fraction))
            # Like the loss, the check belongs to the weights before this step.
            value = float(check([v.numpy() for v in self._weights], [g.numpy() for g in self._sums]))
            self._monitor_value(tf.constant(value, tf.float64))
            self._apply_sums()
        self._epoch.assign_add(1)
        if not np.isfinite(loss):
            self._diverged.assign(True)
        return [loss]


class _Progress:
    """What ``verbose`` shows, on standard output as Keras does.

    1: one Keras progress bar over the epochs, updated in place, with the
    time per epoch and the last epoch's losses; a fit that stops early ends
    the bar where it stopped. 2 and more: one line per epoch.
    """

    def __init__(self, epochs, verbose):
        self.epochs, self.verbose = epochs, int(verbose)
        self.bar, self.logs = None, {}
        if self.verbose == 1:
            import keras

            # Every value is the last epoch's, not an average over the fit.
            self.bar = keras.utils.Progbar(epochs, stateful_metrics=["loss", "val_loss"], unit_name="epoch")

    def epoch_end(self, epoch, logs):
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


def _tensors(arrays):
    """Tensors over the arrays' memory (None stays None); None for no arrays."""
    from ._fixes import tensor_over

    return None if arrays is None else tuple(None if a is None else tensor_over(a) for a in arrays)


def _copy(sources, targets):
    """Assign each source variable's value to its target (same shapes, in order)."""
    sources, targets = list(sources), list(targets)
    if len(sources) != len(targets):
        raise ValueError(f"Cannot copy {len(sources)} variables onto {len(targets)}.")
    for source, target in zip(sources, targets):
        target.assign(source)
