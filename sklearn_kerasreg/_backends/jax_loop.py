"""The JAX side of a trainer: the compiled epochs of ``tensorflow_loop``, as pure functions.

Keras's own JAX trainer works this way: the network's and the optimizer's
variables are taken out as arrays, one ``jax.jit`` function runs epochs of
``stateless_call`` steps and ``stateless_apply`` updates on them (a
``lax.while_loop`` over epochs, a ``lax.fori_loop`` over mini-batches), and
the arrays are written back into the Keras variables after each call.
The stop rule (``_core.stop_rule``) updates the same state dictionary,
inside the compiled loop.

The single neuron trains in float64, which JAX computes only with
``jax_enable_x64``; :func:`float64_scope` turns it on around a fit and
leaves the caller's setting as it was.
"""

import contextlib
import dataclasses

import numpy as np


@contextlib.contextmanager
def float64_scope():
    """JAX computes in float64 inside (``jax.enable_x64``); the setting is restored after."""
    import jax

    with jax.enable_x64(True):
        yield


def precise_loss(loss_fn):
    """``loss_fn`` as a function of ``(y_true, y_pred, sample_weight)`` that keeps float64.

    Keras's ``ops.mean`` on JAX computes in float32 whatever its input
    (Keras 3.15: ``result_type(float64, "float32")`` is float32), and its
    mean squared error, absolute error and Huber losses average with it:
    a float64 gradient then carries float32's 5e-8 relative error, which the
    certified single neuron's first step cannot afford. Those three are
    written here with ``jax.numpy``, with Keras's formulas and its
    ``sum_over_batch_size`` reduction; any other loss is Keras's own.
    """
    import jax.numpy as jnp
    import keras

    from .._fixes import huber_delta

    kind = type(loss_fn)
    if kind not in (keras.losses.MeanSquaredError, keras.losses.MeanAbsoluteError, keras.losses.Huber):
        return loss_fn
    if loss_fn.reduction != "sum_over_batch_size":
        return loss_fn
    delta = huber_delta(loss_fn) if kind is keras.losses.Huber else None
    if kind is keras.losses.Huber and delta is None:
        return loss_fn

    def per_sample(error):
        if kind is keras.losses.MeanSquaredError:
            return jnp.square(error)
        if kind is keras.losses.MeanAbsoluteError:
            return jnp.abs(error)
        small = jnp.abs(error) <= delta
        return jnp.where(small, 0.5 * jnp.square(error), delta * jnp.abs(error) - 0.5 * delta**2)

    def loss(y_true, y_pred, sample_weight=None):
        y_true, y_pred = jnp.asarray(y_true, jnp.float64), jnp.asarray(y_pred, jnp.float64)
        values = jnp.mean(per_sample(y_pred - y_true), axis=-1)
        if sample_weight is not None:
            values = values * jnp.asarray(sample_weight, jnp.float64)
        return jnp.sum(values) / values.size

    return loss


