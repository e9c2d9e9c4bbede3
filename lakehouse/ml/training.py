"""Model training on a validated table: rows split 70/15/15, each candidate fitted with progress
reports, judged on the validation rows and tested, or an earlier model trained further. Pure
modelling: no tracking, no orchestration; the training asset records what comes back in MLflow."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lakehouse.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from sklearn.pipeline import Pipeline
from lakehouse.ml.algorithms import AUTO_CANDIDATES, check_algorithm, model_pipeline
from lakehouse.ml.metrics import cross_validated, score, selection_metric
from lakehouse.ml.spec import (
    SPLIT,
    Algorithm,
    Evaluation,
    FeatureInput,
    ProblemType,
    Report,
    Split,
    TrainedModel,
    TrainingSpec,
    dates_as_text,
    quiet,
)

# Fractions of the training rows the learning curve fits on, scored on the validation rows.
LEARNING_CURVE = (0.25, 0.5, 1.0)


PROGRESS_EVERY = 50  # boosting rounds between progress messages


def training_frame(table: pa.Table, spec: TrainingSpec) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of a table, checked for what the problem type needs."""
    names = set(table.column_names)
    missing = [c for c in [spec.target, *spec.features] if c not in names]
    if missing:
        raise InvalidInputError(
            f"column '{missing[0]}' is not in the dataset's validated table", field="columns"
        )
    if not spec.features:
        raise InvalidInputError("at least one column must be a Feature", field="columns")
    frame = table.select([spec.target, *spec.features]).to_pandas()
    frame = frame[frame[spec.target].notna()].reset_index(drop=True)
    check_target(frame[spec.target], spec)
    return dates_as_text(frame[spec.features]), frame[spec.target]


def check_target(target: pd.Series, spec: TrainingSpec) -> None:
    """Refuse a target the problem type cannot learn: constant, or not numeric when it must be."""
    import pandas as pd

    if target.nunique() < 2:
        raise InvalidInputError(
            f"target column '{spec.target}' has fewer than two distinct values", field="columns"
        )
    if spec.problem_type is not ProblemType.CLASSIFICATION and (
        not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target)
    ):
        raise InvalidInputError(
            f"target column '{spec.target}' must be numeric for {spec.problem_type.value}",
            field="columns",
        )


def split_rows(count: int, seed: int, ordered: bool = False, test_share: float = SPLIT[2]) -> Split:
    """Train/validation/test positions, 70/15/15 by default (`test_share` moves rows between
    training and test); in order (no shuffle) for time series."""
    import numpy as np

    positions = np.arange(count)
    if not ordered:
        positions = np.random.default_rng(seed).permutation(count)
    train_end = int(round(count * (1 - SPLIT[1] - test_share)))
    validation_end = train_end + int(round(count * SPLIT[1]))
    if train_end < 2 or validation_end >= count or validation_end == train_end:
        raise InvalidInputError(
            f"{count} rows are too few to split into training, validation and test",
            field="dataset_id",
        )
    return Split(
        positions[:train_end], positions[train_end:validation_end], positions[validation_end:]
    )


