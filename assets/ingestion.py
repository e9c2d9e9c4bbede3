"""Ingestion assets: one dynamic partition per dataset, keyed by the dataset's id."""

import dagster as dg

from assets.recording import recording_failure
from lakehouse.data.ingest import (
    land_bronze,
    land_silver,
    land_statistics,
    mark_failed,
    mark_running,
)
from lakehouse.runs import DATASET_PARTITIONS
from resources import LakehouseResource

datasets_partitions = dg.DynamicPartitionsDefinition(name=DATASET_PARTITIONS)


@dg.asset(group_name="ingestion", partitions_def=datasets_partitions, kinds={"iceberg"})
def bronze(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Every uploaded file of the dataset, rows as read, in the Iceberg table bronze.<table>."""
    dataset_id = int(context.partition_key)
    mark_running(lakehouse.store(), dataset_id, context.run_id)
    result = recording_failure(
        lambda error: mark_failed(lakehouse.store(), dataset_id, error),
        lambda: land_bronze(
            lakehouse.store(), lakehouse.landing(), lakehouse.catalog(), dataset_id
        ),
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
    group_name="ingestion",
    partitions_def=datasets_partitions,
    deps=[bronze],
    kinds={"iceberg", "great_expectations"},
    check_specs=[
        dg.AssetCheckSpec("rows_pass_template", asset="silver"),
        dg.AssetCheckSpec("template_columns_present", asset="silver"),
    ],
)
def silver(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Bronze rows typed and validated against the template; failing rows go to the rejects."""
    dataset_id = int(context.partition_key)
    result = recording_failure(
        lambda error: mark_failed(lakehouse.store(), dataset_id, error),
        lambda: land_silver(
            lakehouse.store(),
            lakehouse.catalog(),
            dataset_id,
            lakehouse.settings.valid_usability,
        ),
    )
    context.log.info(
        f"{result.row_count} rows passed into {result.table}, "
        f"{result.reject_count} rejected into {result.rejects_table}"
    )
    return dg.MaterializeResult(
        metadata={
            "table": result.table,
            "row_count": dg.MetadataValue.int(result.row_count),
            "reject_count": dg.MetadataValue.int(result.reject_count),
            "usability": dg.MetadataValue.float(result.usability),
            "snapshot_id": dg.MetadataValue.text(str(result.snapshot_id)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="rows_pass_template",
                passed=result.reject_count == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "reject_count": result.reject_count,
                    "rejects_table": result.rejects_table,
                },
            ),
            dg.AssetCheckResult(
                check_name="template_columns_present",
                passed=not result.missing_columns,
                metadata={"missing_columns": ", ".join(result.missing_columns) or "none"},
            ),
        ],
    )


@dg.asset(
    group_name="ingestion", partitions_def=datasets_partitions, deps=[silver], kinds={"iceberg"}
)
def statistics(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Per-column statistics of the validated rows, in the Iceberg table gold.<table>__stats."""
    dataset_id = int(context.partition_key)
    result = land_statistics(lakehouse.store(), lakehouse.catalog(), dataset_id)
    context.log.info(f"wrote statistics of {result.row_count} columns to {result.table}")
    return dg.MaterializeResult(
        metadata={
            "table": result.table,
            "columns": dg.MetadataValue.int(result.row_count),
            "snapshot_id": dg.MetadataValue.text(str(result.snapshot_id)),
        }
    )
