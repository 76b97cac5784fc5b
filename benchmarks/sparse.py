"""Sparse input: the estimator against LinearRegression, Ridge and MLPRegressor on the same CSR matrices.

Each data set runs in a child process (TensorFlow), which fits every model on
it: times and memory within one process, so the ratios are same-run ones.

- **one-hot diamonds** (plotnine's copy of ggplot2's data set): a 75/25 split
  (40,455 training rows), ``log(price)`` as the target, and a
  ``ColumnTransformer(sparse_threshold=1)`` that one-hot encodes cut, color,
  clarity and the carat rounded to 0.01 (a high-cardinality column) and
  scales five numeric columns: a CSR matrix of about 300 columns with 9
  non-zeros a row.
- **text-like**: 20,000 documents x 20,000 words, about 37 non-zeros a row:
  words drawn from a Zipf law and from one of 20 topics, tf-idf weighted and
  normalized as ``TfidfVectorizer`` does; the target is linear in 2% of the
  words plus noise. A 75/25 split.

Memory is the peak resident memory above the level just before a fit
(sampled every 2 ms, freed memory returned to the system first), against
the size of the CSR training matrix (data, indices, row pointers). "first" is the
first fit of a model in the process (it traces the training loop), "later"
the median of two more. Importing Keras is timed apart
(``PYTHONDONTWRITEBYTECODE`` slows it on some machines).

    pip install -e ".[benchmark]"
    python benchmarks/sparse.py     # writes results/sparse.md (about 15 minutes on 2 cores)
"""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import ctypes, json, statistics, sys, threading, time, warnings
import numpy as np
import psutil
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn_kerasreg import KerasLinearRegressor

start = time.perf_counter()
import keras  # noqa: E402 - timed apart

keras.ops.convert_to_numpy(keras.ops.ones(1))
import_time = time.perf_counter() - start
name = sys.argv[1]


def diamonds():
    from plotnine.data import diamonds as frame

    frame = frame.copy()
    y = np.log(frame.pop("price").to_numpy(float))
    frame["carat_level"] = frame["carat"].round(2).astype(str)
    for column in ("cut", "color", "clarity"):
        frame[column] = frame[column].astype(str)
    train, test, ytr, yte = train_test_split(frame, y, test_size=0.25, random_state=0)
    encode = ColumnTransformer([
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["cut", "color", "clarity", "carat_level"]),
        ("numbers", StandardScaler(), ["depth", "table", "x", "y", "z"]),
    ], sparse_threshold=1.0)
    return encode.fit_transform(train).tocsr(), encode.transform(test).tocsr(), ytr, yte


