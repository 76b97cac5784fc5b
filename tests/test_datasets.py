"""load_tutorial and the CSV reader behind it."""

import io

import numpy as np
import pytest

from sklearn_kerasreg import load_tutorial
from sklearn_kerasreg._io.datasets import read_numeric_csv


def test_tutorial_data_is_exactly_the_generated_data():
    x = np.linspace(0, 50, 51)
    X, y = load_tutorial(return_X_y=True)
    np.testing.assert_array_equal(X, x.reshape(-1, 1))
    np.testing.assert_array_equal(y, x + 10 * np.random.RandomState(0).uniform(size=51))


def test_bunch_fields():
    data = load_tutorial()
    assert data.feature_names == ["x"] and data.target_name == "y"
    assert data.frame is None and data.filename == "tutorial.csv"
    assert data.data_module == "sklearn_kerasreg.data"
    assert "Tutorial" in data.DESCR or "tutorial" in data.DESCR


def test_as_frame():
    pd = pytest.importorskip("pandas")
    data = load_tutorial(as_frame=True)
    assert isinstance(data.data, pd.DataFrame) and list(data.data.columns) == ["x"]
    assert isinstance(data.target, pd.Series) and data.target.name == "y"
    assert list(data.frame.columns) == ["x", "y"] and data.frame.shape == (51, 2)
    X, y = load_tutorial(return_X_y=True, as_frame=True)
    assert X.shape == (51, 1) and y.shape == (51,)


@pytest.mark.parametrize(
    "text, target, match",
    [
        ("", None, "empty"),
        ("a,b\n", None, "no data rows"),
        ("a\n1\n", None, "at least two"),
        ("1,2\n3,4\n", None, "header row"),
        ("a,a\n1,2\n", None, "twice"),
        ("a,b\n1,2\n", "c", "no column 'c'; the columns are: a, b"),
        ("a,b\n1,2\n3,\n", None, "line 3: missing value in column 'b'"),
        ("a,b\n1,2\n3,4,5\n", None, "line 3: 3 field"),
        ("a,b\n1,2\nnan,4\n", None, "line 3: column 'a' holds 'nan', not a finite number"),
    ],
)
def test_reader_names_the_problem(text, target, match):
    with pytest.raises(ValueError, match=match):
        read_numeric_csv(io.StringIO(text), source="f.csv", target=target)


def test_reader_skips_blank_lines_and_strips_spaces():
    X, y, features, target = read_numeric_csv(io.StringIO(" a , b\n\n1, 2\n\n 3 ,4\n"))
    assert features == ["a"] and target == "b"
    np.testing.assert_array_equal(X, [[1], [3]])
    np.testing.assert_array_equal(y, [2, 4])