class JaxLoop:
    """The compiled epochs and stop rule of one trainer on JAX (see ``Trainer`` for the settings)."""

    def __init__(self, net, optimizer, loss_fn, rule, *, batch_size, n_batches, shuffle, seed=0, penalty=((), None)):
        import jax

        self.net, self.optimizer, self.loss_fn = net, optimizer, precise_loss(loss_fn)
        self.batch_size, self.n_batches, self.shuffle = batch_size, n_batches, shuffle
        self.rule = rule
        if not optimizer.built:
            optimizer.build(net.trainable_variables)
        # The learning rate is one of the optimizer's variables; the stop rule lowers it.
        self._lr_index = next(
            (i for i, v in enumerate(optimizer.variables) if v is optimizer.learning_rate), None
        )
        if self._lr_index is None:
            self.rule = dataclasses.replace(rule, adaptive=False)  # a schedule: nothing to lower
        self._seed = int(seed)
        self._state = None
        self.traces = 0
        # The penalty's values travel in the state, as inputs of the compiled code.
        self._kernels, shape = penalty
        self._penalty = (0.0, np.zeros(shape) if self._kernels and shape else None)
        self._run = jax.jit(self._run_epochs, static_argnums=0)
        self._accumulate = jax.jit(self._accumulate_block)
        self._apply_sums = jax.jit(self._apply_block_sums)
        self._monitor_value = jax.jit(self._monitor)
        self._pass = jax.jit(self._one_pass)

    # -- pure functions ---------------------------------------------------
    def _loss(self, weights, others, X, y, w, training, penalty=None):
        import jax.numpy as jnp

        pred, others, losses = self.net.stateless_call(
            weights, others, X, training=training, return_losses=True
        )
        loss = self.loss_fn(y, pred, sample_weight=w)
        if training and losses:
            loss = loss + sum(losses)
        loss = jnp.asarray(loss, jnp.float64)
        if training and self._kernels:
            l2, transform = penalty
            total = 0.0
            for n, i in enumerate(self._kernels):
                kernel = weights[i]
                if n == 0 and transform is not None:
                    kernel = transform.astype(kernel.dtype) @ kernel
                total = total + jnp.sum(jnp.square(kernel)).astype(jnp.float64)
            loss = loss + l2 * total
        return loss, others

    def _monitor(self, state, value):
        """``state`` after the stop rule (``_core.stop_rule``) has seen this epoch's monitored value."""
        return dict(state, **self.rule.update(state, value))

    def _gradient(self, state, X, y, w):
        """The loss at ``state``'s weights and its gradient; ``state`` with the layers' new state."""
        import jax

        (loss, others), grads = jax.value_and_grad(self._loss, has_aux=True)(
            state["weights"], state["others"], X, y, w, True, state["penalty"]
        )
        return dict(state, others=others), loss, grads

    def _step(self, state, X, y, w):
        """One gradient step from ``state``: the new state and the loss before the step."""
        state, loss, grads = self._gradient(state, X, y, w)
        return self._apply(state, grads), loss

    def _apply(self, state, grads):
        variables = list(state["optimizer"])
        if self._lr_index is not None:
            variables[self._lr_index] = state["lr"].astype(variables[self._lr_index].dtype)
        weights, variables = self.optimizer.stateless_apply(variables, grads, state["weights"])
        return dict(state, weights=weights, optimizer=variables)

    def _batched_epoch(self, state, X, y, w):
        """One epoch of mini-batch steps; the state and the epoch's mean loss."""
        import jax
        import jax.numpy as jnp

        n = X.shape[0]
        order = jnp.arange(n)
        if self.shuffle:
            key = jax.random.fold_in(jax.random.PRNGKey(state["seed"]), state["epoch"])
            order = jax.random.permutation(key, n)
        size = min(self.batch_size, n)
        full = n // size

        def batch(state, idx):
            wb = None if w is None else w[idx]
            state, loss = self._step(state, X[idx], y[idx], wb)
            return state, loss * idx.shape[0]

        def body(b, carry):
            state, total = carry
            idx = jax.lax.dynamic_slice_in_dim(order, b * size, size)
            state, loss = batch(state, idx)
            return state, total + loss

        state, total = jax.lax.fori_loop(0, full, body, (state, jnp.asarray(0.0, jnp.float64)))
        if n > full * size:
            state, loss = batch(state, order[full * size :])
            total = total + loss
        return state, total / n

    def _run_epochs(self, n_epochs, state, data, val):
        import jax
        import jax.numpy as jnp
        self.traces += 1  # runs only while tracing

        def body(carry):
            i, state, losses, val_losses = carry
            if self.n_batches == 1:
                state, loss, grads = self._gradient(state, *data)
                if val is None:
                    # The loss belongs to the weights before this step.
                    state = self._monitor(state, loss)
                state = self._apply(state, grads)
            else:
                state, loss = self._batched_epoch(state, *data)
                if val is None:
                    state = self._monitor(state, loss)
            finite = jnp.isfinite(loss)
            val_loss = jnp.asarray(jnp.nan, jnp.float64)
            if val is not None:
                val_loss, _ = self._loss(state["weights"], state["others"], *val, False)
                state = self._monitor(state, val_loss)
                finite = finite & jnp.isfinite(val_loss)
            state = dict(state, epoch=state["epoch"] + 1, diverged=state["diverged"] | ~finite)
            return i + 1, state, losses.at[i].set(loss), val_losses.at[i].set(val_loss)

        def more(carry):
            i, state, _, _ = carry
            return (i < n_epochs) & ~state["converged"] & ~state["diverged"]

        empty = jnp.full(n_epochs, jnp.nan, jnp.float64)
        done, state, losses, val_losses = jax.lax.while_loop(more, body, (0, state, empty, empty))
        return state, losses, val_losses, done

    def _accumulate_block(self, state, sums, X, y, w, fraction):
        """``sums`` plus ``fraction`` (the block's share of the rows) of the block's gradient."""
        self.traces += 1  # runs only while tracing
        _, loss, grads = self._gradient(state, X, y, w)
        return [s + g * fraction for s, g in zip(sums, grads)], loss * fraction

    def _apply_block_sums(self, state, sums):
        return self._apply(state, sums)

    def _one_pass(self, state, X, y, w):
        self.traces += 1  # runs only while tracing
        state, loss = self._batched_epoch(state, X, y, w)
        return dict(state, epoch=state["epoch"] + 1), loss

    # -- what the driver calls --------------------------------------------
    def set_penalty(self, l2, transform):
        """The penalty's values for the next runs (of the shape the loop was made for)."""
        self._penalty = (float(l2), None if self._penalty[1] is None else np.asarray(transform))

    def reset(self, seed, epoch=0):
        """Start a run from the network's current weights: the stop rule starts again, and
        the shuffles count epochs from ``epoch``."""
        import jax.numpy as jnp

        self._seed = int(seed)
        self._state = dict(self._fresh_state(), epoch=jnp.asarray(int(epoch), jnp.int32))

    def _fresh_state(self):
        import jax.numpy as jnp

        weights = [v.value for v in self.net.trainable_variables]
        variables = [v.value for v in self.optimizer.variables]
        lr = variables[self._lr_index] if self._lr_index is not None else jnp.asarray(0.0)
        return {
            "weights": weights, "others": [v.value for v in self.net.non_trainable_variables],
            "optimizer": variables, "lr": jnp.asarray(lr, jnp.float64), "best_weights": list(weights),
            "best": jnp.asarray(np.inf, jnp.float64), "reference": jnp.asarray(np.inf, jnp.float64),
            "wait": jnp.asarray(0, jnp.int32), "drops": jnp.asarray(0, jnp.int32),
            "epoch": jnp.asarray(0, jnp.int32), "seed": jnp.asarray(self._seed, jnp.int32),
            "converged": jnp.asarray(False), "diverged": jnp.asarray(False),
            "penalty": (
                jnp.asarray(self._penalty[0], jnp.float64),
                None if self._penalty[1] is None else jnp.asarray(self._penalty[1], jnp.float64),
            ),
        }

    def _write_back(self):
        """Put the state's weights and optimizer variables into the Keras variables."""
        state = self._state
        for var, value in zip(self.net.trainable_variables, state["weights"]):
            var.assign(value)
        for var, value in zip(self.net.non_trainable_variables, state["others"]):
            var.assign(value)
        variables = list(state["optimizer"])
        if self._lr_index is not None:
            variables[self._lr_index] = state["lr"]
        for var, value in zip(self.optimizer.variables, variables):
            var.assign(value)

    def _read_back(self):
        """The state with the Keras variables' values: Keras callbacks may have set the
        weights or the learning rate since the last call (counters and best are kept)."""
        fresh = self._fresh_state()
        keep = ("weights", "others", "optimizer", "lr")
        return dict(self._state, **{k: fresh[k] for k in keep})

    def inputs(self, data, validation):
        """The arrays of :meth:`Trainer.train` as JAX arrays, made once a run (None stays None)."""
        import jax.numpy as jnp

        def arrays(group):
            return None if group is None else tuple(None if a is None else jnp.asarray(a) for a in group)

        return arrays(data), arrays(validation)

    def epochs(self, n, data, validation):
        """Run up to ``n`` epochs in one compiled call; the losses and validation losses, as lists.

        ``data`` and ``validation`` come from :meth:`inputs`.
        """
        state, losses, val_losses, done = self._run(int(n), self._read_back(), data, validation)
        self._state = state
        self._write_back()
        done = int(done)
        return np.asarray(losses)[:done].tolist(), np.asarray(val_losses)[:done].tolist()

    def certified_epoch(self, blocks, check):
        """One full-batch step, its gradient summed over ``blocks()`` and given to ``check``."""
        import jax.numpy as jnp

        state = self._read_back()
        sums = [jnp.zeros_like(v) for v in state["weights"]]
        loss = 0.0
        for X, y, w in blocks():
            sums, part = self._accumulate(state, sums, X, y, w, X.shape[0] / blocks.n_rows)
            loss += float(part)
        # Like the loss, the check belongs to the weights before this step.
        value = float(check([np.asarray(v) for v in state["weights"]], [np.asarray(g) for g in sums]))
        state = self._monitor_value(state, jnp.asarray(value, jnp.float64))
        state = self._apply_sums(state, sums)
        state = dict(state, epoch=state["epoch"] + 1, diverged=state["diverged"] | (not np.isfinite(loss)))
        self._state = state
        self._write_back()
        return [loss]

    def train_pass(self, X, y, sample_weight):
        """One epoch over a chunk (``partial_fit``), from the Keras variables (after ``reset``)."""
        self._state, loss = self._pass(self._state, X, y, sample_weight)
        self._write_back()
        return float(loss)

    @property
    def converged(self):
        return bool(self._state["converged"])

    @property
    def diverged(self):
        return bool(self._state["diverged"])

    @property
    def best(self):
        return float(self._state["best"])

    def restore_best_weights(self):
        self._state = dict(self._state, weights=list(self._state["best_weights"]))
        self._write_back()

    def release(self):
        """Nothing to free: JAX's compiled functions hold no per-fit state."""
