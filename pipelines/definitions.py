"""Strata's one Dagster Definitions object; the code location the UI, daemon and workers load."""

from __future__ import annotations

import dagster as dg

from assets.ingestion import datasets_partitions, ingestion, statistics
from assets.ledger import (
    learnuplets_partitions,
    ledger_model,
    ledger_predictions,
    preduplets_partitions,
)
from assets.models import (
    batch_predictions,
    predictor_evaluation,
    predictor_features,
    predictor_model,
    predictor_shap,
    predictor_tuning,
    predictors_partitions,
)
from assets.platform import selfcheck
from lakehouse.runs import (
    BATCH_PREDICTION_JOB,
    DATASET_INGESTION_JOB,
    DATASET_STATISTICS_JOB,
    LEDGER_LEARNING_JOB,
    LEDGER_PREDICTION_JOB,
    PREDICTOR_EVALUATION_JOB,
    PREDICTOR_SHAP_JOB,
    PREDICTOR_TRAINING_JOB,
    PREDICTOR_TRAINING_SHAP_JOB,
    PREDICTOR_TUNING_JOB,
    SELFCHECK_JOB,
)
from resources import LakehouseResource

platform_selfcheck_job = dg.define_asset_job(
    SELFCHECK_JOB,
    selection=[selfcheck],
    description="Write rows to an Iceberg table and read them back.",
    executor_def=dg.in_process_executor,
)

dataset_ingestion_job = dg.define_asset_job(
    DATASET_INGESTION_JOB,
    selection=[ingestion],
    partitions_def=datasets_partitions,
    description="Land a dataset's uploaded files as Iceberg tables.",
    executor_def=dg.in_process_executor,
)

dataset_statistics_job = dg.define_asset_job(
    DATASET_STATISTICS_JOB,
    selection=[statistics],
    partitions_def=datasets_partitions,
    description="Compute per-column statistics of a dataset's validated rows.",
    executor_def=dg.in_process_executor,
)

predictor_training_job = dg.define_asset_job(
    PREDICTOR_TRAINING_JOB,
    selection=[predictor_features, predictor_model],
    partitions_def=predictors_partitions,
    description="Build a predictor's feature table, train its model and register it in MLflow.",
    executor_def=dg.in_process_executor,
)

predictor_training_shap_job = dg.define_asset_job(
    PREDICTOR_TRAINING_SHAP_JOB,
    selection=[predictor_features, predictor_model, predictor_shap],
    partitions_def=predictors_partitions,
    description="Train a predictor as predictor_training_job does, then explain it with SHAP.",
    executor_def=dg.in_process_executor,
)

predictor_shap_job = dg.define_asset_job(
    PREDICTOR_SHAP_JOB,
    selection=[predictor_shap],
    partitions_def=predictors_partitions,
    description="Explain a predictor's current model version with SHAP.",
    executor_def=dg.in_process_executor,
)

predictor_evaluation_job = dg.define_asset_job(
    PREDICTOR_EVALUATION_JOB,
    selection=[predictor_evaluation],
    partitions_def=predictors_partitions,
    description="Evaluate a predictor's current model version, explain it and analyse its errors.",
    executor_def=dg.in_process_executor,
)

predictor_tuning_job = dg.define_asset_job(
    PREDICTOR_TUNING_JOB,
    selection=[predictor_tuning],
    partitions_def=predictors_partitions,
    description="Tune a predictor's hyperparameters with Optuna, trial by trial.",
    executor_def=dg.in_process_executor,
)

batch_prediction_job = dg.define_asset_job(
    BATCH_PREDICTION_JOB,
    selection=[batch_predictions],
    partitions_def=predictors_partitions,
    description="Score a dataset with a predictor's current model version.",
    executor_def=dg.in_process_executor,
)

ledger_learning_job = dg.define_asset_job(
    LEDGER_LEARNING_JOB,
    selection=[ledger_model],
    partitions_def=learnuplets_partitions,
    description="Train a learnuplet of the orchestrator profile's ledger and report it.",
    executor_def=dg.in_process_executor,
)

ledger_prediction_job = dg.define_asset_job(
    LEDGER_PREDICTION_JOB,
    selection=[ledger_predictions],
    partitions_def=preduplets_partitions,
    description="Score a preduplet of the orchestrator profile's ledger, store and report it.",
    executor_def=dg.in_process_executor,
)

defs = dg.Definitions(
    assets=[
        selfcheck,
        ingestion,
        statistics,
        predictor_features,
        predictor_model,
        predictor_shap,
        predictor_evaluation,
        predictor_tuning,
        batch_predictions,
        ledger_model,
        ledger_predictions,
    ],
    jobs=[
        platform_selfcheck_job,
        dataset_ingestion_job,
        dataset_statistics_job,
        predictor_training_job,
        predictor_training_shap_job,
        predictor_shap_job,
        predictor_evaluation_job,
        predictor_tuning_job,
        batch_prediction_job,
        ledger_learning_job,
        ledger_prediction_job,
    ],
    resources={"lakehouse": LakehouseResource()},
)


def job_named(name: str) -> dg.JobDefinition:
    """The job called `name`; workers rebuild jobs through this function."""
    return defs.resolve_job_def(name)
