"""scikeras-style routed parameters (``optimizer__learning_rate``, ``loss__delta``, ...).

A routed parameter is stored as an attribute named like the parameter, so
that ``get_params``, ``set_params``, ``clone`` and searches see it as any other.
"""

from sklearn.base import clone

from ._fixes import ROUTING_PREFIXES, carry_clone_state


def is_routed(name):
    """Whether ``name`` is a routed parameter: ``<prefix>__<name>`` with a scikeras prefix."""
    prefix, sep, _ = name.partition("__")
    return bool(sep) and prefix in ROUTING_PREFIXES


class RoutedParamsMixin:
    """``get_params``, ``set_params`` and ``clone`` that carry routed parameters.

    Goes left of ``BaseEstimator``, whose methods it extends.
    """

    def _routed_params(self):
        return {k: v for k, v in vars(self).items() if is_routed(k)}

    def get_params(self, deep=True):
        """Get parameters, including routed ones such as ``optimizer__learning_rate``."""
        params = super().get_params(deep=deep)
        params.update(self._routed_params())
        return params

    def set_params(self, **params):
        """Set parameters; ``<prefix>__<name>`` keys are stored as routed parameters."""
        routed = {k: v for k, v in params.items() if is_routed(k)}
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
