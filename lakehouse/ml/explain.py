"""SHAP explanations of a trained model, summed back onto the features the user gave."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lakehouse.ml.spec import Algorithm, TrainedModel, dates_as_text

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


def explained(
    model: TrainedModel, encoded: np.ndarray, background: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values per row and encoded column (and class), with each row's base value (per
    class): exact for trees and linear models; otherwise a permutation explainer. Those need
    background rows (the explained rows' first ones unless given), and the permutation
    explainer stops when its time budget runs out (fewer rows come back)."""
    import numpy as np
    import shap

    estimator = model.pipeline.named_steps["model"]
    rows = len(encoded)
    masker = shap.maskers.Independent(
        (encoded if background is None else background)[:BACKGROUND_ROWS]
    )
    # SHAP's tree explainer reads scikit-learn's gradient boosting of two classes, not more.
    several = model.classes is not None and len(model.classes) > 2
    exact_tree = model.algorithm in TREE_MODELS and not (
        several and model.algorithm is Algorithm.GRADIENT_BOOSTING
    )
    if exact_tree or model.algorithm is Algorithm.LINEAR:
        if exact_tree:
            explainer = shap.TreeExplainer(estimator)
        else:
            explainer = shap.LinearExplainer(estimator, masker)
        values = np.asarray(explainer.shap_values(encoded))
        expected = np.asarray(explainer.expected_value, dtype=float).reshape(-1)
        if expected.size == 1:  # one output: a base value per row, not a list of one
            return values, np.full(rows, float(expected[0]))
        return values, np.broadcast_to(expected, (rows, expected.size)).copy()
    predict = estimator.predict_proba if model.classes is not None else estimator.predict
    # Each row needs two evaluations per column at least.
    evaluations = max(500, 2 * encoded.shape[1] + 1)
    permutation = shap.explainers.Permutation(predict, masker, seed=0)
    parts, bases = [], []
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    for start in range(0, rows, BATCH_ROWS):
        explanation = permutation(
            encoded[start : start + BATCH_ROWS], max_evals=evaluations, silent=True
        )
        parts.append(np.asarray(explanation.values))
        bases.append(np.asarray(explanation.base_values, dtype=float))
        if time.monotonic() > deadline:
            break
    return np.concatenate(parts), np.concatenate(bases)


def shap_values(model: TrainedModel, encoded: np.ndarray) -> np.ndarray:
    """SHAP values per row and encoded column (and class); see `explained`."""
    return explained(model, encoded)[0]


def per_feature(model: TrainedModel, values: np.ndarray) -> np.ndarray:
    """Values per encoded column summed back onto the input features (one-hot parts added
    up), in the order of `model.features`; any trailing class axis is kept."""
    import numpy as np

    prepare = model.pipeline.named_steps["prepare"]
    index = {name: position for position, name in enumerate(model.features)}
    summed = np.zeros((values.shape[0], len(model.features), *values.shape[2:]))
    for column, owner in enumerate(owners(prepare)):
        summed[:, index[owner]] += values[:, column]
    return summed


def feature_importance(model: TrainedModel, sample: pd.DataFrame) -> dict[str, float]:
    """Mean |SHAP| per input feature, largest first; one-hot parts are summed back."""
    import numpy as np

    prepare = model.pipeline.named_steps["prepare"]
    encoded = np.asarray(prepare.transform(dates_as_text(sample[model.features])), dtype=float)
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
