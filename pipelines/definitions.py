"""Strata's one Dagster Definitions object; the code location the UI, daemon and workers load."""

from __future__ import annotations

import dagster as dg

from assets.ingestion import bronze, datasets_partitions, silver, statistics
from assets.platform import selfcheck
from pipelines.names import DATASET_INGESTION_JOB, DATASET_STATISTICS_JOB, SELFCHECK_JOB
from resources import LakehouseResource

platform_selfcheck_job = dg.define_asset_job(
    SELFCHECK_JOB,
    selection=[selfcheck],
    description="Write rows to an Iceberg table and read them back.",
    executor_def=dg.in_process_executor,
)

dataset_ingestion_job = dg.define_asset_job(
    DATASET_INGESTION_JOB,
    selection=[bronze, silver],
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

defs = dg.Definitions(
    assets=[selfcheck, bronze, silver, statistics],
    jobs=[platform_selfcheck_job, dataset_ingestion_job, dataset_statistics_job],
    resources={"lakehouse": LakehouseResource()},
)


def job_named(name: str) -> dg.JobDefinition:
    """The job called `name`; workers rebuild jobs through this function."""
    return defs.resolve_job_def(name)
