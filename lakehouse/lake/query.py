"""Query engines that scan the lakehouse's tables: embedded DuckDB, or Trino, by settings.

Callers resolve identifiers against the Iceberg catalog first (see `lakehouse.lake.datalake`);
an engine is only ever handed a table the catalog knows and a column of its schema, and
builds its SQL with sqlglot, quoting every identifier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from sqlglot import exp

from lakehouse.errors import ServiceUnavailableError
from lakehouse.lake.naming import TableRef
from lakehouse.settings import Settings

if TYPE_CHECKING:
    from pyiceberg.table import Table

log = logging.getLogger("strata.query")


@dataclass(frozen=True)
class NumericStats:
    column: str
    count: int
    mean: float | None
    std_dev: float | None
    min: float | None
    max: float | None
    median: float | None


class QueryEngine(Protocol):
    """What the datalake endpoints ask of an engine: aggregates over one column of one table."""

    def numeric_stats(self, table: Table, ref: TableRef, column: str) -> NumericStats: ...

    def distinct_count(self, table: Table, ref: TableRef, column: str) -> int: ...

    def close(self) -> None: ...


def numeric_stats_query(source: exp.Expression, column: str, median: exp.Expression) -> exp.Select:
    value = exp.column(column, quoted=True)
    return exp.select(
        exp.Count(this=value),
        exp.Avg(this=value),
        exp.StddevSamp(this=value),
        exp.Min(this=value),
        exp.Max(this=value),
        median,
    ).from_(source)


def distinct_count_query(source: exp.Expression, column: str) -> exp.Select:
    value = exp.column(column, quoted=True)
    return exp.select(exp.Count(this=exp.Distinct(expressions=[value]))).from_(source)


def as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def stats_from_row(column: str, row: tuple[Any, ...] | list[Any] | None) -> NumericStats:
    count, mean, std_dev, low, high, median = row if row is not None else (0,) + (None,) * 5
    return NumericStats(
        column=column,
        count=int(count),
        mean=as_float(mean),
        std_dev=as_float(std_dev),
        min=as_float(low),
        max=as_float(high),
        median=as_float(median),
    )


class EmbeddedEngine:
    """DuckDB over the files a PyIceberg scan plans.

    When DuckDB can read the planned Parquet files as they are (local warehouse, no delete
    files, a schema that never evolved, so names are field ids), it reads them itself, in
    parallel and with column pruning. Otherwise PyIceberg does the scan, resolving deletes
    and schema evolution, and DuckDB aggregates the Arrow batches it streams.

    One in-memory DuckDB database serves every query, each on a cursor of its own.
    """

    FILES = "files"
    ARROW = "scan"

    def __init__(self) -> None:
        import duckdb

        self._database = duckdb.connect()

    def numeric_stats(self, table: Table, ref: TableRef, column: str) -> NumericStats:
        median = exp.Median(this=exp.column(column, quoted=True))
        return stats_from_row(
            column,
            self._fetch_one(
                table, column, lambda source: numeric_stats_query(source, column, median)
            ),
        )

    def distinct_count(self, table: Table, ref: TableRef, column: str) -> int:
        row = self._fetch_one(table, column, lambda source: distinct_count_query(source, column))
        return int(row[0]) if row is not None else 0

    def close(self) -> None:
        self._database.close()

    def _fetch_one(
        self, table: Table, column: str, query: Callable[[exp.Expression], exp.Select]
    ) -> tuple[Any, ...] | None:
        import duckdb
        import pyarrow as pa

        try:
            return self._query(table, column, query)
        except (OSError, duckdb.Error, pa.ArrowException) as exc:
            # The detail names warehouse paths: it goes to the log, not to the client.
            log.warning("reading %s failed: %s", ".".join(table.name()), exc)
            raise ServiceUnavailableError(
                f"the data files of {'.'.join(table.name()[-2:])} could not be read"
            ) from exc

    def _query(
        self, table: Table, column: str, query: Callable[[exp.Expression], exp.Select]
    ) -> tuple[Any, ...] | None:
        from pyiceberg.schema import make_compatible_name

        scan = table.scan(selected_fields=(column,))
        tasks = list(scan.plan_files())
        paths = [task.file.file_path for task in tasks]
        direct = (
            # PyIceberg writes names Avro cannot hold (`Unit Price`) under an encoded name.
            make_compatible_name(column) == column
            and len(table.metadata.schemas) == 1
            and all(not task.delete_files for task in tasks)
            and all(path.startswith("file://") for path in paths)
        )
        with self._database.cursor() as cursor:
            if direct and paths:
                files = [unquote(urlparse(path).path) for path in paths]
                source = exp.Anonymous(
                    this="read_parquet", expressions=[exp.Placeholder(this=self.FILES)]
                )
                sql = query(source).sql("duckdb")
                return cursor.execute(sql, {self.FILES: files}).fetchone()
            cursor.register(self.ARROW, scan.to_arrow_batch_reader())
            return cursor.execute(query(exp.to_identifier(self.ARROW)).sql("duckdb")).fetchone()


class TrinoEngine:
    """Trino with the Iceberg connector on the same catalog.

    A tenant's nested namespace `t_<id>.<layer>` is one Trino schema of that dotted name,
    as Trino's JDBC and REST Iceberg catalogs present it. Trino has no exact median; its
    `approx_percentile` stands in. Any failure of Trino is a 503 naming it.
    """

    def __init__(self, connect: Callable[[], Any], catalog: str) -> None:
        self._connect = connect
        self._catalog = catalog

    @classmethod
    def from_settings(cls, settings: Settings) -> TrinoEngine:
        import trino.auth
        import trino.dbapi

        url = urlparse(settings.trino_url)
        catalog = url.path.strip("/") or "iceberg"
        password = settings.trino_password
        auth = (
            trino.auth.BasicAuthentication(url.username or "strata", password.get_secret_value())
            if password is not None
            else None
        )

        def connect() -> Any:
            return trino.dbapi.connect(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8080),
                user=url.username or "strata",
                catalog=catalog,
                http_scheme=url.scheme or "http",
                auth=auth,
                source="strata",
            )

        return cls(connect, catalog)

    def source(self, ref: TableRef) -> exp.Table:
        return exp.table_(ref.name, db=".".join(ref.namespace), catalog=self._catalog, quoted=True)

    def numeric_stats(self, table: Table, ref: TableRef, column: str) -> NumericStats:
        # As DOUBLE: Trino's approx_percentile on a decimal would run as REAL.
        value = exp.cast(exp.column(column, quoted=True), exp.DataType.build("DOUBLE"))
        median = exp.ApproxQuantile(this=value, quantile=exp.Literal.number(0.5))
        query = numeric_stats_query(self.source(ref), column, median)
        return stats_from_row(column, self._fetch_one(query))

    def distinct_count(self, table: Table, ref: TableRef, column: str) -> int:
        row = self._fetch_one(distinct_count_query(self.source(ref), column))
        return int(row[0]) if row is not None else 0

    def close(self) -> None:
        """Nothing held: every query opens its own connection to Trino."""

    def _fetch_one(self, query: exp.Select) -> Any:
        from trino.exceptions import Error, HttpError

        try:
            connection = self._connect()
            try:
                cursor = connection.cursor()
                cursor.execute(query.sql("trino"))
                return cursor.fetchone()
            finally:
                connection.close()
        except (Error, HttpError, OSError) as exc:
            raise ServiceUnavailableError(f"the Trino query engine failed: {exc}") from exc


def open_engine(settings: Settings) -> QueryEngine:
    """The query engine the settings choose."""
    if settings.query_engine == "trino":
        return TrinoEngine.from_settings(settings)
    return EmbeddedEngine()
