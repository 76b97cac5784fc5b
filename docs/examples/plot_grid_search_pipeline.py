"""
Grid search over a pipeline
===========================

:class:`~sklearn_kerasreg.KerasLinearRegressor` is an ordinary scikit-learn
regressor, so it goes into a :class:`~sklearn.pipeline.Pipeline` and a
:class:`~sklearn.model_selection.GridSearchCV` like any other. Its own
parameters (``alpha``) and scikeras-style routed parameters
(``optimizer__learning_rate``) are searched the same way, through the step
name of the pipeline.
"""

# %%
# The data and the pipeline
# -------------------------
# The diabetes data (442 patients, 10 features). The pipeline keeps the ``k``
# features most correlated with the target, then fits the single neuron.
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from sklearn_kerasreg import KerasLinearRegressor

X, y = load_diabetes(return_X_y=True, as_frame=True)
pipe = make_pipeline(SelectKBest(f_regression), KerasLinearRegressor(random_state=0))
print(list(pipe.named_steps))

# %%
# The search
# ----------
# Four candidates, three folds. ``alpha`` is the L2 penalty, scaled like
# ``Ridge(alpha)`` on the standardized problem. ``optimizer__learning_rate``
# is passed to the Keras optimizer exactly as scikeras would pass it; it is
# given one value here (0.1, the single neuron's default learning rate) only
# to show that a routed parameter goes into a grid like any other.
param_grid = {
    "selectkbest__k": [4, 10],
    "keraslinearregressor__alpha": [0.0, 30.0],
    "keraslinearregressor__optimizer__learning_rate": [0.1],
}
search = GridSearchCV(pipe, param_grid, cv=KFold(3, shuffle=True, random_state=0))
search.fit(X, y)

results = pd.DataFrame(search.cv_results_)
columns = ["param_selectkbest__k", "param_keraslinearregressor__alpha", "mean_test_score", "std_test_score"]
print(results[columns].sort_values("mean_test_score", ascending=False).to_string(index=False))
print("best:", search.best_params_)

# %%
# The refitted model
# ------------------
# The best pipeline is refitted on all the data. Its regressor keeps the
# routed parameter (it survives ``clone``), and its coefficients are in the
# units of the selected features, named after the DataFrame's columns.
best = search.best_estimator_
regressor = best[-1]
print("optimizer__learning_rate:", regressor.get_params()["optimizer__learning_rate"])
names = best[0].get_feature_names_out()
print(pd.Series(regressor.coef_, index=names).round(2).to_string())