def fit(pipeline: Pipeline, features: pd.DataFrame, labels: Any, report: Report) -> Pipeline:
    """Fit `pipeline`, reporting boosting rounds as they pass."""
    model = pipeline.named_steps["model"]
    rounds = int(model.get_params().get("n_estimators") or 0)
    name = type(model).__name__
    if name.startswith("XGB"):
        import xgboost

        class Rounds(xgboost.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                if (epoch + 1) % PROGRESS_EVERY == 0:
                    report(f"{name}: boosting round {epoch + 1}/{rounds}")
                return False

        model.set_params(callbacks=[Rounds()])
        try:
            pipeline.fit(features, labels)
        finally:
            model.set_params(callbacks=None)  # a fitted model carries no code
        return pipeline
    if name.startswith("LGBM"):

        def rounds_done(env: Any) -> None:
            if (env.iteration + 1) % PROGRESS_EVERY == 0:
                report(f"{name}: boosting round {env.iteration + 1}/{rounds}")

        pipeline.fit(features, labels, model__callbacks=[rounds_done])
        return pipeline
    return pipeline.fit(features, labels)


def train(table: pa.Table, spec: TrainingSpec, report: Report = quiet) -> TrainedModel:
    """Fit the spec's algorithm (or the best of several, for `auto`) and evaluate it on the
    held-out test rows. The same table and seed give the same model."""
    import numpy as np

    if spec.problem_type is ProblemType.FORECAST:
        from lakehouse.ml.forecasting import train_forecast

        return train_forecast(table, spec, report)
    if spec.problem_type is ProblemType.CLUSTERING:
        from lakehouse.ml.clustering import train_clusters

        return train_clusters(table, spec, report)
    check_algorithm(spec.algorithm, spec.problem_type)
    features, target = training_frame(table, spec)
    classes: list[Any] | None = None
    labels = target.to_numpy()
    if spec.problem_type is ProblemType.CLASSIFICATION:
        classes_array, encoded = np.unique(target.astype(str).to_numpy(), return_inverse=True)
        originals = {str(v): v for v in target.unique()}
        classes = [originals[c] for c in classes_array]
        labels = encoded
    split = split_rows(len(features), spec.seed, test_share=spec.test_share)
    model = fit_and_evaluate(spec, features, labels, classes, split, report)
    model.rows_used = len(features)
    return model


def fit_and_evaluate(
    spec: TrainingSpec,
    features: pd.DataFrame,
    labels: np.ndarray,
    classes: list[Any] | None,
    split: Split,
    report: Report,
) -> TrainedModel:
    """Choose the algorithm, fit on training and validation rows, judge on the test rows."""
    import numpy as np

    key = selection_metric(spec.problem_type)

    def fitted(algorithm: Algorithm, rows: np.ndarray) -> Pipeline:
        report(f"fitting {algorithm.value} on {len(rows)} rows")
        pipeline = model_pipeline(
            algorithm, spec.problem_type, features, spec.seed, spec.hyperparameters
        )
        return fit(pipeline, features.iloc[rows], labels[rows], report)

    def evaluate(pipeline: Pipeline, rows: np.ndarray) -> dict[str, float]:
        subset = features.iloc[rows]
        probabilities = pipeline.predict_proba(subset) if classes is not None else None
        return score(spec.problem_type, labels[rows], pipeline.predict(subset), probabilities)

    candidates: dict[str, float] = {}
    algorithm = spec.algorithm
    if algorithm is Algorithm.AUTO:
        for name in AUTO_CANDIDATES:
            candidate = Algorithm(name)
            candidates[name] = evaluate(fitted(candidate, split.train), split.validation)[key]
            report(f"{name} scored {key}={candidates[name]:.4f} on the validation rows")
        algorithm = Algorithm(max(candidates, key=lambda name: candidates[name]))
        report(f"chose {algorithm.value}")
    curve = []
    if algorithm is not Algorithm.MLP:  # a network's learning curve is its loss per epoch
        for fraction in LEARNING_CURVE:
            rows = split.train[: max(2, int(len(split.train) * fraction))]
            if len(rows) == len(split.train) and algorithm.value in candidates:
                # `auto` fitted it on every training row and scored it: the same fit, the same
                # score, for the same seed
                curve.append((len(rows), candidates[algorithm.value]))
                continue
            curve.append((len(rows), evaluate(fitted(algorithm, rows), split.validation)[key]))
    # The chosen model learns from training and validation rows; the test rows judge it.
    learned = np.concatenate([split.train, split.validation])
    started = time.perf_counter()
    pipeline = fitted(algorithm, learned)
    fit_seconds = time.perf_counter() - started
    model = judged(spec, pipeline, algorithm, features, labels, classes, split, report)
    model.candidates = candidates
    model.fit_seconds = fit_seconds
    losses = [float(v) for v in getattr(pipeline.named_steps["model"], "loss_curve_", [])]
    if model.evaluation is not None:
        model.evaluation = replace(model.evaluation, learning_curve=curve, loss_curve=losses)
    return model


def judged(
    spec: TrainingSpec,
    pipeline: Pipeline,
    algorithm: Algorithm,
    features: pd.DataFrame,
    labels: np.ndarray,
    classes: list[Any] | None,
    split: Split,
    report: Report,
    cross_validate: bool = True,
) -> TrainedModel:
    """A fitted pipeline with its metrics on the test rows."""
    import numpy as np

    test = features.iloc[split.test]
    predicted = pipeline.predict(test)
    probabilities = pipeline.predict_proba(test) if classes is not None else None
    metrics = score(spec.problem_type, labels[split.test], predicted, probabilities)
    confusion = None
    if classes is not None:
        from sklearn.metrics import confusion_matrix

        if cross_validate:
            report("cross-validating")
            learned = np.concatenate([split.train, split.validation])
            metrics.update(
                cross_validated(pipeline, features.iloc[learned], labels[learned], spec.seed)
            )
        confusion = confusion_matrix(
            labels[split.test], predicted, labels=list(range(len(classes)))
        ).tolist()
    return TrainedModel(
        pipeline=pipeline,
        algorithm=algorithm,
        problem_type=spec.problem_type,
        features=list(features.columns),
        classes=classes,
        metrics=metrics,
        confusion_matrix=confusion,
        inputs=feature_inputs(features, pipeline),
        evaluation=Evaluation(
            labels[split.test], predicted, probabilities, [], selection_metric(spec.problem_type)
        ),
    )


def continue_training(
    previous: TrainedModel, table: pa.Table, spec: TrainingSpec, report: Report = quiet
) -> TrainedModel:
    """More boosting rounds on new rows, grown on the previous version's trees. The encoding
    the previous version learned is kept, so its trees read the new rows the same way."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    features, target = training_frame(table, spec)
    features = features[previous.features]
    labels = target.to_numpy()
    if previous.classes is not None:
        index = {str(c): i for i, c in enumerate(previous.classes)}
        unknown = sorted(set(target.astype(str)) - set(index))
        if unknown:
            raise InvalidInputError(
                f"target value '{unknown[0]}' is not a class the previous version knows",
                field="dataset_id",
            )
        labels = np.array([index[str(v)] for v in target])
    split = split_rows(len(features), spec.seed, test_share=spec.test_share)
    learned = np.concatenate([split.train, split.validation])
    prepare = previous.pipeline.named_steps["prepare"]
    before = previous.pipeline.named_steps["model"]
    after = clone(before)
    encoded = prepare.transform(features.iloc[learned])
    report(f"continuing {previous.algorithm.value} on {len(learned)} new rows")
    if previous.algorithm is Algorithm.XGBOOST:
        after.fit(encoded, labels[learned], xgb_model=before.get_booster())
    elif previous.algorithm is Algorithm.LIGHTGBM:
        after.fit(encoded, labels[learned], init_model=before.booster_)
    else:
        raise ValueError(f"{previous.algorithm.value} does not continue training")
    pipeline = Pipeline([("prepare", prepare), ("model", after)])
    model = judged(
        spec,
        pipeline,
        previous.algorithm,
        features,
        labels,
        previous.classes,
        split,
        report,
        cross_validate=False,
    )
    model.rows_used = len(features)
    return model


def feature_inputs(features: pd.DataFrame, pipeline: Pipeline) -> list[FeatureInput]:
    """Each feature's type; it is optional when training saw it missing, and then a numeric
    feature defaults to the median the model imputes."""
    from lakehouse.data.templates import ColumnType

    kinds = {"b": ColumnType.BOOLEAN, "i": ColumnType.INTEGER, "u": ColumnType.INTEGER}
    kinds |= {"f": ColumnType.FLOAT, "M": ColumnType.DATETIME}
    medians: dict[str, float] = {}
    for name, transformer, columns in pipeline.named_steps["prepare"].transformers_:
        if name == "numeric" and columns:
            statistics = transformer.named_steps["simpleimputer"].statistics_
            medians = dict(zip(columns, map(float, statistics), strict=True))
    return [
        FeatureInput(
            column_name=name,
            data_type=kinds.get(features[name].dtype.kind, ColumnType.STRING).value,
            required=not bool(features[name].isna().any()),
            default_value=medians.get(name),
        )
        for name in features.columns
    ]
