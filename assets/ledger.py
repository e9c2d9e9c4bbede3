"""The orchestrator profile's learnuplets trained by Strata's engine: one dynamic partition per
learnuplet, keyed by its uuid."""

import dagster as dg

from assets.recording import recording_failure
from lakehouse.profiles.ledger_engine import LedgerTask, learn, report_failure
from lakehouse.runs import LEARNUPLET_PARTITIONS
from resources import LakehouseResource

learnuplets_partitions = dg.DynamicPartitionsDefinition(name=LEARNUPLET_PARTITIONS)


class LearnupletConfig(dg.Config):
    tenant_id: str


@dg.asset(group_name="ledger", partitions_def=learnuplets_partitions, kinds={"mlflow", "xgboost"})
def ledger_model(
    context: dg.AssetExecutionContext, config: LearnupletConfig, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """A learnuplet's model_end: its algo trained on its data from its model_start, registered
    in MLflow, scored on the problem's test data and reported to the ledger."""
    task = LedgerTask(config.tenant_id, context.partition_key)
    store = lakehouse.store()
    learned = recording_failure(
        lambda _error: report_failure(store, task),
        lambda: learn(store, lakehouse.catalog(), lakehouse.settings, task, context.log.info),
    )
    return dg.MaterializeResult(
        metadata={
            "model_version": dg.MetadataValue.int(learned.version),
            "perf": dg.MetadataValue.float(learned.perf),
        }
    )
