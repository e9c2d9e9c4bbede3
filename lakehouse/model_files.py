"""A trained model on disk without pickle: the fitted pipeline in skops, beside a manifest.

skops rebuilds only the types it is told to trust. Beyond what it trusts by default, that is
a few scikit-learn and NumPy internals and the boosting libraries' estimators and boosters,
whose state is their native model format; a file naming any other type is refused before
anything in it is built.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lakehouse.errors import InvalidInputError
from lakehouse.ml.spec import Algorithm, FeatureInput, ForecastSetup, ProblemType, TrainedModel

PIPELINE = "pipeline.skops"
MANIFEST = "model.json"
TRUSTED_TYPES = frozenset(
    {
        "collections.OrderedDict",
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.cluster._kmeans.KMeans",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
    }
)


def save_model(model: TrainedModel, directory: Path) -> None:
    """Write the model's pipeline and manifest into `directory` (created if missing)."""
    import skops.io as sio

    directory.mkdir(parents=True, exist_ok=True)
    sio.dump(model.pipeline, directory / PIPELINE)
    manifest: dict[str, Any] = {
        "algorithm": model.algorithm.value,
        "problem_type": model.problem_type.value,
        "features": model.features,
        "classes": model.classes,
        "metrics": model.metrics,
        "confusion_matrix": model.confusion_matrix,
        "candidates": model.candidates,
        "inputs": [asdict(feature) for feature in model.inputs],
        "forecast": asdict(model.forecast) if model.forecast else None,
        "dataset_columns": model.dataset_columns,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, default=str), encoding="utf-8")


def load_model(directory: Path) -> TrainedModel:
    """The model `save_model` wrote; a file holding a type outside the allowlist is refused."""
    import skops.io as sio

    path = directory / PIPELINE
    untrusted = set(sio.get_untrusted_types(file=path))
    refused = sorted(untrusted - TRUSTED_TYPES)
    if refused:
        raise InvalidInputError(
            f"model file holds types that are not trusted: {', '.join(refused)}", field="model"
        )
    pipeline = sio.load(path, trusted=sorted(untrusted))
    manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    return TrainedModel(
        pipeline=pipeline,
        algorithm=Algorithm(manifest["algorithm"]),
        problem_type=ProblemType(manifest["problem_type"]),
        features=list(manifest["features"]),
        classes=manifest["classes"],
        metrics=dict(manifest["metrics"]),
        confusion_matrix=manifest["confusion_matrix"],
        candidates=dict(manifest["candidates"]),
        inputs=[FeatureInput(**feature) for feature in manifest["inputs"]],
        forecast=forecast_setup(manifest["forecast"]),
        dataset_columns=list(manifest.get("dataset_columns") or manifest["features"]),
    )


def forecast_setup(saved: dict[str, Any] | None) -> ForecastSetup | None:
    if saved is None:
        return None
    history = {
        key: [(str(moment), float(value)) for moment, value in points]
        for key, points in saved["history"].items()
    }
    return ForecastSetup(**{**saved, "history": history})
