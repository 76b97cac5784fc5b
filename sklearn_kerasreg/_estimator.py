"""KerasLinearRegressor: a scikit-learn regressor trained as a Keras network."""

import contextlib
import dataclasses
import functools
import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from . import _models, _network
from ._callbacks import epoch_tasks
from ._data import BLOCK_ROWS, draw_seeds, mean_one, split, weighted_moments
from ._diagnosis import diagnose, measure
from ._engine import State, Trainer, load_state
from ._fixes import (
    ROUTING_PREFIXES,
    CallbackSupportMixin,
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
    carry_clone_state,
    has_sklearn_callbacks,
    validate_data,
    with_callbacks,
)
from ._network import export, resume
from ._pickling import picklable_state, unpickled_state
from ._plan import make_plan
from ._programs import train
from ._runtime import backend_scope, cap_tensorflow_threads, data_threads
from ._validation import check_fit_data, check_hidden_layer_sizes, check_validation_data
from ._whitening import certificate, fit_whitening, scaling_only, training_data

#: What scikit-learn's callback machinery keeps on the estimator during a fit.
_CALLBACK_STATE = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


def _is_routed(name):
    prefix, sep, _ = name.partition("__")
    return bool(sep) and prefix in ROUTING_PREFIXES


class KerasLinearRegressor(CallbackSupportMixin, RegressorMixin, BaseEstimator):
    """Linear regression, or an MLP, learned by a Keras network.

    With the default ``hidden_layer_sizes=()`` the network is one ``Dense``
    layer, ``y = X @ coef_ + intercept_``: linear regression fitted by
    full-batch gradient descent on whitened inputs, where each step is a
    Newton step, stopped when every coefficient is certified within ``tol``
    of the least-squares optimum. With hidden layers it is a multi-layer
    perceptron trained on standardized inputs. The whitening or scaling is
    folded back into the weights, so ``coef_``, ``intercept_`` and the
    Keras model ``model_`` all work in the caller's units.

    Models are built and compiled through scikeras, so its routed parameters
    (``optimizer__learning_rate``, ``loss__delta``, ``model__...``,
    ``callbacks__...``) work with ``set_params``, ``clone`` and searches.

    Parameters
    ----------
    model : None, callable or keras.Model, default=None
        The network. None builds the Dense stack described by
        ``hidden_layer_sizes`` and ``activation``. A scikeras-style builder
        (a function, called with ``model__*`` parameters and, if it accepts
        them, ``meta`` and ``compile_kwargs``) or a Keras model used as a
        template (``fit`` trains a fresh copy; the instance passed is never
        changed) bring your own architecture.
    hidden_layer_sizes : array-like of int, default=()
        Units of each hidden ``Dense`` layer; ``()`` is the single neuron.
    activation : str, default="relu"
        Activation of the hidden layers: any Keras name; scikit-learn's
        ``"identity"`` and ``"logistic"`` are accepted too.
    loss : {"squared_error", "absolute_error", "huber"} or keras loss, default="squared_error"
        Training loss. Huber's ``delta`` (``loss__delta``) is in standardized
        units when ``standardize=True``.
    optimizer : str, keras optimizer class or instance, default="auto"
        "auto" is plain gradient descent (``"sgd"``) for the single neuron
        with the squared error trained full-batch, and ``"adam"`` otherwise.
        An instance is copied from its config at each fit.
    fit_intercept : bool, default=True
        Whether to fit an intercept. False fits ``y = X @ coef_`` (the
        output layer has no bias) and neither inputs nor targets are
        centred, only scaled by their root mean square.
    learning_rate_init : float or "auto", default="auto"
        Initial learning rate: ``n_targets / 2`` for gradient descent on
        whitened inputs (the Newton step), 0.1 for the single neuron
        otherwise, 0.01 with hidden layers. ``optimizer__learning_rate``, if
        set, wins.
    learning_rate : {"adaptive", "constant"}, default="adaptive"
        With "adaptive", each time ``n_iter_no_change`` epochs in a row fail
        to improve the monitored loss by ``tol``, the learning rate is divided
        by 5; training stops at the sixth such stall. For the certified single
        neuron the monitored value is the certificate (see ``tol``). With
        "constant", the first stall stops training (as in ``MLPRegressor``).
    alpha : float, default=0.0
        L2 penalty on the kernels, scaled like ``Ridge(alpha)`` on the
        standardized problem: ``alpha / sum(sample_weight)`` per squared
        weight (``alpha / n_samples`` without weights), so integer weights
        act as repeated rows.
    batch_size : int or "auto", default="auto"
        "auto" takes full-batch steps for the single-neuron model and
        ``min(200, n_samples)`` with hidden layers. Above 131072 rows a
        built-in network with hidden layers trains in float32 to halve the
        memory; the single neuron always trains in float64.
    epochs : int, default=1000
        Maximum number of passes over the training data.
    tol : float or "auto", default="auto"
        For the single neuron with the squared error trained full-batch
        (the certified fit): the relative distance to the least-squares
        optimum, in the caller's units, that every coefficient and the
        intercept must be within; "auto" is 1e-8. Training stops once the
        certificate (the Newton step the gradient gives) is within it, and
        a ``ConvergenceWarning`` states the distance if it is not.
        Otherwise: the minimum improvement of the monitored loss (in the
        units of the training loss, standardized if ``standardize=True``)
        that counts; "auto" is 1e-10 for the single neuron trained
        full-batch and 1e-4 (``MLPRegressor``'s default) otherwise.
    n_iter_no_change : int, default=10
        Epochs in a row without an improvement of ``tol`` that form a stall.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (or use the ``X_val``,
        ``y_val`` given to ``fit``) and monitor its loss instead of the
        training loss; the best weights on it are kept.
    validation_fraction : float, default=0.1
    standardize : bool, default=True
        Standardize (for the single neuron: whiten) inputs and targets for
        training. Coefficients and predictions are in the caller's units
        either way. False trains on the raw data, without the certificate.
    shuffle : bool, default=True
        Shuffle mini-batches each epoch (seeded by ``random_state``).
    warm_start : bool, default=False
        Continue from the previous fit's weights and optimizer state.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffles and the validation split. Global
        random state (NumPy, Python, TensorFlow) is neither used nor changed.
    verbose : int, default=0
        1 shows a Keras progress bar over the epochs, with the time per
        epoch and the loss (and validation loss); 2 or more prints one line
        per epoch instead.
    callbacks : None, keras callback, or list of them, default=None
        Keras callbacks (instances or classes, ``callbacks__*`` routed). They
        see the training network, in standardized units.

    Attributes
    ----------
    model_ : keras.Model
        The fitted network, predicting in the caller's units.
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients of a linear network (one layer, or all layers linear).
        Absent (``AttributeError``) for a nonlinear network.
    intercept_ : float or ndarray of shape (n_targets,)
    coefs_ : list of ndarray
        Kernel of each Dense layer, ``coefs_[i]`` of shape (units_in, units_out).
    intercepts_ : list of ndarray
        Bias of each Dense layer.
    loss_curve_ : list of float
        Training loss of each epoch, on the standardized problem.
    validation_loss_curve_ : list of float or None
        Validation loss of each epoch when ``early_stopping=True``.
    history_ : dict
        ``{"loss": [...]}`` (plus ``"val_loss"``), as Keras's ``History``.
    n_iter_ : int
        Epochs run by the last fit.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    See Also
    --------
    sklearn.linear_model.LinearRegression : The closed-form solution.
    sklearn.neural_network.MLPRegressor : scikit-learn's own MLP.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kerasreg import KerasLinearRegressor
    >>> X = np.linspace(0, 50, 51).reshape(-1, 1)
    >>> y = 2 * X.ravel() + 5
    >>> reg = KerasLinearRegressor(random_state=0).fit(X, y)
    >>> round(float(reg.coef_[0]), 2), round(float(reg.intercept_), 2)
    (2.0, 5.0)
    """

    _parameter_constraints = {
        "model": [None, callable],
        "hidden_layer_sizes": ["array-like"],
        "activation": [str],
        "loss": [StrOptions(set(_models.LOSSES)), callable],
        "optimizer": [str, callable, HasMethods(["apply"])],
        "fit_intercept": ["boolean"],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "learning_rate": [StrOptions({"adaptive", "constant"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"auto"})],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "standardize": ["boolean"],
        "shuffle": ["boolean"],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [None, list, callable, HasMethods(["on_epoch_end"])],
    }

    def __init__(
        self,
        model=None,
        *,
        hidden_layer_sizes=(),
        activation="relu",
        loss="squared_error",
        optimizer="auto",
        fit_intercept=True,
        learning_rate_init="auto",
        learning_rate="adaptive",
        alpha=0.0,
        batch_size="auto",
        epochs=1000,
        tol="auto",
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        standardize=True,
        shuffle=True,
        warm_start=False,
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.model = model
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.fit_intercept = fit_intercept
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.batch_size = batch_size
        self.epochs = epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    # -- parameters: scikeras routing on top of BaseEstimator --------------
    def _routed_params(self):
        return {k: v for k, v in vars(self).items() if _is_routed(k)}

    def get_params(self, deep=True):
        """Get parameters, including routed ones such as ``optimizer__learning_rate``."""
        params = super().get_params(deep=deep)
        params.update(self._routed_params())
        return params

    def set_params(self, **params):
        """Set parameters; ``<prefix>__<name>`` keys are stored as routed parameters."""
        routed = {k: v for k, v in params.items() if _is_routed(k)}
        for key, value in routed.items():
            setattr(self, key, value)
        super().set_params(**{k: v for k, v in params.items() if k not in routed})
        return self

    def __sklearn_clone__(self):
        # scikit-learn's clone passes every parameter to __init__, which has
        # no **kwargs; routed parameters go through set_params instead.
        routed = self._routed_params()
        params = {k: clone(v, safe=False) for k, v in self.get_params(deep=False).items() if k not in routed}
        new = type(self)(**params)
        new.set_params(**{k: clone(v, safe=False) for k, v in routed.items()})
        return carry_clone_state(self, new)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def __getstate__(self):
        # The training network and its optimizer state are a process-local
        # cache for warm starts; model_ carries everything predictions need.
        state = self.__dict__.copy()
        state.pop("_net", None)
        state.pop("_recipe", None)
        state.pop("_stream", None)
        return picklable_state(self, state)

    def __setstate__(self, state):
        self.__dict__.update(unpickled_state(self, state))

    # -- fit -----------------------------------------------------------
    @with_callbacks
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the loss is their weighted average.
        X_val : array-like of shape (n_val, n_features), default=None
            Validation data for early stopping, monitored instead of holding
            out ``validation_fraction`` of ``X`` (which would leak in a time
            series, or waste a validation set you already have). Needs
            ``y_val`` and ``early_stopping=True``. In a ``Pipeline``,
            ``Pipeline(..., transform_input=["X_val"])`` (scikit-learn 1.7 and
            later) transforms it as ``X``; with metadata routing, request it
            with ``set_fit_request(X_val=True, y_val=True)``.
        y_val : array-like of shape (n_val,) or (n_val, n_targets), default=None
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation loss.

        Returns
        -------
        self : KerasLinearRegressor
        """
        with self._unchanged_on_error(continues_training=self.warm_start), backend_scope():
            self._fit(X, y, sample_weight, (X_val, y_val, sample_weight_val))
        return self

    @contextlib.contextmanager
    def _unchanged_on_error(self, continues_training):
        """An error or an interrupt mid-fit leaves the estimator as it was."""
        before = self.__dict__.copy()
        try:
            yield
        except BaseException:
            # scikit-learn's with_callbacks tears the callbacks down after us.
            callback_state = {k: v for k, v in self.__dict__.items() if k in _CALLBACK_STATE}
            self.__dict__.clear()
            self.__dict__.update(before)
            self.__dict__.update(callback_state)
            if continues_training:
                # The training network may have taken steps before the error;
                # the next call rebuilds it from model_, which did not change.
                self.__dict__.pop("_net", None)
                self.__dict__.pop("_stream", None)
            raise

    def _fit(self, X, y, sample_weight, given_validation):
        warm = self.warm_start and hasattr(self, "model_")
        X, Y, sample_weight, y_1d = check_fit_data(
            self, X, y, sample_weight, reset=not warm, n_outputs=self._n_outputs if warm else None, min_samples=2
        )
        Xv, Yv, wv = check_validation_data(self, *given_validation, Y.shape[1])
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes, self.model)
        # The fit is the root task, each epoch a subtask (scikit-learn callbacks).
        tasks = self._init_callback_context(max_subtasks=self.epochs)
        metadata = {"sample_weight": sample_weight}
        tasks.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
        init_seed, shuffle_seed, split_seed = draw_seeds(self.random_state)
        if self.early_stopping and Xv is None:
            X, Xv, Y, Yv, sample_weight, wv = split(X, Y, sample_weight, self.validation_fraction, split_seed)

        params = self.get_params(deep=False)
        plan = make_plan(params, hidden, X.shape[0], X.shape[1], Y.shape[1])
        threads = data_threads()
        # The moments certify the fit too, when the design is well-conditioned (_diagnosis.measure).
        if warm:
            whitening, moments = self._whitening, None
        else:
            whitening, moments = self._new_whitening(X, Y, sample_weight, plan, threads)
        held_out = (Xv, Yv, wv) if self.early_stopping else None
        data, sample, validation = training_data(whitening, plan, X, Y, sample_weight, held_out, threads)
        total_weight = float(sample_weight.sum())
        network = self._fit_network(warm, sample, hidden, init_seed, plan, whitening, total_weight)

        check = verify = None
        if plan.certified:
            check = functools.partial(certificate, whitening)
            verify = functools.partial(
                measure, X, Y, sample_weight, whitening, moments, self.fit_intercept, self.alpha, threads
            )

        def finish(net, result):
            gap = result.certified
            if plan.certified and np.isfinite(gap) and not result.verified:
                # Measured once more, as the exported model predicts.
                gap = max(gap, verify(net))
            return gap, export(net, whitening)

        epoch_hook = self._epoch_hook(tasks, X, y, metadata, whitening, y_1d, Y.shape[1])
        result, (gap, model), kept = train(
            plan, params, network, data, validation, seed=shuffle_seed,
            check=check, verify=verify, epoch_hook=epoch_hook, finish=finish,
        )
        lr0 = result.learning_rate
        diagnose(
            plan, result, whitening, gap, name=type(self).__name__, epochs=self.epochs,
            learning_rate_init=self.learning_rate_init, lr0=lr0,
        )

        # Everything is computed; now commit the fitted state in one go.
        loss_curve = (self.loss_curve_ if warm else []) + result.loss
        val_curve = None
        if self.early_stopping:
            val_curve = ((self.validation_loss_curve_ or []) if warm else []) + result.val_loss
        # A stateless fit keeps a State, and the recipe of a network that can take it.
        self._net, self._recipe, self._lr0 = kept, network.recipe, lr0
        self._stream = None
        self._whitening, self._y_1d, self._n_outputs = whitening, y_1d, Y.shape[1]
        # partial_fit after a full-batch fit continues with full-batch steps.
        self._full_batch = plan.batch_size >= X.shape[0]
        self.model_ = model
        self.loss_curve_, self.validation_loss_curve_ = loss_curve, val_curve
        self.history_ = {"loss": list(loss_curve)}
        if val_curve is not None:
            self.history_["val_loss"] = list(val_curve)
        self.n_iter_ = result.n_epochs
        tasks.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata, reconstruction_attributes={})
        return self

    def _fit_network(self, warm, sample, hidden, seed, plan, whitening, total_weight):
        """The ``FitNetwork`` a fit trains: for the built-in network, where it starts from.

        ``sample`` is ``(Xs, Ys)``, rows of inputs and targets in the network's coordinates.
        """
        params, routed = self.get_params(deep=False), self._routed_params()
        n_outputs = sample[1].shape[1]
        recipe = _network.recipe(params, routed, hidden, seed, plan, whitening, total_weight, n_outputs)
        kept = getattr(self, "_net", None) if warm else None
        if isinstance(kept, State):
            # A warm start continues the network that left it, optimizer and all.
            recipe = self._recipe
        if isinstance(kept, tuple) or not _network.is_stateless(recipe):
            # A network of its own: a user's, one with callbacks, or
            # partial_fit's, which a warm fit continues with its optimizer.
            own = self._training_network(warm, sample, recipe, seed, whitening)
            return _network.FitNetwork(recipe, lambda: own[:4])

        def make():
            net, callbacks = _network.build(recipe, seed, *sample)
            return net, net.optimizer, _models.as_loss(net.loss), callbacks

        if not warm:
            start = _network.initial_state(recipe, sample[0].shape[1])
        elif kept is not None:
            start = dataclasses.replace(kept, learning_rate=self._lr0)
        else:
            start = _network.resumed_state(self.model_, whitening, recipe[1].get("optimizer__learning_rate"))
        return _network.FitNetwork(recipe, make, start)

    def _training_network(self, warm, sample, recipe, seed, whitening, keep_learning_rate=False):
        """A network of the fit's own, its optimizer, loss, callbacks and initial learning rate.

        A warm start continues with the previous fit's network, or with a new
        one that takes its kept ``State`` or ``model_``'s weights (after unpickling).
        """
        kept = getattr(self, "_net", None) if warm else None
        if isinstance(kept, tuple):
            net, optimizer, callbacks = kept
            if not keep_learning_rate:
                optimizer.learning_rate.assign(self._lr0)
            return net, optimizer, _models.as_loss(net.loss), callbacks, self._lr0
        if isinstance(kept, State):
            # A network like the one that left it, optimizer and all.
            recipe = self._recipe
        net, callbacks = _network.build(recipe, seed, *sample)
        optimizer = net.optimizer
        lr0 = float(optimizer.learning_rate.numpy())
        if isinstance(kept, State):
            lr0 = self._lr0
            if not keep_learning_rate:
                kept = dataclasses.replace(kept, learning_rate=lr0)
            load_state(net, optimizer, kept)
        elif warm:
            resume(net, self.model_, whitening)
        return net, optimizer, _models.as_loss(net.loss), callbacks, lr0

    def _epoch_hook(self, tasks, X, y, metadata, whitening, y_1d, n_outputs):
        """The Keras callback that serves scikit-learn's callbacks, or None when none is set."""
        if not has_sklearn_callbacks(self):
            return None

        def fitted_attributes(net, n_epochs):
            # What makes a copy of this estimator predict as net does, after n_epochs epochs.
            return {
                "model_": export(net, whitening), "_whitening": whitening, "_y_1d": y_1d,
                "_n_outputs": n_outputs, "n_iter_": n_epochs,
            }

        return epoch_tasks(self, tasks, X, y, metadata, fitted_attributes)

    def _new_whitening(self, X, Y, sample_weight, plan, threads=1, moments=None):
        """How this data becomes the training network's: whitened, standardized or as it is.

        ``moments`` are those of all of a stream's chunks (``train_on_chunks``),
        of which ``X`` is only the first: the QR fallback then has no data to use.
        """
        own = moments is None
        if own:
            moments = weighted_moments((X, Y), sample_weight, cross=plan.whiten, threads=threads)
        if plan.whiten:
            whitening = fit_whitening(
                moments, X.shape[1], fit_intercept=self.fit_intercept, l2=self.alpha / moments[0],
                X=X if own else None, sample_weight=sample_weight,
            )
        else:
            whitening = scaling_only(moments, X.shape[1], self.fit_intercept, self.standardize)
        return whitening, moments

    @property
    def _scaling(self):
        """``(x_mean, x_scale, y_mean, y_scale)`` the network trains under."""
        return self._whitening.scaling

    # -- partial_fit -----------------------------------------------------
    @with_callbacks
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on a chunk of data, keeping the optimizer's state.

        One call is one pass over ``X`` in shuffled mini-batches of
        ``batch_size`` rows ("auto": 200 with hidden layers; for the single
        neuron a sixteenth of the first chunk, between 64 and 4096 rows),
        with the optimizer's moments and current learning rate carried over
        from the previous call (or from a previous ``fit``). No
        stopping rule, learning-rate drop, early stopping, callbacks or
        convergence warning applies: the caller decides how many passes to make
        (:func:`~sklearn_kerasreg.train_on_chunks` does it for a stream).

        Standardization: the first call on an unfitted estimator computes the
        input and target statistics from its chunk and keeps them; every later
        call, and a later ``fit`` with ``warm_start=True``, reuses them, so the
        weights stay in one coordinate system. Give the first call a
        representative chunk (for example shuffled rows). After ``fit``,
        ``partial_fit`` continues with ``fit``'s statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the chunk's loss is their weighted average.

        Returns
        -------
        self : KerasLinearRegressor

        See Also
        --------
        train_on_chunks : Several passes over a source of chunks.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_kerasreg import KerasLinearRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(0, 10, size=(2000, 2))
        >>> y = X @ [3.0, -1.0] + 2
        >>> reg = KerasLinearRegressor(random_state=0)
        >>> for _ in range(10):
        ...     for start in range(0, 2000, 500):
        ...         reg = reg.partial_fit(X[start : start + 500], y[start : start + 500])
        >>> reg.n_iter_, len(reg.loss_curve_)
        (40, 40)
        >>> np.round(reg.coef_, 1), round(reg.intercept_, 1)
        (array([ 3., -1.]), 2.0)
        """
        with self._unchanged_on_error(continues_training=True), backend_scope():
            self._partial_fit(X, y, sample_weight)
        return self

    def _partial_fit(self, X, y, sample_weight):
        first = not hasattr(self, "model_")
        X, Y, sample_weight, y_1d = check_fit_data(
            self, X, y, sample_weight, reset=first, n_outputs=None if first else self._n_outputs
        )
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes, self.model)
        # Each call, one epoch over a chunk, is a task of its own (scikit-learn callbacks).
        task = self._init_callback_context(task_name="partial_fit")
        metadata = {"sample_weight": sample_weight}
        task.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
        plan = make_plan(self.get_params(), hidden, X.shape[0], X.shape[1], Y.shape[1], stream=True)
        if first:
            self._y_1d = y_1d
            self._n_outputs = Y.shape[1]
            moments = self.__dict__.pop("_pending_moments", None)
            self._whitening, _ = self._new_whitening(X, Y, sample_weight, plan, moments=moments)
        whitening = self._whitening
        trainer = getattr(self, "_stream", None)
        net_state = getattr(self, "_net", None)
        if trainer is None or not isinstance(net_state, tuple) or trainer.net is not net_state[0]:
            init_seed, shuffle_seed, _ = draw_seeds(self.random_state)
            # The network keeps the dtype it was built with; a new one is float64.
            if isinstance(net_state, State):
                dtype = net_state.weights[0].dtype
            else:
                dtype = _models.input_dtype(net_state[0]) if net_state is not None else np.float64
            plan = dataclasses.replace(plan, dtype=dtype)
            if not first and getattr(self, "_full_batch", False) and self.batch_size == "auto":
                # The fit's optimizer takes Newton-sized steps, which on a
                # mini-batch jump to that batch's optimum: one step per chunk.
                plan = dataclasses.replace(plan, batch_size=2**30)
            sample = (whitening.inputs(X[:2], dtype), whitening.targets(Y[:2]))
            recipe = _network.recipe(
                self.get_params(deep=False), self._routed_params(), hidden, init_seed, plan, whitening,
                float(sample_weight.sum()), Y.shape[1],
            )
            net, optimizer, loss_fn, callbacks, lr0 = self._training_network(
                not first, sample, recipe, init_seed, whitening, keep_learning_rate=True
            )
            trainer = Trainer(
                net, optimizer, loss_fn, batch_size=plan.batch_size, shuffle=self.shuffle, seed=shuffle_seed,
                tol=0.0, n_iter_no_change=1, adaptive=False,
            )
            self._net, self._lr0 = (net, optimizer, callbacks), lr0
            self._stream = trainer
            self._full_batch = False
        # A user's model may take another dtype than the one it was built with.
        dtype = _models.input_dtype(trainer.net)
        Xs, Ys = whitening.inputs(X, dtype), whitening.targets(Y).astype(dtype)
        loss = trainer.train_pass(Xs, Ys, mean_one(sample_weight).astype(dtype))
        if not np.isfinite(loss):
            raise ValueError(
                "Training diverged: the loss became NaN or infinite in partial_fit. The learning "
                "rate is probably too large, or the data has large values and standardize=False."
            )
        self.model_ = export(trainer.net, whitening)
        self.loss_curve_ = [*getattr(self, "loss_curve_", []), loss]
        self.validation_loss_curve_ = None
        self.history_ = {"loss": list(self.loss_curve_)}
        self.n_iter_ = getattr(self, "n_iter_", 0) + 1
        task.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata, reconstruction_attributes={})
        return self

    def _set_stream_moments(self, moments):
        """``weighted_moments(..., cross=True)`` of all the chunks, for the first ``partial_fit``
        call to whiten or standardize with instead of its chunk's (``train_on_chunks``)."""
        self._pending_moments = moments

    def _scale_learning_rate(self, factor):
        """Multiply the training optimizer's current learning rate (streaming schedules)."""
        net_state = getattr(self, "_net", None)
        if isinstance(net_state, tuple) and hasattr(net_state[1].learning_rate, "assign"):
            lr = net_state[1].learning_rate
            lr.assign(lr * factor)

    # -- prediction and fitted attributes --------------------------------
    def predict(self, X):
        """Predict with the fitted network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        cap_tensorflow_threads()
        out = np.empty((X.shape[0], self._n_outputs))
        with backend_scope():
            for start in range(0, X.shape[0], BLOCK_ROWS):
                block = X[start : start + BLOCK_ROWS]
                out[start : start + BLOCK_ROWS] = np.asarray(self.model_(block, training=False), dtype=np.float64)
        return out.ravel() if self._y_1d else out

    def _dense_weights(self):
        check_is_fitted(self)
        layers = _models.dense_layers(self.model_)
        if layers is None:
            raise AttributeError(
                "This network is not a stack of Dense layers, so it has no coefs_/intercepts_."
            )
        return layers, *_models.stack_weights(layers)

    @property
    def coefs_(self):
        """Kernel of each Dense layer, in the caller's units."""
        return self._dense_weights()[1]

    @property
    def intercepts_(self):
        """Bias of each Dense layer, in the caller's units."""
        return self._dense_weights()[2]

    def _linear(self):
        layers, kernels, biases = self._dense_weights()
        collapsed = _models.effective_linear(layers, kernels, biases)
        if collapsed is None:
            raise AttributeError(
                "coef_ and intercept_ are only defined for a linear network; this one has "
                "nonlinear activations. Use coefs_ and intercepts_ for the layer weights."
            )
        return collapsed

    @property
    def coef_(self):
        """Coefficients of the linear model ``y = X @ coef_.T + intercept_``."""
        coef = self._linear()[0].T
        return coef[0] if self._y_1d else coef

    @property
    def intercept_(self):
        """Intercept of the linear model."""
        intercept = self._linear()[1]
        return float(intercept[0]) if self._y_1d else intercept

    def summary(self, **kwargs):
        """Print the Keras summary of ``model_`` (``kwargs`` go to ``keras.Model.summary``)."""
        check_is_fitted(self)
        return self.model_.summary(**kwargs)
