"""Ingestion assets: one dynamic partition per dataset, keyed by the dataset's id."""

import dagster as dg

from lakehouse.ingest import land_bronze
from pipelines.names import DATASET_PARTITIONS
from resources import LakehouseResource

datasets_partitions = dg.DynamicPartitionsDefinition(name=DATASET_PARTITIONS)


@dg.asset(group_name="ingestion", partitions_def=datasets_partitions, kinds={"iceberg"})
def bronze(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Every uploaded file of the dataset, rows as read, in the Iceberg table bronze.<table>."""
    dataset_id = int(context.partition_key)
    result = land_bronze(lakehouse.store(), lakehouse.landing(), lakehouse.catalog(), dataset_id)
    context.log.info(f"wrote {result.row_count} rows to {result.table}")
    return dg.MaterializeResult(
        metadata={
            "table": result.table,
            "row_count": dg.MetadataValue.int(result.row_count),
            "snapshot_id": dg.MetadataValue.text(str(result.snapshot_id)),
        }
    )
