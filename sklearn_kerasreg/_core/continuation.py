"""What a fitted estimator carries into its next call: one :class:`TrainingState`.

A warm ``fit``, ``partial_fit`` and ``train_on_chunks`` continue from it;
no Keras network or optimizer outlives the call that made it. Every call
builds its network from the *current* parameters and loads the state into
it, so pickling, ``save_estimator`` and keeping the estimator in memory
store the same thing, and an error in a call cannot leave a half-trained
network behind. The user guide's table "Continuing training" states the
rules this module carries out.
"""

import dataclasses

from .engine import State


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What the weights of a state mean: a network built otherwise cannot take them.

    ``model`` is ``"built-in"`` or the name of the user's builder or
    template; ``hidden_layer_sizes`` and ``activation`` are those of the
    built-in network (None for a user's, and ``activation`` None without
    hidden layers, where it changes nothing).
    """

    model: str
    hidden_layer_sizes: tuple | None
    activation: str | None
    fit_intercept: bool
    standardize: bool
    n_outputs: int

    @classmethod
    def of(cls, params, hidden, n_outputs):
        """The architecture the parameters ``params`` (``get_params()``) build for ``n_outputs`` targets."""
        model = params["model"]
        built_in = model is None
        return cls(
            model="built-in" if built_in else _name(model),
            hidden_layer_sizes=tuple(hidden) if built_in else None,
            activation=params["activation"] if built_in and hidden else None,
            fit_intercept=bool(params["fit_intercept"]),
            standardize=bool(params["standardize"]),
            n_outputs=int(n_outputs),
        )

    def check(self, current, call):
        """Raise ``ValueError`` naming the parameter if ``current`` cannot continue these weights."""
        for field in dataclasses.fields(self):
            before, now = getattr(self, field.name), getattr(current, field.name)
            if before != now:
                name = "the number of targets" if field.name == "n_outputs" else field.name
                raise ValueError(
                    f"{call} continues the trained network, but {name} changed from {before!r} to "
                    f"{now!r}: the trained weights do not fit the network the parameters now describe. "
                    "Fit with warm_start=False to train a new one."
                )


def _name(model):
    """A name for a user's builder or template that survives pickling."""
    if callable(model) and not hasattr(model, "get_config"):
        return f"builder {getattr(model, '__module__', '?')}.{getattr(model, '__qualname__', type(model).__name__)}"
    return f"template {type(model).__name__} {getattr(model, 'name', '')}".strip()


@dataclasses.dataclass(frozen=True)
class TrainingState:
    """Everything a call that continues training takes from the calls before it.

    Attributes
    ----------
    network : _core.engine.State
        The weights, in the training network's coordinates (``whitening``),
        the optimizer's variables and class, and the learning rate reached.
    initial_rate : float or None
        The rate the parameters asked for when that rate was set: a
        ``partial_fit`` carries the reached rate on while the parameters
        still ask for this one.
    whitening : _core.whitening.Whitening
        The coordinates the weights are in.
    architecture : Architecture
    full_batch : bool
        Made by full-batch steps: ``partial_fit`` with ``batch_size="auto"``
        then steps once per chunk.
    seed : int
        Seeds the shuffles of ``partial_fit`` passes.
    passes : int
        ``partial_fit`` passes made on it: the next one's shuffle is the next epoch's.
    """

    network: State
    initial_rate: float | None
    whitening: object
    architecture: Architecture
    full_batch: bool
    seed: int
    passes: int = 0

    def start(self, rate, whitening=None, carry_rate_of=None):
        """The ``State`` a continuing run starts from, at ``rate`` (None: the optimizer's as built).

        ``carry_rate_of`` names the optimizer class the run builds: when it is
        this state's and ``rate`` is still the one this state started at, the
        run keeps the rate reached instead. ``whitening``, for the single
        neuron, are new coordinates to move its weights into.
        """
        from .network import rewhitened

        weights = self.network.weights
        if whitening is not None and whitening is not self.whitening:
            weights = rewhitened(weights, self.whitening, whitening)
        if carry_rate_of is not None and carry_rate_of == self.network.optimizer_name and rate == self.initial_rate:
            rate = self.network.learning_rate
        return dataclasses.replace(self.network, weights=weights, learning_rate=rate)
