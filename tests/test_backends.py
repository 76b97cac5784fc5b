"""The same fits on TensorFlow and on JAX: coefficients, networks and saved estimators agree.

The other backend runs in a subprocess (Keras picks its backend once per
process), which fits, predicts and saves; this process compares and loads.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import make_friedman1

from sklearn_kerasreg import KerasLinearRegressor, load_estimator

pytest.importorskip("jax")

NIST = os.path.join(os.path.dirname(__file__), "data", "nist")

FITS = """
import json, pickle, sys
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn_kerasreg import KerasLinearRegressor, save_estimator
out = {}
for name in ("Longley", "Norris"):
    data = json.load(open(f"{sys.argv[1]}/{name}.json"))
    X, y = np.asarray(data["x"], float), np.asarray(data["y"], float)
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    out[name] = [reg.intercept_, *reg.coef_]
X, y = make_friedman1(1500, random_state=0)
mlp = KerasLinearRegressor(hidden_layer_sizes=(32, 32), random_state=0).fit(X[:1000], y[:1000])
out["mlp_r2"] = mlp.score(X[1000:], y[1000:])
out["mlp_predictions"] = mlp.predict(X[1000:]).tolist()
save_estimator(mlp, sys.argv[2] + "/mlp.skreg")
pickle.dump(mlp, open(sys.argv[2] + "/mlp.pkl", "wb"))
print(json.dumps(out))
"""


def other_backend():
    import keras

    return "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("other")
    env = {**os.environ, "KERAS_BACKEND": other_backend(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, "-c", FITS, NIST, str(tmp)], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(run.stdout.strip().splitlines()[-1]), tmp


@pytest.mark.parametrize("name", ["Longley", "Norris"])
def test_linear_coefficients_agree_across_backends(other, name):
    data = json.load(open(os.path.join(NIST, f"{name}.json")))
    X, y = np.asarray(data["x"], float), np.asarray(data["y"], float)
    reg = KerasLinearRegressor(random_state=0).fit(X, y)
    np.testing.assert_allclose(other[0][name], [reg.intercept_, *reg.coef_], rtol=1e-8)


def test_mlp_score_agrees_across_backends(other):
    X, y = make_friedman1(1500, random_state=0)
    mlp = KerasLinearRegressor(hidden_layer_sizes=(32, 32), random_state=0).fit(X[:1000], y[:1000])
    assert abs(mlp.score(X[1000:], y[1000:]) - other[0]["mlp_r2"]) <= 0.02
    # The same random_state gives the same network again on this backend.
    again = KerasLinearRegressor(hidden_layer_sizes=(32, 32), random_state=0).fit(X[:1000], y[:1000])
    np.testing.assert_array_equal(again.predict(X[1000:]), mlp.predict(X[1000:]))


@pytest.mark.parametrize("how", ["save_estimator", "pickle"])
def test_an_estimator_saved_on_one_backend_predicts_the_same_on_the_other(other, how):
    import pickle

    results, tmp = other
    X, _ = make_friedman1(1500, random_state=0)
    if how == "save_estimator":
        loaded = load_estimator(tmp / "mlp.skreg")
    else:
        with open(tmp / "mlp.pkl", "rb") as f:
            loaded = pickle.load(f)
    np.testing.assert_allclose(loaded.predict(X[1000:]), results["mlp_predictions"], rtol=1e-12)