def text_like(n=20000, p=20000, words=40, topics=20, seed=0):
    rng = np.random.RandomState(seed)
    zipf = 1.0 / np.arange(1, p + 1) ** 1.1
    topic_words = [rng.permutation(p)[: p // 10] for _ in range(topics)]
    rows, cols = [], []
    for i in range(n):
        k = rng.poisson(words) + 1
        c = np.concatenate([rng.choice(p, size=k // 2, p=zipf / zipf.sum()),
                            rng.choice(topic_words[rng.randint(topics)], size=k - k // 2)])
        rows.append(np.full(len(c), i))
        cols.append(c)
    X = sp.csr_matrix((np.ones(sum(map(len, cols))), (np.concatenate(rows), np.concatenate(cols))), shape=(n, p))
    X.sum_duplicates()
    df = np.bincount(X.indices, minlength=p)
    X.data = (1 + np.log(X.data)) * (1 + np.log((1 + n) / (1 + df[X.indices])))
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1))).ravel()
    X = (sp.diags(1 / norms) @ X).tocsr()
    y = X @ (rng.normal(size=p) * (rng.rand(p) < 0.02) * 5) + 0.1 * rng.normal(size=n)
    return train_test_split(X, y, test_size=0.25, random_state=0)


libc = ctypes.CDLL("libc.so.6")


def peak_memory(fit):
    # Peak RSS above the level before fit(), freed memory returned to the system first.
    libc.malloc_trim(0)
    process = psutil.Process()
    base = process.memory_info().rss
    peak, stop = [base], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fit()
    finally:
        stop.set()
        thread.join()
    return (max(peak[0], process.memory_info().rss) - base) / 2**20


X, Xt, y, yt = diamonds() if name == "diamonds" else text_like()
hidden = (64, 64) if name == "diamonds" else (64,)
models = {
    "LinearRegression": lambda: LinearRegression(),
    "Ridge(alpha=1)": lambda: Ridge(alpha=1.0),
    "ours, single neuron" + (", alpha=1" if name != "diamonds" else ""):
        lambda: KerasLinearRegressor(random_state=0, alpha=0.0 if name == "diamonds" else 1.0),
    f"MLPRegressor{hidden}": lambda: MLPRegressor(hidden_layer_sizes=hidden, random_state=0),
    f"ours, MLP {hidden}": lambda: KerasLinearRegressor(hidden_layer_sizes=hidden, random_state=0),
}
rows = []
for model, make in models.items():
    print(f"  {name}: {model}", file=sys.stderr, flush=True)
    times, said = [], []
    for repeat in range(3):
        est = make()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            began = time.perf_counter()
            if repeat < 2:
                est.fit(X, y)
            else:
                memory = peak_memory(lambda: est.fit(X, y))
            times.append(time.perf_counter() - began)
        said = sorted({f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught})
    rows.append(dict(model=model, first=times[0], later=statistics.median(times[1:]), memory=memory,
                     r2=r2_score(yt, est.predict(Xt)), epochs=getattr(est, "n_iter_", None), warnings=said))
size = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
shape = dict(rows=X.shape[0], columns=X.shape[1], nnz_per_row=X.nnz / X.shape[0], csr_mb=size,
             dense_mb=X.shape[0] * X.shape[1] * 8 / 2**20)
print(json.dumps(dict(rows=rows, shape=shape, import_time=import_time)))
"""


def run(name):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", CHILD, name], env=env, stdout=subprocess.PIPE, text=True, check=False)
    if out.returncode:
        sys.exit(f"the {name} run failed (its traceback is above)")
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(results, info):
    lines = [f"Machine: {info['cpus']} CPUs, Python {info['python']}; {info['versions']}; {info['date']}.", ""]
    for name, result in results.items():
        s = result["shape"]
        lines += [f"## {name}: {s['rows']} x {s['columns']} training rows, {s['nnz_per_row']:.1f} non-zeros a row",
                  "", f"CSR training matrix {s['csr_mb']:.1f} MB (dense float64 would be {s['dense_mb']:.0f} MB). "
                  f"Importing Keras took {result['import_time']:.1f} s (PYTHONDONTWRITEBYTECODE="
                  f"{os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')}), before the first fit.", "",
                  "| model | later fit [s] | first fit [s] | x LinearRegression | memory above baseline [MB] | "
                  "x CSR size | test R² | epochs |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        base = next(r for r in result["rows"] if r["model"] == "LinearRegression")["later"]
        for r in result["rows"]:
            epochs = "" if r["epochs"] is None else str(r["epochs"])
            lines.append(f"| {r['model']} | {r['later']:.3f} | {r['first']:.3f} | {r['later'] / base:.1f}x | "
                         f"{r['memory']:.1f} | {r['memory'] / s['csr_mb']:.2f} | {r['r2']:.4f} | {epochs} |")
        said = [f"- {r['model']}: {w}" for r in result["rows"] for w in r["warnings"]]
        if said:
            lines += ["", "Warnings of the last fit:", "", *said]
        lines.append("")
    return "\n".join(lines)


def main():
    from importlib.metadata import version

    info = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
        "versions": {name: version(name) for name in ("numpy", "scipy", "scikit-learn", "tensorflow", "keras")},
    }
    results = {}
    for name in ("diamonds", "text-like"):
        print(f"{name}:", file=sys.stderr, flush=True)
        results[name] = run(name)
    text = markdown(results, info)
    (HERE / "results" / "sparse.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
