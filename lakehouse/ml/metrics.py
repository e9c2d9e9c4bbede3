"""How a model is scored: the metrics of each problem type, cross-validation and the metric that
picks the best candidate."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline
from lakehouse.ml.spec import ProblemType

CV_FOLDS = 5


def score(problem: ProblemType, truth: Any, predicted: Any, probabilities: Any) -> dict[str, float]:
    """The metrics of one evaluation: classification or regression."""
    from sklearn import metrics

    if problem is ProblemType.CLASSIFICATION:
        binary = probabilities is not None and probabilities.shape[1] == 2
        average = "binary" if binary else "macro"
        result = {
            "accuracy": metrics.accuracy_score(truth, predicted),
            "precision": metrics.precision_score(
                truth, predicted, average=average, zero_division=0
            ),
            "recall": metrics.recall_score(truth, predicted, average=average, zero_division=0),
            "f1": metrics.f1_score(truth, predicted, average=average, zero_division=0),
        }
        if probabilities is not None and len(set(truth)) == probabilities.shape[1]:
            result["roc_auc"] = (
                metrics.roc_auc_score(truth, probabilities[:, 1])
                if binary
                else metrics.roc_auc_score(truth, probabilities, multi_class="ovr")
            )
        return {k: float(v) for k, v in result.items()}
    mse = metrics.mean_squared_error(truth, predicted)
    return {
        "mse": float(mse),
        "rmse": float(mse**0.5),
        "mae": float(metrics.mean_absolute_error(truth, predicted)),
        "r2": float(metrics.r2_score(truth, predicted)),
    }


def cross_validated(
    pipeline: Pipeline, features: pd.DataFrame, labels: Any, seed: int
) -> dict[str, float]:
    """Mean and spread of accuracy over stratified folds of the rows the model learned from."""
    import numpy as np
    from joblib import parallel_config
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    smallest_class = int(min(np.bincount(labels))) if len(labels) else 0
    folds = min(CV_FOLDS, smallest_class)
    if folds < 2:
        return {}
    # The folds fit side by side, a core each: on small tables a model's own threads gain
    # less than another fold does.
    model = clone(pipeline)
    if model.named_steps["model"].get_params().get("n_jobs") is not None:
        model.named_steps["model"].set_params(n_jobs=1)
    with parallel_config(backend="threading"):
        scores = cross_val_score(
            model,
            features,
            labels,
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            scoring="accuracy",
            n_jobs=min(folds, os.cpu_count() or 1),
        )
    return {"cv_accuracy_mean": float(scores.mean()), "cv_accuracy_std": float(scores.std())}


def selection_metric(problem: ProblemType) -> str:
    return "f1" if problem is ProblemType.CLASSIFICATION else "r2"
