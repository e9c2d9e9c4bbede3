"""SHAP explanations of a trained model, summed back onto the features the user gave."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lakehouse.ml.spec import Algorithm, TrainedModel

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

TREE_MODELS = frozenset(
    {Algorithm.XGBOOST, Algorithm.LIGHTGBM, Algorithm.RANDOM_FOREST, Algorithm.GRADIENT_BOOSTING}
)
BACKGROUND_ROWS = 100
BATCH_ROWS = 20
TIME_BUDGET_SECONDS = 60.0
SHOWN_FEATURES = 20


def owners(prepare: Any) -> list[str]:
    """For each column the preprocessor puts out, the input feature it came from."""
    result: list[str] = []
    for name, transformer, columns in prepare.transformers_:
        if not columns or isinstance(transformer, str):
            continue
        if name == "numeric":
            result.extend(columns)
            continue
        for produced in transformer.get_feature_names_out(columns):
            prefixes = [c for c in columns if str(produced).startswith(f"{c}_")]
            result.append(max(prefixes, key=len))
    return result


def shap_values(model: TrainedModel, encoded: np.ndarray) -> np.ndarray:
    """SHAP values per row and encoded column (and class): exact for trees and linear models;
    otherwise a permutation explainer on a background sample, stopped when the time budget
    runs out."""
    import numpy as np
    import shap

    estimator = model.pipeline.named_steps["model"]
    if model.algorithm in TREE_MODELS:
        return np.asarray(shap.TreeExplainer(estimator).shap_values(encoded))
    masker = shap.maskers.Independent(encoded[:BACKGROUND_ROWS])
    if model.algorithm is Algorithm.LINEAR:
        return np.asarray(shap.LinearExplainer(estimator, masker).shap_values(encoded))
    predict = estimator.predict_proba if model.classes is not None else estimator.predict
    explainer = shap.explainers.Permutation(predict, masker, seed=0)
    parts = []
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    for start in range(0, len(encoded), BATCH_ROWS):
        parts.append(np.asarray(explainer(encoded[start : start + BATCH_ROWS], silent=True).values))
        if time.monotonic() > deadline:
            break
    return np.concatenate(parts)


def feature_importance(model: TrainedModel, sample: pd.DataFrame) -> dict[str, float]:
    """Mean |SHAP| per input feature, largest first; one-hot parts are summed back."""
    import numpy as np

    prepare = model.pipeline.named_steps["prepare"]
    encoded = np.asarray(prepare.transform(sample[model.features]), dtype=float)
    values = np.abs(shap_values(model, encoded))
    # Rows first; classes, when there are several, last: average over both.
    per_column = values.mean(axis=0)
    if per_column.ndim == 2:
        per_column = per_column.mean(axis=1)
    totals: dict[str, float] = dict.fromkeys(model.features, 0.0)
    for owner, value in zip(owners(prepare), per_column, strict=True):
        totals[owner] += float(value)
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def importance_figure(importance: dict[str, float]) -> Figure:
    """A bar chart of the largest mean |SHAP| values."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shown = list(importance.items())[:SHOWN_FEATURES][::-1]
    figure = Figure(figsize=(7, max(3.0, 0.3 * len(shown) + 1)))
    axes = figure.subplots()
    axes.barh([name for name, _ in shown], [value for _, value in shown])
    axes.set_xlabel("mean |SHAP value|")
    axes.set_title("SHAP feature importance")
    figure.tight_layout()
    return figure
