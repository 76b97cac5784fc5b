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


def _tensor_list(arrays):
    """A TensorList of the arrays (same trailing shape and dtype), with what reads it back."""
    import tensorflow as tf

    from ._fixes import tensor_over

    tensors = [tensor_over(a) for a in arrays]
    shape = [-1, *tensors[0].shape[1:]]
    handle = tf.raw_ops.EmptyTensorList(
        element_shape=shape, max_num_elements=-1, element_dtype=tensors[0].dtype
    )
    for t in tensors:
        handle = tf.raw_ops.TensorListPushBack(input_handle=handle, tensor=t)
    return handle, shape, tensors[0].dtype


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
    warmup_rows, warmup_rtol : sequence of int, sequence of float
        With ``warmup_rows``, training starts full-batch on the first
        ``warmup_rows[0]`` rows (the caller shuffled them, so they are a
        random subsample), where epochs are cheap, and moves on to the first
        ``warmup_rows[1]`` rows at the first stall, and so on, keeping the
        learning rate. In stage ``i`` an epoch improves when the loss drops
        by more than ``warmup_rtol[i]`` times itself: a subsample's optimum is
        only an estimate of all the rows', so improvements far below its
        sampling error are not worth waiting for.
    warmup_drops : int
        In the last warm-up stage, the stall that makes the
        ``warmup_drops``-th learning-rate drop moves training on to all the
        rows: the same contiguous batches of about ``batch_size`` rows each
        epoch, in a new random order. Weights, the optimizer's state and the
        learning rate carry over from stage to stage; the stall counter
        starts afresh on each new loss. The rows are held in equal chunks of
        about ``warmup_rows[0]`` rows (a stage and a batch are whole numbers of
        chunks), and a batch's gradient is summed chunk by chunk, each read
        while it is in cache.
    full_rtol : float or None
        On all rows after the warm-up, an epoch improves when the loss drops
        by more than ``full_rtol`` times itself, instead of by ``tol``.
    """

    def __init__(
        self, net, optimizer, loss_fn, n_samples=None, *,
        batch_size, shuffle, tol, n_iter_no_change, adaptive, validated=False, seed=0,
        max_drops=MAX_LR_DROPS, warmup_rows=(), warmup_drops=0, warmup_rtol=(), full_rtol=None,
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
        self.staged = (
            len(warmup_rows) > 0 and self.adaptive and not self.validated
            and 0 < warmup_drops <= self.max_drops and warmup_rows[-1] < self.n_samples
        )
        self.warmup_drops = int(warmup_drops)
        self.warmup_rtol = [float(r) for r in warmup_rtol]
        self.full_rtol = None if full_rtol is None else float(full_rtol)
        if self.staged:
            # Slicing a tensor in the graph copies the slice; separate
            # tensors in a TensorList, picked by index, are read in place.
            # Equal chunks of about warmup_rows[0] rows, a whole number per batch.
            self.chunks_per_batch = math.ceil(self.batch_size / warmup_rows[0])
            self.n_chunks = self.n_batches * self.chunks_per_batch
            c = math.ceil(self.n_samples / self.n_chunks)
            # A multiple of 16 rows starts every chunk on a 64-byte boundary
            # of the caller's aligned arrays, where TensorFlow reads in place.
            c = -(-c // 16) * 16
            self.chunk_rows = c
            self.n_chunks = math.ceil(self.n_samples / c)
            self.n_batches = math.ceil(self.n_chunks / self.chunks_per_batch)
            self.stage_chunks = [min(max(1, round(r / c)), self.n_chunks) for r in warmup_rows]
        # Restoring the best weights is only meaningful when the monitored
        # loss belongs to one set of weights: a full-batch step's loss, or a
        # validation loss measured after the epoch.
        self.restore_best = self.validated or self.n_batches == 1
        # The training state below is reset by every call to train.
        # The warm-up stage; len(stage_chunks) once on all rows.
        self._stage = tf.Variable(0 if self.staged else -1, dtype=tf.int32, trainable=False)
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
        # What TensorListGetItem needs to know of each chunked array: set
        # from the data by _inputs, the same for every fit a trainer serves.
        self._chunk_specs = ()
        if not optimizer.built:
            optimizer.build(self._weights)
        # The data and validation data are arguments, not captured: a
        # trainer traces once and can then serve any number of fits of the
        # same shapes (see _programs). TensorFlow counts traces per function
        # code object, so a bound method (or a closure) would make a search's
        # many trainers warn of retracing; a partial is counted on its own.
        self._run = tf.function(functools.partial(Trainer._run_epochs, self))
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
        """Update the stall counter and the best weights with this epoch's monitored loss.

        Written without branches: each ``tf.cond`` costs a function call per
        epoch and, more, a subgraph to trace per fit; ``tf.where`` and
        unconditional assignments do the same work as a few scalar ops. A
        NaN loss never counts as an improvement; it ends training anyway
        (``_run_epochs`` marks the run diverged).
        """
        import tensorflow as tf

        tol = tf.constant(self.tol, tf.float64)
        if self.staged:
            last = len(self.stage_chunks)
            warm = self._stage < last
            # On all rows the relative rule holds only with full_rtol; else tol.
            relative = warm if self.full_rtol is None else tf.constant(True)
            rtols = [*self.warmup_rtol, 0.0 if self.full_rtol is None else self.full_rtol]
            rtol = tf.gather(tf.constant(rtols, tf.float64), self._stage)
            tol = tf.where(relative, rtol * value, tol)
        wait = tf.where(value < self._reference - tol, 0, self._wait + 1)
        reference = tf.minimum(self._reference, value)
        if self.restore_best:
            better = value < self._best
            for best, var in zip(self._best_weights, self._weights):
                best.assign(tf.where(better, var, best))
        best = tf.minimum(self._best, value)
        stalled = wait >= self.patience
        if self.staged:
            # A stall before the last warm-up stage moves on to more rows.
            grow = stalled & (self._stage < last - 1)
            stalled = stalled & ~grow
        if self.adaptive:
            drop = stalled & (self._drops < self.max_drops)
            lr = self.optimizer.learning_rate
            lr.assign(tf.where(drop, lr / tf.cast(LR_DROP_FACTOR, lr.dtype), lr))
            drops = self._drops + tf.cast(drop, tf.int32)
            wait = tf.where(drop, 0, wait)
            # Progress after a drop is measured from where the drop happened:
            # an optimizer that overshot is still improving while it comes
            # back down, though not yet below its best.
            reference = tf.where(drop, value, reference)
            if self.staged:
                # On to more rows, whose loss is not comparable.
                switch = grow | (drop & (self._stage == last - 1) & (drops >= self.warmup_drops))
                self._stage.assign_add(tf.cast(switch, tf.int32))
                wait = tf.where(switch, 0, wait)
                reference = tf.where(switch, tf.constant(np.inf, tf.float64), reference)
                best = tf.where(switch, tf.constant(np.inf, tf.float64), best)
            self._drops.assign(drops)
            stalled = stalled & ~drop
        self._converged.assign(self._converged | stalled)
        self._wait.assign(wait)
        self._reference.assign(reference)
        self._best.assign(best)

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

    def _staged_epoch(self, handles):
        """One epoch of the staged schedule: the warm-up subsample, or all rows in batches.

        ``handles`` are the TensorLists of chunks of ``X``, ``y`` and, when
        weighted, the sample weights.
        """
        import tensorflow as tf

        n_chunks, per_batch = self.n_chunks, self.chunks_per_batch
        # A warm-up epoch is one batch made of the stage's first chunks. One
        # code path for both keeps the traced graph small.
        stage = self._stage.read_value()
        warm = stage < len(self.stage_chunks)
        warm_chunks = tf.gather(tf.constant(self.stage_chunks + [0]), stage)
        n_batches = tf.where(warm, 1, self.n_batches)
        order = tf.random.experimental.stateless_shuffle(
            tf.range(self.n_batches), seed=tf.stack([self._seed, self._epoch])
        )
        loss_total = tf.constant(0.0, tf.float64)
        rows_total = tf.constant(0.0, tf.float64)
        for b in tf.range(n_batches):
            first = tf.where(warm, 0, order[b] * per_batch)
            stop = tf.where(warm, warm_chunks, tf.minimum(first + per_batch, n_chunks))
            # A batch's loss and gradient are the row-weighted means of its chunks'.
            grad_sums = [tf.zeros_like(v) for v in self._weights]
            rows = tf.constant(0.0, tf.float64)
            for i in tf.range(first, stop):
                X, y, *w = (
                    tf.raw_ops.TensorListGetItem(
                        input_handle=handle, index=i, element_shape=shape, element_dtype=dtype
                    )
                    for handle, (shape, dtype) in zip(handles, self._chunk_specs)
                )
                loss, grads = self._step(X, y, w[0] if w else None)
                n_rows = tf.cast(tf.shape(X)[0], tf.float64)
                loss_total += loss * n_rows
                grad_sums = [s + g * tf.cast(n_rows, g.dtype) for s, g in zip(grad_sums, grads)]
                rows += n_rows
            self.optimizer.apply([s / tf.cast(rows, s.dtype) for s in grad_sums], self._weights)
            rows_total += rows
        return loss_total / rows_total

    def _run_epochs(self, n_epochs, data, val):
        import tensorflow as tf

        losses = tf.TensorArray(tf.float64, size=n_epochs)
        val_losses = tf.TensorArray(tf.float64, size=n_epochs)
        done = tf.constant(0)
        for i in tf.range(n_epochs):
            if self.staged:
                epoch_loss = self._staged_epoch(data)
                self._monitor(epoch_loss)
            elif self.n_batches == 1:
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
        """The data as the traced function takes it: tensors, or TensorLists of chunks."""
        from ._fixes import tensor_over

        if self.staged:
            c = self.chunk_rows
            lists = [
                _tensor_list([a[i : i + c] for i in range(0, self.n_samples, c)])
                for a in (X, y, sample_weight) if a is not None
            ]
            self._chunk_specs = tuple((shape, dtype) for _, shape, dtype in lists)
            data = tuple(handle for handle, _, _ in lists)
        else:
            data = (tensor_over(X), tensor_over(y), None if sample_weight is None else tensor_over(sample_weight))
        if validation is not None:
            validation = tuple(None if a is None else tensor_over(a) for a in validation)
        return data, validation

    def _load(self, net, optimizer, seed):
        """Start a run: take ``net``'s weights and ``optimizer``'s state, reset the stop rule."""
        import tensorflow as tf

        if net is not None and net is not self.net:
            if not optimizer.built:
                optimizer.build(net.trainable_variables)
            _copy(net.trainable_variables, self._weights)
            _copy(optimizer.variables, self.optimizer.variables)
        _copy(self._weights, self._best_weights)
        self._stage.assign(0 if self.staged else -1)
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
            release_custom_gradients(self._run)
            self._gradients_released = True

    def train(
        self, X, y, sample_weight=None, validation=None, *, epochs, seed=0,
        net=None, optimizer=None, callbacks=None, verbose=0,
    ):
        """Run up to ``epochs`` epochs on the data; return a :class:`TrainResult`.

        Parameters
        ----------
        X, y, sample_weight : ndarray
            Training data of ``n_samples`` rows; ``sample_weight`` may be None.
            TensorFlow reads them in place: nothing may write to them during
            the call.
        validation : tuple of ndarray or None
            ``(X_val, y_val, sample_weight_val)``, given exactly when the
            trainer was made with ``validated=True``. The validation loss is
            then monitored instead of the training loss.
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
        data, val = self._inputs(X, y, sample_weight, validation)
        self._load(net, optimizer, seed)
        result = TrainResult()
        callbacks = list(callbacks or [])
        cb = keras.callbacks.CallbackList(callbacks, model=self.net, epochs=epochs, verbose=0)
        # Callbacks act between epochs, so they get one epoch per call.
        per_call = 1 if callbacks else max(1, STEPS_PER_CALL // self.n_batches)
        self.net.stop_training = False
        cb.on_train_begin()
        while result.n_epochs < epochs:
            n = min(per_call, epochs - result.n_epochs)
            if callbacks:
                cb.on_epoch_begin(result.n_epochs)
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
                if verbose:
                    shown = " - ".join(f"{k}: {v:.6g}" for k, v in logs.items())
                    print(f"Epoch {epoch + 1}/{epochs} - {shown}", file=sys.stdout, flush=True)
            result.loss += loss
            result.val_loss += val_loss
            result.n_epochs += len(loss)
            if bool(self._diverged.numpy()):
                result.diverged = True
                break
            if bool(self._converged.numpy()):
                result.converged = True
                break
            if self.net.stop_training:
                result.stopped_by_callback = True
                break
        cb.on_train_end()
        if self.restore_best and np.isfinite(self._best.numpy()) and not result.diverged:
            _copy(self._best_weights, self._weights)
        self._store(net, optimizer)
        return result


def _copy(sources, targets):
    """Assign each source variable's value to its target (same shapes, in order)."""
    sources, targets = list(sources), list(targets)
    if len(sources) != len(targets):
        raise ValueError(f"Cannot copy {len(sources)} variables onto {len(targets)}.")
    for source, target in zip(sources, targets):
        target.assign(source)
