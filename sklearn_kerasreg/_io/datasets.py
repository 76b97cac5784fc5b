"""The built-in tutorial dataset, and the numeric CSV reader it shares with the command line.

Reading uses the ``csv`` module and NumPy only: pandas is optional, needed
just for ``as_frame=True``.
"""

import csv
import math
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

DATA_MODULE = "sklearn_kerasreg.data"
TUTORIAL_CSV = "tutorial.csv"

_TUTORIAL_DESCR = """\
.. _tutorial_dataset:

Single-neuron tutorial dataset
------------------------------

The data of the classic "linear regression with one Keras neuron" tutorial:
51 points on a noisy line of slope 1.

**Data Set Characteristics:**

:Number of Instances: 51
:Number of Attributes: 1 numeric feature, ``x``
:Target: ``y``, numeric
:Generation: ``x = np.linspace(0, 50, 51)`` and
    ``y = x + 10 * np.random.RandomState(0).uniform(size=51)``, so the
    least-squares line has a slope close to 1 and an intercept close to 5.
"""


def load_tutorial(*, return_X_y=False, as_frame=False):
    """Load the single-neuron tutorial dataset (regression).

    ``x = 0, 1, ..., 50`` and ``y = x + 10 * U(0, 1)``, drawn with
    ``np.random.RandomState(0)``. The values are stored with their full float
    representation, so they equal the generated ones exactly.

    =================   ==============
    Samples total                   51
    Dimensionality                   1
    Features            real, 0 to 50
    Targets             real, 0 to 60
    =================   ==============

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame and ``target`` as a Series (and
        fill ``frame``). Requires pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : {ndarray, DataFrame} of shape (51, 1)
            The feature ``x``.
        target : {ndarray, Series} of shape (51,)
            The target ``y``.
        feature_names : list of str
            ``["x"]``.
        target_name : str
            ``"y"``.
        frame : DataFrame of shape (51, 2) or None
            ``data`` and ``target`` together; only with ``as_frame=True``.
        DESCR : str
            Description of the dataset.
        filename : str
            Name of the CSV file in ``data_module``.
        data_module : str
            The package holding the file, ``"sklearn_kerasreg.data"``.

    (data, target) : tuple if ``return_X_y`` is True

    See Also
    --------
    sklearn.datasets.load_diabetes : A real regression dataset, same interface.

    Examples
    --------
    >>> from sklearn_kerasreg import load_tutorial
    >>> X, y = load_tutorial(return_X_y=True)
    >>> X.shape, y.shape
    ((51, 1), (51,))
    >>> data = load_tutorial()
    >>> data.feature_names, data.target_name
    (['x'], 'y')
    >>> round(float(data.target[0]), 6)
    5.488135
    """
    with open_tutorial_csv() as f:
        X, y, feature_names, target_name = read_numeric_csv(f, source=TUTORIAL_CSV)
    frame = None
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is a test dependency
            raise ImportError("load_tutorial(as_frame=True) requires pandas; pip install pandas.") from exc
        X = pd.DataFrame(X, columns=feature_names)
        y = pd.Series(y, name=target_name)
        frame = pd.concat([X, y], axis=1)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        frame=frame,
        feature_names=feature_names,
        target_name=target_name,
        DESCR=_TUTORIAL_DESCR,
        filename=TUTORIAL_CSV,
        data_module=DATA_MODULE,
    )


def open_tutorial_csv():
    """The shipped ``tutorial.csv``, opened as text for the ``csv`` module."""
    return resources.files(DATA_MODULE).joinpath(TUTORIAL_CSV).open("r", encoding="utf-8", newline="")


def read_numeric_csv(file, *, source="<file>", target=None):
    """Read a CSV file of numbers with a header row into ``X`` and ``y``.

    Blank lines are skipped. Every other row must have as many fields as the
    header, each a finite number.

    Parameters
    ----------
    file : text file object
        Opened with ``newline=""``, as the ``csv`` module wants.
    source : str, default="<file>"
        Name of the file, for error messages.
    target : str or None, default=None
        Name of the target column; None takes the last one. All the other
        columns are the features.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    feature_names : list of str
    target_name : str

    Raises
    ------
    ValueError
        With a one-line message naming the problem (and the column and line
        of a bad cell). ``UnicodeDecodeError`` and ``OSError`` from reading
        the file propagate.

    Examples
    --------
    >>> import io
    >>> X, y, features, target = read_numeric_csv(io.StringIO("a,b,c\\n1,2,3\\n4,5,6\\n"), target="a")
    >>> X.tolist(), y.tolist(), features, target
    ([[2.0, 3.0], [5.0, 6.0]], [1.0, 4.0], ['b', 'c'], 'a')
    """
    reader = csv.reader(file)
    try:
        header = next(row for row in reader if row)
    except StopIteration:
        raise ValueError(f"{source} is empty: expected a header row of column names, then rows of numbers.")
    except csv.Error as exc:
        raise ValueError(f"{source} is not a valid CSV file: {exc}.") from None
    header = [name.strip() for name in header]
    _check_header(header, source)
    if target is None:
        target = header[-1]
    elif target not in header:
        available = ", ".join(header)
        raise ValueError(f"{source} has no column {target!r}; the columns are: {available}.")
    rows = []
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{source}, line {reader.line_num}: {len(row)} field(s), "
                    f"but the header has {len(header)}."
                )
            rows.append([_number(cell, name, reader.line_num, source) for cell, name in zip(row, header)])
    except csv.Error as exc:
        raise ValueError(f"{source}, line {reader.line_num}: not valid CSV: {exc}.") from None
    if not rows:
        raise ValueError(f"{source} has a header but no data rows.")
    data = np.array(rows, dtype=np.float64)
    t = header.index(target)
    feature_names = header[:t] + header[t + 1 :]
    return np.delete(data, t, axis=1), data[:, t], feature_names, target


def _check_header(header, source):
    if len(header) < 2:
        raise ValueError(
            f"{source} has {len(header)} column ({header[0]!r}); at least two are needed: "
            "one or more features and a target."
        )
    for i, name in enumerate(header, start=1):
        if not name:
            raise ValueError(f"{source}: column {i} of the header row has no name.")
        if header.index(name) != i - 1:
            raise ValueError(f"{source}: the header row names column {name!r} twice.")
    if all(_is_number(name) for name in header):
        raise ValueError(
            f"{source}: the first row holds numbers only; a header row of column names is required."
        )


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(cell, column, line, source):
    text = cell.strip()
    if not text:
        raise ValueError(f"{source}, line {line}: missing value in column {column!r}.")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{source}, line {line}: column {column!r} holds {text!r}, not a number.") from None
    if not math.isfinite(value):
        raise ValueError(f"{source}, line {line}: column {column!r} holds {text!r}, not a finite number.")
    return value

