"""The training plan: every decision about how a fit trains, made in one place.

:func:`make_plan` is a pure function of the estimator's parameters and the
data's shape. The estimator validates, asks for a plan, and then carries it
out; nothing downstream decides the schedule again.
"""

from dataclasses import dataclass

import numpy as np

from .whitening import MAX_WHITENED_FEATURES

#: Relative distance to the least-squares optimum, per coefficient, that
#: tol="auto" asks of the certified single neuron. Full-batch gradient
#: descent on whitened inputs gets there in one to three epochs when the
#: data allow it; float64 rounding stops NIST's hardest sets (Filip,
#: Wampler5) near 1e-7, and the fit then says so.
CERTIFIED_TOL = 1e-8
#: With ``learning_rate="adaptive"``, full-batch training stops at the first
#: stall after this many drops of the learning rate (it is then 1/3125 of
#: where it started): a full-batch loss is exact, and each drop can still
#: gain digits.
MAX_LR_DROPS_FULL_BATCH = 5
#: Mini-batch training stops at the first stall after this many drops (1/25
#: of the starting rate). Measured with hidden layers on diamonds and
#: friedman1 (benchmarks/mlp.py): drops after the second cost 20-30% of the
#: epochs and moved test R2 by at most 3e-4; the stalls are then the noise
#: of the batches, not progress.
MAX_LR_DROPS_MINI_BATCH = 2
#: Above this many rows a full-batch network with hidden layers trains in
#: float32 too (half the memory of its standardized copy).
FLOAT32_ROWS = 131072
#: A ``partial_fit`` batch size that takes each chunk whole.
WHOLE_CHUNK = 2**30


@dataclass(frozen=True)
class Plan:
    """How one fit trains.

    ``whiten``: the inputs are whitened (``_core.whitening``), not only standardized.
    ``certified``: training stops on the least-squares certificate, with
    ``tol`` its relative tolerance; otherwise on the monitored loss, with
    ``tol`` the improvement that counts.
    ``optimizer``: the optimizer to build (a name, class or instance).
    ``learning_rate``: its initial rate, or None to leave it to routed
    parameters or to the instance given.
    ``max_drops``: with ``learning_rate="adaptive"``, how many stalls
    divide the rate before one ends training.
    ``sparse_width``: the network reads sparse inputs as padded rows of this
    many non-zeros (``_core.sparse.padded_rows``); 0 when it reads dense ones.
    """

    linear: bool
    whiten: bool
    certified: bool
    batch_size: int
    tol: float
    dtype: type
    optimizer: object
    learning_rate: float | None
    max_drops: int
    sparse_width: int = 0


def make_plan(
    params, hidden, n_samples, n_features, n_outputs, *, stream=False, full_batch_state=False, sparse_width=0
):
    """The :class:`Plan` for ``params`` (``get_params()``) on ``n_samples`` x ``n_features`` data.

    ``n_samples`` are the rows trained on (after any validation split);
    ``stream=True`` plans a ``partial_fit`` pass over one chunk of that many
    rows, continuing a state that full-batch steps made if ``full_batch_state``.
    ``sparse_width`` is the most non-zeros in a row of sparse inputs (0 for
    dense ones): the whitened single neuron makes them dense a block at a
    time, any other network reads them as padded rows.

    Examples
    --------
    >>> from sklearn_kerasreg import KerasLinearRegressor
    >>> plan = make_plan(KerasLinearRegressor().get_params(), (), 51, 1, 1)
    >>> plan.certified, plan.optimizer, plan.learning_rate, plan.batch_size
    (True, 'sgd', 0.5, 51)
    """
    linear = not hidden and params["model"] is None
    whiten = linear and params["standardize"] and n_features <= MAX_WHITENED_FEATURES
    if stream and full_batch_state and params["batch_size"] == "auto":
        # Steps as the state was made with: the whole chunk each (one size
        # for every chunk, so every chunk shares one trainer).
        batch_size = WHOLE_CHUNK
    elif stream:
        batch_size = params["batch_size"]
        if batch_size == "auto":
            # Measured on 1M x 20 in 100k-row chunks: 4096-row steps reach
            # LinearRegression's R2 to 4e-6 in five passes, 1024-row steps
            # are too noisy for Adam at 0.1; small chunks still get 16 steps.
            batch_size = int(np.clip(n_samples // 16, 64, 4096)) if linear else 200
    elif params["batch_size"] == "auto":
        batch_size = n_samples if linear else min(200, n_samples)
    else:
        batch_size = min(params["batch_size"], n_samples)
    # A first pass over a small chunk is not full-batch training: its
    # statistics are the chunk's, and Adam averages over the chunks to come.
    full_batch = batch_size >= n_samples and (not stream or batch_size == WHOLE_CHUNK)
    # Full-batch squared error on whitened inputs: each gradient step of
    # n_outputs / 2 is a Newton step, on a chunk as on all the data.
    # Only the default step is Newton's: another optimizer or rate trains
    # full-batch too, but its steps are no certificate, and it ends on its last one.
    newton_step = (
        params["optimizer"] in ("auto", "sgd") and params["learning_rate_init"] == "auto"
        and "optimizer__learning_rate" not in params
    )
    newton = (
        whiten and full_batch and newton_step and params["loss"] == "squared_error" and not params["early_stopping"]
    )
    certified = newton and not stream

    optimizer = params["optimizer"]
    if optimizer == "auto":
        # On whitened inputs the plain gradient step is the Newton step;
        # Adam would not settle exactly at the optimum.
        optimizer = "sgd" if newton else "adam"
    learning_rate = None
    if isinstance(optimizer, (str, type)) and "optimizer__learning_rate" not in params:
        learning_rate = params["learning_rate_init"]
        if learning_rate == "auto":
            is_sgd = (optimizer if isinstance(optimizer, str) else optimizer.__name__).lower() == "sgd"
            if whiten and is_sgd:
                # The Hessian of the mean squared error on whitened inputs is
                # (2 / n_outputs) * I: this step is Newton's.
                learning_rate = n_outputs / 2
            else:
                learning_rate = 0.1 if linear else 0.01
        learning_rate = float(learning_rate)

    tol = params["tol"]
    if tol == "auto":
        if certified:
            tol = CERTIFIED_TOL
        else:
            # A full-batch convex loss keeps improving until its optimum;
            # mini-batch losses are noisy, and a network with hidden layers
            # has no optimum worth chasing to ten decimals.
            tol = 1e-10 if linear and full_batch and not stream else 1e-4
    # A built-in network with hidden layers trains on mini-batches in float32:
    # twice float64's arithmetic on a CPU (TensorFlow's float64 products are
    # slower still), half the memory, and no loss of test accuracy
    # (benchmarks/mlp.py): the batches' noise dwarfs float32's rounding.
    # Full-batch steps are exact and stay in float64 (weighted and repeated
    # rows then agree to 1e-7, as scikit-learn's checks ask), except on data
    # large enough for memory to matter. Exported models predict in float64.
    # The single neuron trains in float64, the precision its certificate is
    # stated in; a user's model keeps the dtype it was built with.
    small = full_batch and n_samples <= FLOAT32_ROWS
    dtype = np.float32 if params["model"] is None and hidden and not small else np.float64
    return Plan(
        linear=linear, whiten=whiten, certified=certified, batch_size=int(batch_size), tol=float(tol),
        dtype=dtype, optimizer=optimizer, learning_rate=learning_rate,
        max_drops=MAX_LR_DROPS_FULL_BATCH if full_batch else MAX_LR_DROPS_MINI_BATCH,
        sparse_width=0 if whiten else int(sparse_width),
    )
