"""What the Displays share: matplotlib, imported only when something is drawn, and line styles."""

_INSTALL_HINT = 'pip install "sklearn_kerasreg[plot]"'
def pyplot(caller):
    """matplotlib.pyplot, or an ImportError that names the extra to install."""
    # scikit-learn's check_matplotlib_support is private and suggests
    # `pip install matplotlib`; our users should install the extra instead.
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(f"{caller} requires matplotlib. Install it with `{_INSTALL_HINT}`.") from exc
    return plt


def styled(defaults, user):
    """``defaults`` overridden by ``user``, with matplotlib aliases (``ls``, ``c``) resolved."""
    from matplotlib.cbook import normalize_kwargs
    from matplotlib.lines import Line2D

    # Without normalizing, a user's ``ls=":"`` would clash with our ``linestyle``.
    return {**normalize_kwargs(defaults, Line2D), **normalize_kwargs(user or {}, Line2D)}
