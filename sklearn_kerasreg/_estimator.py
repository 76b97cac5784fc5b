"""KerasLinearRegressor: a scikit-learn regressor trained as a Keras network."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from . import _fitting
from ._backends.runtime import backend_scope, cap_tensorflow_threads
from ._core import models as _models
from ._core.sparse import as_csr, is_sparse
from ._fixes import (
    CallbackSupportMixin,
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
    validate_data,
    with_callbacks,
)
from ._params import RoutedParamsMixin
from ._validation import SPARSE_FORMATS
from ._pickling import picklable_state, unpickled_state


class KerasLinearRegressor(CallbackSupportMixin, RegressorMixin, RoutedParamsMixin, BaseEstimator):
    """Linear regression, or an MLP, learned by a Keras network.

    With the default ``hidden_layer_sizes=()`` the network is one ``Dense``
    layer, ``y = X @ coef_ + intercept_``: linear regression fitted by
    full-batch gradient descent on whitened inputs, where each step is a
    Newton step, stopped when every coefficient is certified within ``tol``
    of the least-squares optimum. With hidden layers it is a multi-layer
    perceptron trained on standardized inputs. The whitening or scaling is
    folded back into the weights, so ``coef_``, ``intercept_`` and the
    Keras model ``model_`` all work in the caller's units.

    Sparse ``X`` (SciPy CSR, CSC or COO) is never made dense: the single
    neuron is whitened a block of rows at a time and certified as on dense
    data up to 2000 features; above that it is not whitened and warns how
    far it is from Ridge's solution; hidden layers read each row's
    non-zeros (the user guide's "Sparse input").

    Models are built and compiled through scikeras, so its routed parameters
    (``optimizer__learning_rate``, ``loss__delta``, ``model__...``,
    ``callbacks__...``) work with ``set_params``, ``clone`` and searches.

    Parameters
    ----------
    model : None, callable or keras.Model, default=None
        The network. None builds the Dense stack described by
        ``hidden_layer_sizes`` and ``activation``. A scikeras-style builder
        (a function, called with ``model__*`` parameters and, if it accepts
        them, ``meta``, ``compile_kwargs`` and ``params``, the estimator's
        ``get_params()``) or a Keras model used as a
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
        by 5; training stops at the third such stall with mini-batches, the
        sixth with full-batch steps. For the certified single
        neuron the monitored value is the certificate (see ``tol``). With
        "constant", the first stall stops training (as in ``MLPRegressor``).
    alpha : float, default=0.0
        L2 penalty on the kernels, scaled like ``Ridge(alpha)`` on the
        standardized problem: ``alpha / sum(sample_weight)`` per squared
        weight (``alpha / n_samples`` without weights), so integer weights
        act as repeated rows.
    batch_size : int or "auto", default="auto"
        "auto" takes full-batch steps for the single-neuron model and
        ``min(200, n_samples)`` with hidden layers. A built-in network with
        hidden layers trains on mini-batches in float32 (twice as fast on a
        CPU, half the memory), full-batch in float64 up to 131072 rows, and
        predicts in float64; the single neuron trains in float64.
    epochs : int, default=1000
        Maximum number of passes over the training data.
    tol : float or "auto", default="auto"
        For the single neuron with the squared error trained full-batch by
        the default optimizer and learning rate (the certified fit): the relative distance to the least-squares
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
        Sparse inputs are scaled without being centred, as
        ``StandardScaler(with_mean=False)`` does.
    shuffle : bool, default=True
        Shuffle mini-batches each epoch (seeded by ``random_state``).
    warm_start : bool, default=False
        Continue from the previous call's weights and optimizer state, under
        the current parameters (the user guide's "Continuing training" says
        what carries over). A change of ``hidden_layer_sizes``,
        ``activation``, ``model``, ``fit_intercept`` or ``standardize``
        raises a ``ValueError``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffles and the validation split. Global
        random state (NumPy, Python, TensorFlow) is neither used nor changed.
    verbose : int, default=0
        1 shows a Keras progress bar over the epochs, with the time per
        epoch and the loss (and validation loss), in the units of
        ``loss_curve_``; 2 or more prints one line per epoch instead.
    callbacks : None, keras callback, list or dict of them, default=None
        Keras callbacks (instances or classes, ``callbacks__*`` routed; a
        dict names them, as in scikeras: ``callbacks={"es": EarlyStopping}``
        with ``callbacks__es__monitor="loss"``). They see the training
        network, and losses on the standardized problem (the units of
        ``tol``).

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
    loss_ : float
        The training loss at the final weights, in the caller's units: the
        ``sample_weight``-weighted mean over the training rows (without the
        ``early_stopping`` hold-out) of the loss of ``predict``'s residuals,
        averaged over targets, plus the ``alpha`` penalty as trained. Unlike
        ``MLPRegressor.loss_`` (with its sgd and adam solvers, the last
        epoch's running loss, on half the squared error), it belongs to the
        weights returned. The user guide's "Loss curves" gives the units
        (Huber's ``delta`` reads as ``delta`` times the target's scale; a
        loss of your own stays on the standardized problem).
    loss_curve_ : list of float
        Training loss of each epoch, in the caller's units (the user guide's
        "Loss curves"): a mini-batch epoch's value is the mean of its
        batches' losses as they trained, as in Keras; a full-batch fit's
        value is the loss after the epoch's step, and its last one is
        ``loss_`` (with ``early_stopping``, at the best epoch's weights).
        Several targets of different scales keep their curves on the
        standardized problem. Warm fits and ``partial_fit`` append.
    validation_loss_curve_ : list of float or None
        Validation loss after each epoch when ``early_stopping=True``, in
        the units of ``loss_curve_``.
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
        "callbacks": [None, list, dict, callable, HasMethods(["on_epoch_end"])],
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        # The built-in network reads sparse X (the user guide's "Sparse input"); a user's model reads dense X.
        tags.input_tags.sparse = self.model is None
        return tags

    def __getstate__(self):
        # The training state is arrays: a pickle continues training exactly
        # as the estimator in memory and one saved with save_estimator do.
        return picklable_state(self, self.__dict__.copy())

    def __setstate__(self, state):
        self.__dict__.update(unpickled_state(self, state))

    # -- fit -----------------------------------------------------------
    @with_callbacks
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        with _fitting.unchanged_on_error(self), backend_scope():
            _fitting.fit(self, X, y, sample_weight, (X_val, y_val, sample_weight_val))
        return self

    # -- partial_fit -----------------------------------------------------
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
        weights stay in one coordinate system (the certified single neuron's
        warm ``fit`` re-whitens, see the user guide). Give the first call a
        representative chunk (for example shuffled rows). After ``fit``,
        ``partial_fit`` continues with ``fit``'s statistics, and after a
        full-batch ``fit`` with ``batch_size="auto"`` it takes one step per
        chunk, as ``fit`` did per epoch.

        Each call continues the estimator's training state under the current
        parameters, the same in memory, after ``pickle`` and after
        :func:`load_estimator`; a call that raises changes nothing.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        return self._partial_fit(X, y, sample_weight)

    @with_callbacks
    @_fit_context(prefer_skip_nested_validation=True)
    def _partial_fit(self, X, y, sample_weight=None, *, moments=None):
        # train_on_chunks gives the first call the moments of all its chunks.
        with _fitting.unchanged_on_error(self), backend_scope():
            _fitting.partial_fit(self, X, y, sample_weight, moments)
        return self

    # -- prediction and fitted attributes --------------------------------
    def predict(self, X):
        """Predict with the fitted network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, accept_sparse=SPARSE_FORMATS)
        if is_sparse(X):
            X = as_csr(X)  # rows by slicing: COO has none
        cap_tensorflow_threads()
        with backend_scope():
            out = _models.predict(self.model_, X, self._n_outputs)
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
