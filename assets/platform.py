"""Platform assets: the self-check that proves runs can write and read Iceberg tables."""

import dagster as dg
from pydantic import Field

from lakehouse.lake.selfcheck import run_selfcheck
from resources import LakehouseResource


class SelfCheckConfig(dg.Config):
    rows: int = Field(100, ge=1, le=1_000_000, description="Rows to write and read back.")
    hold_seconds: float = Field(
        0.0, ge=0, le=3600, description="Seconds to wait between write and read."
    )


@dg.asset(group_name="platform", key_prefix="platform", kinds={"iceberg"})
def selfcheck(
    context: dg.AssetExecutionContext, config: SelfCheckConfig, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Rows written to the Iceberg table platform.selfcheck and read back unchanged."""
    context.log.info(f"writing {config.rows} rows to platform.selfcheck")
    result = run_selfcheck(
        lakehouse.settings,
        check_id=context.run_id,
        rows=config.rows,
        hold_seconds=config.hold_seconds,
        tick=lambda left: context.log.info(f"holding before read-back, {left:.1f}s left"),
    )
    context.log.info(f"read back {result.rows_read} rows from snapshot {result.snapshot_id}")
    return dg.MaterializeResult(
        metadata={
            "table": result.table,
            "row_count": dg.MetadataValue.int(result.rows_read),
            "snapshot_id": dg.MetadataValue.text(str(result.snapshot_id)),
        }
    )
