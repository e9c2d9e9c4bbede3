"""Ingestion assets: one dynamic partition per dataset, keyed by the dataset's id."""

from collections.abc import Iterator

import dagster as dg

from assets.recording import recording_failure
from lakehouse.data.ingest import (
    LayerResult,
    SilverResult,
    land_bronze,
    land_dataset,
    land_silver,
    land_statistics,
    mark_failed,
    mark_running,
)
from lakehouse.runs import DATASET_PARTITIONS
from resources import LakehouseResource

datasets_partitions = dg.DynamicPartitionsDefinition(name=DATASET_PARTITIONS)


BRONZE = dg.AssetKey("bronze")
SILVER = dg.AssetKey("silver")


@dg.multi_asset(
    group_name="ingestion",
    partitions_def=datasets_partitions,
    specs=[
        dg.AssetSpec(
            BRONZE,
            description="Every uploaded file of the dataset, rows as read, in the Iceberg "
            "table bronze.<table>.",
            kinds={"iceberg"},
            skippable=True,
        ),
        dg.AssetSpec(
            SILVER,
            description="Bronze rows typed and validated against the template; failing rows "
            "go to the rejects.",
            deps=[BRONZE],
            kinds={"iceberg", "great_expectations"},
            skippable=True,
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec("rows_pass_template", asset=SILVER),
        dg.AssetCheckSpec("template_columns_present", asset=SILVER),
    ],
    can_subset=True,
)
def ingestion(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource
) -> Iterator[dg.MaterializeResult]:
    """Bronze and silver in one pass over the landed files; either alone when only it is
    selected (silver then reads the bronze table)."""
    dataset_id = int(context.partition_key)
    selected = context.selected_asset_keys
    store, catalog = lakehouse.store(), lakehouse.catalog()
    mark_running(store, dataset_id, context.run_id)

    def work() -> tuple[LayerResult | None, SilverResult | None]:
        if selected >= {BRONZE, SILVER}:
            return land_dataset(
                store, lakehouse.landing(), catalog, dataset_id, lakehouse.settings.valid_usability
            )
        if BRONZE in selected:
            return land_bronze(store, lakehouse.landing(), catalog, dataset_id), None
        return None, land_silver(store, catalog, dataset_id, lakehouse.settings.valid_usability)

    bronze, silver = recording_failure(lambda error: mark_failed(store, dataset_id, error), work)
    if bronze is not None:
        context.log.info(f"wrote {bronze.row_count} rows to {bronze.table}")
        yield dg.MaterializeResult(
            asset_key=BRONZE,
            metadata={
                "table": bronze.table,
                "row_count": dg.MetadataValue.int(bronze.row_count),
                "snapshot_id": dg.MetadataValue.text(str(bronze.snapshot_id)),
            },
        )
    if silver is not None:
        yield silver_materialization(context, silver)


def silver_materialization(
    context: dg.AssetExecutionContext, result: SilverResult
) -> dg.MaterializeResult:
    context.log.info(
        f"{result.row_count} rows passed into {result.table}, "
        f"{result.reject_count} rejected into {result.rejects_table}"
    )
    return dg.MaterializeResult(
        asset_key=SILVER,
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
    group_name="ingestion", partitions_def=datasets_partitions, deps=[SILVER], kinds={"iceberg"}
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
