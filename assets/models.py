"""Model assets: one dynamic partition per predictor, keyed by the predictor's id."""

from collections.abc import Callable

import dagster as dg

from assets.ingestion import SILVER
from assets.recording import recording_failure
from lakehouse.ml.tuning import Tuning
from lakehouse.predictors.batch import mark_prediction_failed, score_dataset
from lakehouse.predictors.evaluation import evaluate_predictor
from lakehouse.predictors.records import record_state
from lakehouse.predictors.steps import explain_predictor, land_features, train_predictor
from lakehouse.predictors.tuning import event_message, tune_predictor
from lakehouse.runs import PREDICTOR_PARTITIONS
from lakehouse.states import WorkState
from resources import LakehouseResource

predictors_partitions = dg.DynamicPartitionsDefinition(name=PREDICTOR_PARTITIONS)


class BatchPredictionConfig(dg.Config):
    prediction_id: int


class TuningConfig(dg.Config):
    metric: str
    n_trials: int
    sampler: str = "tpe"
    timeout_seconds: float = 600.0
    keys: list[str]


def training_failed(lakehouse: LakehouseResource, predictor_id: int) -> Callable[[str], None]:
    return lambda error: record_state(
        lakehouse.store(),
        predictor_id,
        training_status=WorkState.FAILED,
        training_error=error[:4000],
    )


