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


def folds(labels: Any, seed: int, classify: bool, most: int = CV_FOLDS) -> Any:
    """The cross-validation folds of rows with these labels: stratified for classes, at most
    `most` and no more than the smallest class has rows; None when two folds are too many."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    if not classify:
        count = min(most, len(labels))
        return KFold(count, shuffle=True, random_state=seed) if count >= 2 else None
    counts = np.bincount(labels) if len(labels) else np.array([0])
    smallest_class = int(counts[counts > 0].min()) if counts.any() else 0
    count = min(most, smallest_class)
    return StratifiedKFold(count, shuffle=True, random_state=seed) if count >= 2 else None


def single_threaded(pipeline: Pipeline) -> Pipeline:
    """A copy of the pipeline whose model uses one thread: folds fit side by side, a core
    each, as on small tables a model's own threads gain less than another fold does."""
    from sklearn.base import clone

    model = clone(pipeline)
    if model.named_steps["model"].get_params().get("n_jobs") is not None:
        model.named_steps["model"].set_params(n_jobs=1)
    return model


def cross_validation_scores(
    pipeline: Pipeline, features: pd.DataFrame, labels: Any, seed: int, scoring: str, classify: bool
) -> list[float]:
    """The scores of the pipeline refitted on each fold of the rows; none when the rows are
    too few to fold."""
    from joblib import parallel_config
    from sklearn.model_selection import cross_val_score

    splitter = folds(labels, seed, classify)
    if splitter is None:
        return []
    with parallel_config(backend="threading"):
        scores = cross_val_score(
            single_threaded(pipeline),
            features,
            labels,
            cv=splitter,
            scoring=scoring,
            n_jobs=min(splitter.get_n_splits(), os.cpu_count() or 1),
        )
    return [float(value) for value in scores]


def cross_validated(
    pipeline: Pipeline, features: pd.DataFrame, labels: Any, seed: int
) -> dict[str, float]:
    """Mean and spread of accuracy over stratified folds of the rows the model learned from."""
    import numpy as np

    scores = cross_validation_scores(pipeline, features, labels, seed, "accuracy", classify=True)
    if not scores:
        return {}
    return {"cv_accuracy_mean": float(np.mean(scores)), "cv_accuracy_std": float(np.std(scores))}


def selection_metric(problem: ProblemType) -> str:
    return "f1" if problem is ProblemType.CLASSIFICATION else "r2"
