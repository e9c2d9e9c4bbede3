"""Clustering: rows grouped by their features with k-means, scored by silhouette, with the
size and the centre (in the features' own units) of each cluster."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lakehouse.errors import InvalidInputError
from lakehouse.ml.algorithms import check_algorithm, model_pipeline
from lakehouse.ml.hyperparameters import with_defaults
from lakehouse.ml.spec import Attribute, Report, TrainedModel, TrainingSpec, dates_as_text, quiet

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

SILHOUETTE_ROWS = 5000  # the silhouette compares every pair of rows: a sample of larger tables


def grouped_sizes(metrics: Mapping[str, float]) -> dict[str, Any]:
    """The training's metrics as the record shows them: a clustering's cluster sizes
    (`cluster_size_<n>`) as one list, `cluster_sizes`."""
    sizes = {
        int(key.removeprefix("cluster_size_")): int(value)
        for key, value in metrics.items()
        if key.startswith("cluster_size_")
    }
    shown: dict[str, Any] = {k: v for k, v in metrics.items() if not k.startswith("cluster_size_")}
    if sizes:
        shown["cluster_sizes"] = [sizes[i] for i in sorted(sizes)]
    return shown


def check_clustering(spec: TrainingSpec, rows: int) -> None:
    """Refuse a clustering that cannot run: a target, no features, or fewer rows than
    clusters."""
    if spec.columns(Attribute.TARGET):
        raise InvalidInputError(
            "a clustering has no Target: rows are grouped by their features", field="columns"
        )
    if not spec.features:
        raise InvalidInputError("at least one column must be a Feature", field="columns")
    clusters = with_defaults(spec.algorithm, spec.problem_type, spec.hyperparameters).get(
        "n_clusters", 2
    )
    if rows <= clusters:
        raise InvalidInputError(
            f"{rows} rows are too few to group into {clusters} clusters", field="n_clusters"
        )


def train_clusters(table: pa.Table, spec: TrainingSpec, report: Report = quiet) -> TrainedModel:
    """Group every row by its features; the metrics are the silhouette, the inertia and each
    cluster's size (`cluster_size_<n>`)."""
    import time

    import numpy as np
    from sklearn.metrics import silhouette_score

    from lakehouse.ml.training import feature_inputs

    features = dates_as_text(table.select(spec.features).to_pandas())
    check_clustering(spec, len(features))
    spec = replace(spec, algorithm=check_algorithm(spec.algorithm, spec.problem_type))
    pipeline = model_pipeline(
        spec.algorithm, spec.problem_type, features, spec.seed, spec.hyperparameters
    )
    report(f"grouping {len(features)} rows with {spec.algorithm.value}")
    started = time.perf_counter()
    pipeline.fit(features)
    fit_seconds = time.perf_counter() - started
    labels = pipeline.named_steps["model"].labels_
    encoded = pipeline.named_steps["prepare"].transform(features)
    sample = np.arange(len(features))
    if len(sample) > SILHOUETTE_ROWS:
        sample = np.random.default_rng(spec.seed).choice(sample, SILHOUETTE_ROWS, replace=False)
    found = len(set(labels[sample]))
    metrics = {
        "silhouette": float(silhouette_score(encoded[sample], labels[sample]))
        if 1 < found < len(sample)
        else float("nan"),
        "inertia": float(pipeline.named_steps["model"].inertia_),
        "n_clusters": float(pipeline.named_steps["model"].n_clusters),
    }
    sizes = np.bincount(labels, minlength=pipeline.named_steps["model"].n_clusters)
    metrics |= {f"cluster_size_{i}": float(size) for i, size in enumerate(sizes)}
    model = TrainedModel(
        pipeline=pipeline,
        algorithm=spec.algorithm,
        problem_type=spec.problem_type,
        features=list(features.columns),
        classes=None,
        metrics=metrics,
        inputs=feature_inputs(features, pipeline),
        fit_seconds=fit_seconds,
    )
    model.rows_used = len(features)
    return model


def cluster_profile(model: TrainedModel, features: pd.DataFrame) -> dict[str, Any]:
    """Each cluster's size and the mean of each numeric feature in it (its centre in the
    features' own units)."""
    import numpy as np

    labels = model.predict(features)
    numeric = features[model.features].select_dtypes("number")
    clusters = []
    for cluster in range(int(model.pipeline.named_steps["model"].n_clusters)):
        rows = numeric[labels == cluster]
        clusters.append(
            {
                "cluster": cluster,
                "size": int(len(rows)),
                "centre": {
                    name: (float(value) if np.isfinite(value) else None)
                    for name, value in rows.mean().items()
                },
            }
        )
    return {"clusters": clusters}
