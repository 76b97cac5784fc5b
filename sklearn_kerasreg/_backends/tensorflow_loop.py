"""The TensorFlow side of a trainer: compiled epochs, with the stop rule inside them.

:class:`~sklearn_kerasreg._core.engine.Trainer` drives training from Python and
is the same for every network; this module is what it runs on TensorFlow.
One ``tf.function`` runs many epochs per call, and the stop rule
(``_core.stop_rule``: ``tol``, ``n_iter_no_change``, learning-rate drops,
the best weights so far) runs inside the graph on the loop's variables. The certified
single neuron instead sums each epoch's full-batch gradient over blocks of
rows (one compiled call a block) and takes one step with the sum.

TensorFlow's private names used here live in ``_fixes``, each with its
reason and a public fallback: arrays are read in place (``tensor_over``),
Grappler's graph rewrites are off for the small graphs of full-batch and
certified epochs (``no_graph_rewrites``; mini-batch epochs keep them), and
custom gradients that only tracing needed are let go (``release_custom_gradients``).
"""

import contextlib
import functools

import numpy as np


class TensorFlowLoop:
    """The compiled epochs and in-graph stop rule of one trainer (see ``Trainer`` for the settings).

    It trains ``net``'s own variables with ``optimizer``; its state (the
    stop rule's counters, the best weights, the epoch, the shuffle seed) is
    reset by :meth:`reset` at the start of every run.
    """

    def __init__(self, net, optimizer, loss_fn, rule, *, batch_size, n_batches, shuffle, seed=0, penalty=((), None)):
        import tensorflow as tf

        self.net, self.optimizer, self.loss_fn, self.rule = net, optimizer, loss_fn, rule
        self.batch_size, self.n_batches, self.shuffle = batch_size, n_batches, shuffle
        self.certified = rule.certified
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
        # The penalty's values are variables the graph reads, set for each run.
        self._kernels, shape = penalty
        self._l2 = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self._transform = None
        if self._kernels and shape:
            dtype = self._weights[self._kernels[0]].dtype
            self._transform = tf.Variable(tf.zeros(shape, dtype), trainable=False)
        if not optimizer.built:
            optimizer.build(self._weights)
        # The data and validation data are arguments, not captured: a
        # trainer traces once and can then serve any number of fits of the
        # same shapes (see _core.programs). TensorFlow counts traces per function
        # code object, so a bound method (or a closure) would make a search's
        # many trainers warn of retracing; a partial is counted on its own.
        self._run = tf.function(functools.partial(TensorFlowLoop._run_epochs, self))
        if self.certified:
            self._sums = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self._weights]
            # reduce_retracing: blocks come in two lengths (all but the last, the last).
            self._accumulate = tf.function(
                functools.partial(TensorFlowLoop._accumulate_block, self), reduce_retracing=True
            )
            self._apply_sums = tf.function(functools.partial(TensorFlowLoop._apply_block_sums, self))
            self._monitor_value = tf.function(functools.partial(TensorFlowLoop._monitor, self))
        self._pass = None
        self._gradients_released = False
        self.traces = 0

    # -- graph code -----------------------------------------------------
    def _loss(self, X, y, w, training):
        import tensorflow as tf

        pred = self.net(X, training=training)
        loss = self.loss_fn(y, pred, sample_weight=w)
        if training and self.net.losses:
            loss = loss + tf.add_n(self.net.losses)
        if training and self._kernels:
            loss = loss + tf.cast(self._penalty(), loss.dtype)
        return loss

    def _penalty(self):
        """``l2 * sum(kernel ** 2)`` over the kernels, the first through the transform if any."""
        import tensorflow as tf

        total = 0.0
        for n, i in enumerate(self._kernels):
            kernel = self._weights[i]
            if n == 0 and self._transform is not None:
                kernel = tf.matmul(self._transform, kernel)
            total += tf.cast(tf.reduce_sum(tf.square(kernel)), tf.float64)
        return self._l2 * total

    def _step(self, X, y, w):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = self._loss(X, y, w, training=True)
        grads = tape.gradient(loss, self._weights)
        # A kernel read by gathering its rows (sparse inputs, _core.models.sparse_rows_dense) gets
        # IndexedSlices, one slice per non-zero: Keras's optimizers would apply repeated rows
        # one by one, not summed. Its dense sum is what the step means (Adam moves every row anyway).
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        return tf.cast(loss, tf.float64), grads

    def _monitor(self, value):
        """Apply the stop rule (``_core.stop_rule``) to this epoch's monitored value."""
        state = {
            "wait": self._wait, "reference": self._reference, "best": self._best, "drops": self._drops,
            "lr": self.optimizer.learning_rate, "converged": self._converged,
            "weights": self._weights, "best_weights": self._best_weights,
        }
        new = self.rule.update(state, value)
        for best, weights in zip(self._best_weights, new.pop("best_weights", ())):
            best.assign(weights)
        if not self.rule.adaptive:
            new.pop("lr")  # unchanged, and a schedule has no variable to assign
        for name, updated in new.items():
            state[name].assign(updated)

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
        self.traces += 1  # runs only while tracing

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
        self.traces += 1  # runs only while tracing

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
        self.traces += 1  # runs only while tracing
        loss = self._batched_epoch(X, y, w)
        self._epoch.assign_add(1)
        return loss

    def train_pass(self, X, y, sample_weight):
        """Run one epoch over ``X, y`` (arrays of the network's dtype); return its mean loss."""
        import tensorflow as tf

        if self._pass is None:
            # reduce_retracing: the second chunk length makes the trace
            # shape-generic, so a stream of chunks traces at most twice.
            self._pass = tf.function(functools.partial(TensorFlowLoop._one_pass, self), reduce_retracing=True)
        from .._fixes import no_graph_rewrites

        with no_graph_rewrites():
            loss = self._pass(*(tf.convert_to_tensor(a) for a in (X, y, sample_weight)))
        return float(loss)

    # -- what the driver calls -------------------------------------------
    def set_penalty(self, l2, transform):
        """The penalty's values for the next runs (of the shape the loop was made for)."""
        self._l2.assign(float(l2))
        if self._transform is not None:
            self._transform.assign(np.asarray(transform, dtype=self._transform.dtype.as_numpy_dtype))

    def reset(self, seed, epoch=0):
        """Start a run from the network's current weights: the stop rule starts again, and
        the shuffles count epochs from ``epoch``."""
        import tensorflow as tf

        for var, best in zip(self._weights, self._best_weights):
            best.assign(var)
        for var in (self._best, self._reference):
            var.assign(tf.constant(np.inf, tf.float64))
        for var in (self._wait, self._drops):
            var.assign(0)
        self._epoch.assign(int(epoch))
        self._seed.assign(int(seed))
        self._converged.assign(False)
        self._diverged.assign(False)

    def inputs(self, data, validation):
        """The arrays of :meth:`Trainer.train` as :meth:`epochs` takes them, made once a run:
        tensors over the arrays' memory (``validation`` may be None)."""
        return _tensors(data), _tensors(validation)

    def epochs(self, n, data, validation):
        """Run up to ``n`` epochs in one compiled call; the losses and validation losses, as lists.

        ``data`` and ``validation`` come from :meth:`inputs`.
        """
        import tensorflow as tf

        from .._fixes import no_graph_rewrites

        # Grappler's rewrites (fusing each Dense layer's product, bias and
        # activation into one op) cost about 0.08 s a fit (measured on a
        # 442-row fit, see no_graph_rewrites) and save a fifth of every mini-batch epoch
        # (diamonds, (64, 64): 108 ms an epoch without them, 87 with, best of 4);
        # full-batch epochs are small graphs that gain nothing. A trainer calls
        # its loop one way only (see no_graph_rewrites).
        rewrites = contextlib.nullcontext() if self.n_batches > 1 else no_graph_rewrites()
        with rewrites:
            losses = self._run(tf.constant(n), data, validation)
        return [t.numpy().tolist() for t in losses]

    @property
    def converged(self):
        return bool(self._converged.numpy())

    @property
    def diverged(self):
        return bool(self._diverged.numpy())

    @property
    def best(self):
        """The smallest monitored value of the run."""
        return float(self._best.numpy())

    def restore_best_weights(self):
        for var, best in zip(self._weights, self._best_weights):
            var.assign(best)

    def certified_epoch(self, blocks, check):
        """One full-batch step, its gradient summed over ``blocks()`` and given to ``check``
        with the weights it was taken at. Returns the loss, as a one-element list."""
        import tensorflow as tf

        from .._fixes import no_graph_rewrites

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

    def release(self):
        """Let TensorFlow free what only tracing needed; the loop stays usable (see ``_fixes``)."""
        from .._fixes import release_custom_gradients

        if not self._gradients_released:
            functions = [self._run]
            if self.certified:
                functions += [self._accumulate, self._apply_sums, self._monitor_value]
            for function in functions:
                release_custom_gradients(function)
            self._gradients_released = True


def _tensors(arrays):
    """Tensors over the arrays' memory (None stays None); None for no arrays."""
    from .._fixes import tensor_over

    return None if arrays is None else tuple(None if a is None else tensor_over(a) for a in arrays)