@dg.asset(
    group_name="models",
    partitions_def=predictors_partitions,
    # A predictor reads the validated table of one dataset, whichever partition that is.
    deps=[dg.AssetDep(SILVER, partition_mapping=dg.AllPartitionMapping())],
    kinds={"iceberg"},
)
def predictor_features(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """The predictor's columns of its dataset's validated rows: gold.<predictor>__features."""
    predictor_id = int(context.partition_key)
    record_state(
        lakehouse.store(),
        predictor_id,
        training_status=WorkState.RUNNING,
        training_error=None,
        last_run_id=context.run_id,
    )
    result = recording_failure(
        training_failed(lakehouse, predictor_id),
        lambda: land_features(lakehouse.store(), lakehouse.catalog(), predictor_id),
    )
    context.log.info(f"wrote {result.row_count} rows to {result.table}")
    return dg.MaterializeResult(
        metadata={
            "table": result.table,
            "row_count": dg.MetadataValue.int(result.row_count),
            "snapshot_id": dg.MetadataValue.text(str(result.snapshot_id)),
        }
    )


@dg.asset(
    group_name="models",
    partitions_def=predictors_partitions,
    deps=[predictor_features],
    kinds={"mlflow", "scikitlearn"},
)
def predictor_model(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """The predictor's model, trained on its feature table, logged and registered in MLflow."""
    predictor_id = int(context.partition_key)
    record_state(lakehouse.store(), predictor_id, training_status=WorkState.RUNNING)
    result = recording_failure(
        training_failed(lakehouse, predictor_id),
        lambda: train_predictor(
            lakehouse.store(),
            lakehouse.catalog(),
            lakehouse.settings,
            predictor_id,
            context.log.info,
        ),
    )
    return dg.MaterializeResult(
        metadata={
            "mlflow_run_id": dg.MetadataValue.text(result.run_id),
            "model_version": dg.MetadataValue.int(result.version),
            "algorithm": dg.MetadataValue.text(result.algorithm),
            **{name: dg.MetadataValue.float(value) for name, value in result.metrics.items()},
        }
    )


@dg.asset(
    group_name="models",
    partitions_def=predictors_partitions,
    deps=[predictor_model],
    kinds={"iceberg", "shap"},
)
def predictor_shap(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Mean |SHAP| per feature of the current model version: gold.<predictor>__shap."""
    predictor_id = int(context.partition_key)
    store = lakehouse.store()
    record_state(
        store, predictor_id, shap=True, shap_status=WorkState.RUNNING, shap_run_id=context.run_id
    )
    result = recording_failure(
        lambda error: record_state(
            store, predictor_id, shap=True, shap_status=WorkState.FAILED, shap_error=error[:4000]
        ),
        lambda: explain_predictor(
            store, lakehouse.catalog(), lakehouse.settings, predictor_id, context.log.info
        ),
    )
    return dg.MaterializeResult(
        metadata={
            "table": result.table,
            "features": dg.MetadataValue.int(result.row_count),
            "snapshot_id": dg.MetadataValue.text(str(result.snapshot_id)),
        }
    )


@dg.asset(
    group_name="models",
    partitions_def=predictors_partitions,
    deps=[predictor_model],
    kinds={"mlflow", "scikitlearn", "shap"},
)
def predictor_evaluation(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """The current model version looked at closely on its test rows: confusion matrix, ROC
    curves, importance, learning curve, cross-validation, SHAP values of a sample and error
    analysis, kept with the training's MLflow run."""
    predictor_id = int(context.partition_key)
    store = lakehouse.store()
    record_state(
        store,
        predictor_id,
        shap=True,
        evaluation_status=WorkState.RUNNING,
        evaluation_error=None,
        evaluation_run_id=context.run_id,
    )
    metrics = recording_failure(
        lambda error: record_state(
            store,
            predictor_id,
            shap=True,
            evaluation_status=WorkState.FAILED,
            evaluation_error=error[:4000],
        ),
        lambda: evaluate_predictor(
            store, lakehouse.catalog(), lakehouse.settings, predictor_id, context.log.info
        ),
    )
    return dg.MaterializeResult(
        metadata={
            name: dg.MetadataValue.float(float(value))
            for name, value in metrics.items()
            if isinstance(value, int | float)
        }
    )


@dg.asset(
    group_name="models",
    partitions_def=predictors_partitions,
    deps=[predictor_model],
    kinds={"optuna", "mlflow"},
)
def predictor_tuning(
    context: dg.AssetExecutionContext, config: TuningConfig, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """An Optuna study of the predictor's hyperparameters, each trial cross-validated and
    logged as it ends; the study is kept with the training's MLflow run."""
    tuning = Tuning(config.metric, config.n_trials, config.sampler, config.timeout_seconds)
    tuned = recording_failure(
        lambda error: context.log.error(event_message({"type": "error", "message": error})),
        lambda: tune_predictor(
            lakehouse.store(),
            lakehouse.catalog(),
            lakehouse.settings,
            int(context.partition_key),
            tuning,
            config.keys,
            context.run_id,
            context.log.info,
        ),
    )
    return dg.MaterializeResult(
        metadata={
            "metric": config.metric,
            "best_value": dg.MetadataValue.float(tuned.best_value),
            "best_params": dg.MetadataValue.json(tuned.best_params),
            "trials": dg.MetadataValue.int(len(tuned.trials)),
        }
    )


@dg.asset(
    group_name="models",
    partitions_def=predictors_partitions,
    deps=[predictor_model],
    kinds={"iceberg"},
)
def batch_predictions(
    context: dg.AssetExecutionContext,
    config: BatchPredictionConfig,
    lakehouse: LakehouseResource,
) -> dg.MaterializeResult:
    """A dataset scored by the predictor's model: gold.<predictor>__predictions and a CSV."""
    store = lakehouse.store()
    result = recording_failure(
        lambda error: mark_prediction_failed(store, config.prediction_id, error),
        lambda: score_dataset(
            store,
            lakehouse.catalog(),
            lakehouse.settings,
            config.prediction_id,
            context.log.info,
        ),
    )
    context.log.info(f"wrote {result.row_count} predictions to {result.table}")
    return dg.MaterializeResult(
        metadata={
            "table": result.table,
            "prediction_id": dg.MetadataValue.int(config.prediction_id),
            "row_count": dg.MetadataValue.int(result.row_count),
            "snapshot_id": dg.MetadataValue.text(str(result.snapshot_id)),
        }
    )
