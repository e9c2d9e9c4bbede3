"""The orchestrator profile's uplets done by Strata's engine: learnuplets trained into models,
preduplets scored into stored predictions, each on a dynamic partition keyed by its uuid."""

import dagster as dg

from assets.recording import recording_failure
from lakehouse.profiles.ledger_engine import LEARNUPLET, PREDUPLET, LedgerTask, report_failure
from lakehouse.profiles.ledger_learning import learn
from lakehouse.profiles.ledger_prediction import predict
from lakehouse.runs import LEARNUPLET_PARTITIONS, PREDUPLET_PARTITIONS
from resources import LakehouseResource

learnuplets_partitions = dg.DynamicPartitionsDefinition(name=LEARNUPLET_PARTITIONS)
preduplets_partitions = dg.DynamicPartitionsDefinition(name=PREDUPLET_PARTITIONS)


class UpletConfig(dg.Config):
    tenant_id: str


@dg.asset(group_name="ledger", partitions_def=learnuplets_partitions, kinds={"mlflow", "xgboost"})
def ledger_model(
    context: dg.AssetExecutionContext, config: UpletConfig, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """A learnuplet's model_end: its algo trained on its data from its model_start, registered
    in MLflow, scored on the problem's test data and reported to the ledger."""
    task = LedgerTask(LEARNUPLET, config.tenant_id, context.partition_key)
    store = lakehouse.store()
    learned = recording_failure(
        lambda error: report_failure(store, task, error),
        lambda: learn(store, lakehouse.catalog(), lakehouse.settings, task, context.log.info),
    )
    return dg.MaterializeResult(
        metadata={
            "model_version": dg.MetadataValue.int(learned.version),
            "perf": dg.MetadataValue.float(learned.perf),
        }
    )


@dg.asset(group_name="ledger", partitions_def=preduplets_partitions, kinds={"mlflow", "csv"})
def ledger_predictions(
    context: dg.AssetExecutionContext, config: UpletConfig, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """A preduplet's predictions: its model applied to its data's validated rows, stored as a
    CSV under its prediction_storage_uuid and reported to the ledger."""
    task = LedgerTask(PREDUPLET, config.tenant_id, context.partition_key)
    store = lakehouse.store()
    predicted = recording_failure(
        lambda error: report_failure(store, task, error),
        lambda: predict(store, lakehouse.catalog(), lakehouse.settings, task, context.log.info),
    )
    return dg.MaterializeResult(
        metadata={
            "prediction_storage_uuid": dg.MetadataValue.text(predicted.storage_uuid),
            "row_count": dg.MetadataValue.int(predicted.rows),
        }
    )
