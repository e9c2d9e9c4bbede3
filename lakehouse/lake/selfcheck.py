"""Platform self-check: write rows to an Iceberg table and read them back unchanged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from lakehouse.errors import StrataError
from lakehouse.lake.catalog import ensure_namespace, open_catalog
from lakehouse.settings import Settings

NAMESPACE = "platform"
TABLE = "selfcheck"


@dataclass(frozen=True)
class SelfCheckResult:
    table: str
    rows_written: int
    rows_read: int
    snapshot_id: int


def run_selfcheck(
    settings: Settings,
    check_id: str,
    rows: int,
    hold_seconds: float = 0.0,
    tick: Callable[[float], None] | None = None,
) -> SelfCheckResult:
    """Append `rows` rows tagged `check_id`, hold, read them back and compare."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyiceberg.exceptions import TableAlreadyExistsError
    from pyiceberg.expressions import EqualTo

    written = pa.table(
        {
            "check_id": pa.array([check_id] * rows, pa.string()),
            "seq": pa.array(range(rows), pa.int64()),
            "value": pa.array([i * 0.5 for i in range(rows)], pa.float64()),
            "written_at": pa.array([datetime.now(UTC)] * rows, pa.timestamp("us", tz="UTC")),
        }
    )
    catalog = open_catalog(settings)
    ensure_namespace(catalog, NAMESPACE)
    identifier = f"{NAMESPACE}.{TABLE}"
    try:
        table = catalog.create_table(identifier, schema=written.schema)
    except TableAlreadyExistsError:
        table = catalog.load_table(identifier)
    table.append(written)

    deadline = time.monotonic() + hold_seconds
    while (left := deadline - time.monotonic()) > 0:
        if tick is not None:
            tick(left)
        time.sleep(min(left, 0.5))

    table = catalog.load_table(identifier)
    # mypy's pydantic plugin misreads EqualTo's own __init__(term, literal).
    only_this_check = cast(Any, EqualTo)("check_id", check_id)
    read = table.scan(row_filter=only_this_check).to_arrow().sort_by("seq")
    snapshot = table.current_snapshot()
    if read.num_rows != rows or not pc.all(pc.equal(read["value"], written["value"])).as_py():
        raise StrataError(f"self-check read back {read.num_rows} rows, wrote {rows}")
    return SelfCheckResult(
        table=identifier,
        rows_written=rows,
        rows_read=read.num_rows,
        snapshot_id=snapshot.snapshot_id if snapshot else 0,
    )
