"""The ``sklearn-kerasreg`` command (also ``python -m sklearn_kerasreg``).

``compare`` cross-validates ``KerasLinearRegressor`` against
``LinearRegression`` on a CSV file, or on the built-in tutorial data, and
prints the comparison. The input is read and checked before TensorFlow is
imported, so a bad file fails in a fraction of a second.
"""

import argparse
import contextlib
import os
import sys
import tempfile
import warnings

PROG = "sklearn-kerasreg"
COMMANDS = ("compare",)


class _UsageError(Exception):
    """A bad command line or input: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the usage and exits; we want the one-line form.
        raise _UsageError(f"{message} (see {self.prog} --help)")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _folds(text):
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"cross-validation needs at least 2 folds, got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**32 - 1, got {text!r}")
    return value


def _hidden(text):
    """``"32,32,32"`` -> ``(32, 32, 32)``."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes as positive integers separated by commas, like 32,32,32; got {text!r}"
        )
    return sizes


def _build_parser():
    from ._version import __version__

    parser = _Parser(
        prog=PROG,
        description="Keras regressors as scikit-learn estimators, from the command line. "
        "Without a command, runs 'compare' on the built-in tutorial data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    compare = commands.add_parser(
        "compare",
        help="cross-validate KerasLinearRegressor against LinearRegression",
        description="Cross-validate KerasLinearRegressor and LinearRegression on the same folds and "
        "print R^2, RMSE and fit times; for a linear network, also both models' coefficients.",
    )
    compare.add_argument(
        "data", nargs="?", metavar="DATA.csv",
        help="CSV file with a header row and numeric columns (default: the built-in tutorial data)",
    )
    compare.add_argument("--target", metavar="COLUMN", help="target column (default: the last one)")
    compare.add_argument(
        "--hidden", type=_hidden, default=(), metavar="SIZES",
        help="hidden layer sizes, like 32,32,32, for an MLP (default: none, the single neuron y = Xw + b)",
    )
    compare.add_argument("--cv", type=_folds, default=5, metavar="K", help="number of folds (default: 5)")
    compare.add_argument(
        "--epochs", type=_positive_int, metavar="N", help="maximum epochs per fit (default: the estimator's)"
    )
    compare.add_argument(
        "--random-state", type=_seed, default=0, metavar="N",
        help="seed of the folds and of the network (default: 0)",
    )
    compare.add_argument(
        "--out", metavar="DIR", help="write PNG plots (loss curve, fitted line, predicted vs actual) to DIR"
    )
    compare.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv=None):
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments, without the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 2 for a bad command line or input file, 1 when
        training fails.

    Examples
    --------
    >>> main(["compare", "no-such-file.csv"])
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "compare")
    try:
        if not argv[0].startswith("-") and argv[0] not in COMMANDS:
            raise _UsageError(
                f"unknown command {argv[0]!r}; the command is 'compare', as in: {PROG} compare {argv[0]}"
            )
        try:
            args = _build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version
            return exc.code or 0
        return _compare(args)
    except _UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _compare(args):
    X, y, feature_names, target_name, source = _load(args.data, args.target)
    if X.shape[0] < args.cv:
        raise _UsageError(
            f"{source} has {X.shape[0]} data row(s), fewer than the {args.cv} cross-validation folds "
            "(lower --cv)"
        )
    if args.out is not None:
        _make_dir(args.out)
    progress = not args.quiet
    if progress:
        print("loading TensorFlow ...", file=sys.stderr, flush=True)
    _import_tensorflow_quietly()

    from ._compare import compare_to_linear_regression
    from ._estimator import KerasLinearRegressor

    params = {"hidden_layer_sizes": args.hidden, "random_state": args.random_state}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    estimator = KerasLinearRegressor(**params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            comparison = compare_to_linear_regression(
                estimator, X, y, cv=args.cv, random_state=args.random_state,
                feature_names=feature_names, verbose=int(progress),
            )
        except ValueError as exc:  # e.g. training diverged
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
    _report_warnings(caught)

    print(f"data: {source}, {X.shape[0]} rows; target {target_name!r}; features: {', '.join(feature_names)}")
    print(f"network: {estimator!r}")
    print()
    print(comparison.to_text(), flush=True)
    if args.out is not None:
        try:
            written = write_plots(comparison, X, y, args.out, tutorial=args.data is None)
        except ImportError:
            print(f"{PROG}: note: --out needs matplotlib (pip install matplotlib); no plots written.",
                  file=sys.stderr)
        else:
            print()
            for path in written:
                print(f"wrote {path}")
    return 0


def _load(path, target):
    """``X, y, feature_names, target_name, source`` from a CSV path, or the built-in data."""
    from ._io.datasets import open_tutorial_csv, read_numeric_csv

    if path is None:
        source = "built-in tutorial data"
        with open_tutorial_csv() as f:
            return (*_read(read_numeric_csv, f, source, target), source)
    if not os.path.exists(path):
        raise _UsageError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise _UsageError(f"{path!r} is a directory, not a CSV file")
    try:
        # utf-8-sig: spreadsheet programs often start a CSV export with a BOM.
        with open(path, encoding="utf-8-sig", newline="") as f:
            return (*_read(read_numeric_csv, f, path, target), path)
    except UnicodeDecodeError as exc:
        raise _UsageError(
            f"{path} is not UTF-8 text (undecodable byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read(reader, f, source, target):
    try:
        return reader(f, source=source, target=target)
    except ValueError as exc:
        if isinstance(exc, UnicodeDecodeError):
            raise
        raise _UsageError(str(exc).rstrip(".")) from None


def _make_dir(path):
    if os.path.exists(path) and not os.path.isdir(path):
        raise _UsageError(f"--out {path!r} exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise _UsageError(f"cannot create --out directory {path!r}: {exc.strerror or exc}") from None


def _import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up chatter kept off the terminal.

    TensorFlow 2.21 logs oneDNN and CUDA notices through absl before
    ``TF_CPP_MIN_LOG_LEVEL`` takes effect, straight to file descriptor 2.
    Those lines are held back; if the import fails they are replayed.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced, e.g. under a test runner
        fd = None
    if fd is None:
        import tensorflow  # noqa: F401

        return
    with tempfile.TemporaryFile() as held, contextlib.ExitStack() as restore:
        sys.stderr.flush()
        saved = os.dup(fd)
        restore.callback(os.close, saved)
        os.dup2(held.fileno(), fd)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, fd)
            held.seek(0)
            os.write(fd, held.read())
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)


def _report_warnings(caught):
    """Each distinct warning once, as one line, with how many fits raised it."""
    counts = {}
    for w in caught:
        key = (w.category.__name__, str(w.message))
        counts[key] = counts.get(key, 0) + 1
    for (category, message), count in counts.items():
        times = f" ({count} fits)" if count > 1 else ""
        print(f"{PROG}: warning: {category}: {message}{times}", file=sys.stderr)


#: The first tutorial's recipe, drawn beside the single neuron's curve.
TUTORIAL_EPOCHS = 200
TUTORIAL_RATE = 0.1


def _draw_tutorial_recipe(ax, X, y, network):
    """Draw, on ``ax``, the first tutorial's own recipe fitted on ``X, y``, and both final losses.

    The recipe is the tutorial's: ``Dense(1)`` compiled with ``Adam(0.1)``
    and the mean squared error, fitted by ``model.fit(X, y, epochs=200)``;
    here the initial weights are seeded and the batches of 32 taken in order
    (not shuffled), so the picture is the same each run. Its curve is Keras's
    ``History`` (each epoch's mean batch loss, in y's units as the network's
    is); both final losses marked are at the final weights.
    """
    import keras
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    seeded = keras.initializers.GlorotUniform(seed=0)
    model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(1, kernel_initializer=seeded)])
    model.compile(optimizer=keras.optimizers.Adam(TUTORIAL_RATE), loss="mse")
    history = model.fit(X, y, epochs=TUTORIAL_EPOCHS, shuffle=False, verbose=0).history["loss"]
    final = float(model.evaluate(X, y, verbose=0))
    ax.plot(np.arange(1, len(history) + 1), history, color="tab:orange",
            label=f"the tutorial's recipe: Dense(1), Adam({TUTORIAL_RATE}), {TUTORIAL_EPOCHS} epochs")
    # The network's final loss is labelled below its line at the left, next
    # to its point; the recipe's above its line at the right, where it ends.
    marks = ((network.loss_, "tab:blue", "network", network.n_iter_, (6, -12), "left"),
             (final, "tab:orange", "recipe", len(history), (-4, 4), "right"))
    for value, color, who, epoch, offset, side in marks:
        ax.axhline(value, color=color, linestyle=":", linewidth=1)
        ax.annotate(f"{who}, final: {value:.4g}", (epoch, value), textcoords="offset points",
                    xytext=offset, ha=side, color=color)
    ax.set_xlim(0.5, len(history) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    steps = f"{network.n_iter_} Newton step" + ("s" if network.n_iter_ > 1 else "")
    ax.set(ylabel="Loss (mean squared error, in y's units squared)",
           title=f"{steps} against the tutorial's {TUTORIAL_EPOCHS} epochs of Adam")
    ax.legend()


def loss_figure(network, X, y, *, tutorial=False):
    """The figure of ``loss_curve.png``: the network's loss curve and, for the single neuron
    on the built-in data (``tutorial``), the first tutorial's recipe beside it."""
    from ._plotting import LossCurveDisplay

    display = LossCurveDisplay.from_estimator(network, name=type(network).__name__)
    if tutorial and not network.hidden_layer_sizes and network.model is None:
        _draw_tutorial_recipe(display.ax_, X, y, network)
    return display.figure_


def write_plots(comparison, X, y, out_dir, tutorial=False):
    """Write the PNG plots of a comparison to ``out_dir``; return their paths.

    The network's loss curve (with ``tutorial``, the built-in data, and the
    single neuron: beside the first tutorial's recipe), for a single feature
    the data with both fitted lines, and predicted against actual values for
    both models (full-data fits).
    Raises ``ImportError`` when matplotlib is missing.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt
    from sklearn.metrics import PredictionErrorDisplay

    from ._plotting import RegressionLineDisplay

    network, reference = comparison.estimator_, comparison.linear_regression_
    written = []

    def save(figure, name):
        path = os.path.join(out_dir, name)
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path)

    save(loss_figure(network, X, y, tutorial=tutorial), "loss_curve.png")
    if X.shape[1] == 1:
        # The display draws LinearRegression's line itself, next to the network's.
        display = RegressionLineDisplay.from_estimator(network, X, y, reference=reference)
        display.ax_.set(xlabel=comparison.feature_names[0])
        save(display.figure_, "regression_line.png")
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
    for ax, model in zip(axes, (network, reference)):
        PredictionErrorDisplay.from_estimator(model, X, y, kind="actual_vs_predicted", ax=ax)
        ax.set_title(f"{type(model).__name__} (fitted on all data)")
    save(figure, "actual_vs_predicted.png")
    return written
