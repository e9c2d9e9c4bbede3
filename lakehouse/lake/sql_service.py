"""Read-only SQL for a tenant's users: checked (`lakehouse.lake.sql`), run by the configured
query engine with a time limit, at most `sql_max_rows` rows answered, and answers reused for
a while. An answer is reused only while every table it read is at the snapshot it read, so a
new upload is seen at once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from lakehouse.errors import ConflictError
from lakehouse.lake.catalog import load_table_or_none
from lakehouse.lake.naming import TableRef
from lakehouse.lake.query import ColumnInfo, QueryEngine
from lakehouse.lake.sql import SqlLimits, read_only_query
from lakehouse.settings import Settings

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


@dataclass(frozen=True)
class SqlAnswer:
    query_id: str
    sql: str
    """The query as checked and run: the caller's table names, and its LIMIT."""
    columns: list[ColumnInfo]
    rows: list[tuple[Any, ...]]
    execution_ms: float
    cached: bool
    cached_at: datetime | None


class SqlService:
    def __init__(
        self,
        settings: Settings,
        catalog: Callable[[], Catalog],
        engine: Callable[[], QueryEngine],
    ) -> None:
        self.limits = SqlLimits(
            settings.sql_default_limit, settings.sql_max_rows, settings.sql_timeout_seconds
        )
        self._catalog, self._engine = catalog, engine
        self._cache: TTLCache[tuple[Any, ...], SqlAnswer] | None = (
            TTLCache(maxsize=settings.sql_cache_entries, ttl=settings.sql_cache_seconds)
            if settings.sql_cache_entries > 0 and settings.sql_cache_seconds > 0
            else None
        )
        self._lock = threading.Lock()

    def run(self, tenant_id: str, sql: str, readable: Mapping[str, TableRef]) -> SqlAnswer:
        """`sql` over the tables of `readable` (the caller's names of the tenant's tables)."""
        engine = self._engine()
        query = read_only_query(sql, readable, self.limits, engine.dialect)
        tables = {}
        for name in sorted(query.tables):
            table = load_table_or_none(self._catalog(), readable[name])
            if table is None:
                raise ConflictError(f"Table {name} has no rows yet", field="sql")
            tables[name] = (table, readable[name])
        checked = query.tree.sql(dialect=query.dialect)
        snapshots = tuple(
            (name, snapshot.snapshot_id if (snapshot := table.current_snapshot()) else None)
            for name, (table, _ref) in tables.items()
        )
        key = (tenant_id, query.dialect, checked, snapshots)
        if self._cache is not None:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None:
                return replace(hit, query_id=str(uuid.uuid4()), cached=True)
        started = time.perf_counter()
        result = engine.run_query(query, tables, self.limits.timeout_seconds)
        answer = SqlAnswer(
            query_id=str(uuid.uuid4()),
            sql=checked,
            columns=result.columns,
            rows=result.rows[: self.limits.max_rows],
            execution_ms=round((time.perf_counter() - started) * 1000, 2),
            cached=False,
            cached_at=datetime.now(UTC),
        )
        if self._cache is not None:
            with self._lock:
                self._cache[key] = answer
        return answer
