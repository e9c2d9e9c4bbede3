"""Query engines that scan the lakehouse's tables: embedded DuckDB, or Trino, by settings.

Two kinds of work. The datalake's figures: callers resolve identifiers against the Iceberg
catalog first (see `lakehouse.lake.datalake`), so an engine is only ever handed a table the
catalog knows and a column of its schema, and builds its SQL with sqlglot, quoting every
identifier. And users' read-only SQL, checked and rewritten by `lakehouse.lake.sql` first,
run with a time limit (and, embedded, a memory limit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from sqlglot import exp

from lakehouse.errors import BadRequestError, ServiceUnavailableError, TooManyRequestsError
from lakehouse.lake.naming import TableRef
from lakehouse.lake.sql import ReadOnlyQuery
from lakehouse.settings import Settings

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.types import IcebergType

log = logging.getLogger("strata.query")


# Iceberg's primitive types by the names SQL engines (Trino, DuckDB) give them.
SQL_TYPES = {
    "boolean": "boolean",
    "int": "integer",
    "long": "bigint",
    "float": "real",
    "double": "double",
    "date": "date",
    "time": "time(6)",
    "timestamp": "timestamp(6)",
    "timestamptz": "timestamp(6) with time zone",
    "timestamp_ns": "timestamp(9)",
    "timestamptz_ns": "timestamp(9) with time zone",
    "string": "varchar",
    "uuid": "uuid",
    "binary": "varbinary",
}


def sql_type(field_type: IcebergType) -> str:
    """The SQL spelling of an Iceberg type: `varchar`, `bigint`, `decimal(10, 2)`, `array(...)`."""
    from pyiceberg.types import DecimalType, ListType, MapType, StructType

    if isinstance(field_type, DecimalType):
        return f"decimal({field_type.precision}, {field_type.scale})"
    if isinstance(field_type, ListType):
        return f"array({sql_type(field_type.element_type)})"
    if isinstance(field_type, MapType):
        return f"map({sql_type(field_type.key_type)}, {sql_type(field_type.value_type)})"
    if isinstance(field_type, StructType):
        fields = ", ".join(f"{f.name} {sql_type(f.field_type)}" for f in field_type.fields)
        return f"row({fields})"
    return SQL_TYPES.get(str(field_type), str(field_type))


@dataclass(frozen=True)
class NumericStats:
    column: str
    count: int
    mean: float | None
    std_dev: float | None
    min: float | None
    max: float | None
    median: float | None


@dataclass(frozen=True)
class ColumnInfo:
    column_name: str
    data_type: str


@dataclass(frozen=True)
class SqlResult:
    columns: list[ColumnInfo]
    rows: list[tuple[Any, ...]]


def timed_out(timeout: float) -> BadRequestError:
    return BadRequestError(
        f"The query ran longer than the {timeout:g} s allowed and was stopped", field="sql"
    )


def refused_by_engine(message: str) -> BadRequestError:
    """The engine's own refusal of a query (a column that does not exist, a type mismatch):
    its first line, which names what is wrong."""
    first = message.strip().splitlines()[0] if message.strip() else "the query failed"
    return BadRequestError(f"The query failed: {first}", field="sql")


class QueryEngine(Protocol):
    """What the datalake endpoints ask of an engine about one table the catalog resolved (its
    columns and row count, and aggregates over one of its columns), and users' read-only
    queries over their tables."""

    def columns(self, table: Table, ref: TableRef) -> list[ColumnInfo]: ...

    def row_count(self, table: Table, ref: TableRef) -> int: ...

    def numeric_stats(self, table: Table, ref: TableRef, column: str) -> NumericStats: ...

    def distinct_count(self, table: Table, ref: TableRef, column: str) -> int: ...

    dialect: str
    """The SQL dialect the engine reads: what read-only SQL is parsed as."""

    def run_query(
        self, query: ReadOnlyQuery, tables: Mapping[str, tuple[Table, TableRef]], timeout: float
    ) -> SqlResult:
        """Run a checked read-only query over `tables` (the caller's names) for at most
        `timeout` seconds."""
        ...

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
    dialect = "duckdb"
    # Users' queries at once in this process, and what each may hold in memory.
    QUERIES_AT_ONCE = 2
    QUERY_MEMORY = "1GB"

    def __init__(self) -> None:
        import duckdb
        from sqlglot.dialects.dialect import Dialect

        self._database = duckdb.connect()
        self._queries = threading.BoundedSemaphore(self.QUERIES_AT_ONCE)
        # Loaded here, not by the first query: the dialect's modules take a tenth of a second.
        self._dialect = Dialect.get_or_raise("duckdb")

    def columns(self, table: Table, ref: TableRef) -> list[ColumnInfo]:
        """The columns as the table's current schema has them, in SQL's spelling."""
        return [
            ColumnInfo(column.name, sql_type(column.field_type)) for column in table.schema().fields
        ]

    def row_count(self, table: Table, ref: TableRef) -> int:
        """The rows of the current snapshot, as its summary records them."""
        snapshot = table.current_snapshot()
        summary = snapshot.summary if snapshot is not None else None
        return int(summary.get("total-records") or 0) if summary is not None else 0

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

    def run_query(
        self, query: ReadOnlyQuery, tables: Mapping[str, tuple[Table, TableRef]], timeout: float
    ) -> SqlResult:
        """In a DuckDB database of its own, which holds each table as an Arrow source and then
        gives up every access to files, the network and its own settings, with at most
        QUERY_MEMORY; interrupted `timeout` seconds after it starts, and QUERIES_AT_ONCE at
        most at a time (a query waiting longer than `timeout` for its turn is a 429). A table
        DuckDB cannot read as files (delete files, an evolved schema, an object store) is
        read by PyIceberg first, whole, outside that time."""
        if not self._queries.acquire(timeout=timeout):
            raise TooManyRequestsError(
                "Too many queries are running; try again in a moment", retry_after=1, field="sql"
            )
        try:
            return self._run_query(query, tables, timeout)
        finally:
            self._queries.release()

    def _run_query(
        self, query: ReadOnlyQuery, tables: Mapping[str, tuple[Table, TableRef]], timeout: float
    ) -> SqlResult:
        import duckdb
        import pyarrow as pa

        database = duckdb.connect(
            config={
                "python_enable_replacements": False,  # else FROM <name> reads Python variables
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
                "temp_directory": "",
                "threads": 2,
                "memory_limit": self.QUERY_MEMORY,
            }
        )
        timer: threading.Timer | None = None
        try:
            physical = {}
            for number, (name, (table, _ref)) in enumerate(sorted(tables.items())):
                relation = f"table_{number}"
                database.register(relation, self._arrow_source(table))
                physical[name] = exp.table_(relation, quoted=True)
            database.execute("SET enable_external_access = false")
            database.execute("SET lock_configuration = true")
            timer = threading.Timer(timeout, database.interrupt)
            timer.start()
            cursor = database.execute(query.sql_for(physical))
            rows = cursor.fetchall()
            columns = [
                ColumnInfo(str(name), str(kind).lower())
                for name, kind, *_ in cursor.description or []
            ]
        except duckdb.InterruptException as exc:
            raise timed_out(timeout) from exc
        except (duckdb.IOException, OSError, pa.ArrowException) as exc:
            log.warning("a read-only query failed reading its tables: %s", exc)
            raise ServiceUnavailableError("the tables' data files could not be read") from exc
        except (duckdb.Error, OverflowError, ValueError) as exc:
            # The engine's refusal, or a value Python cannot hold (an interval of 10⁹ days).
            raise refused_by_engine(str(exc)) from exc
        finally:
            if timer is not None:
                timer.cancel()
            database.close()
        return SqlResult(columns, rows)

    @staticmethod
    def _arrow_source(table: Table) -> Any:
        """The table's current rows as an Arrow source DuckDB scans lazily: a dataset over its
        Parquet files when they can be read as they are, else PyIceberg's scan of them."""
        import pyarrow.dataset as ds
        from pyiceberg.io.pyarrow import schema_to_pyarrow
        from pyiceberg.schema import make_compatible_name

        tasks = list(table.scan().plan_files())
        paths = [task.file.file_path for task in tasks]
        schema = table.schema()
        if (
            paths
            and all(make_compatible_name(f.name) == f.name for f in schema.fields)
            and len(table.metadata.schemas) == 1
            and all(not task.delete_files for task in tasks)
            and all(path.startswith("file://") for path in paths)
        ):
            files = [unquote(urlparse(path).path) for path in paths]
            arrow_schema = schema_to_pyarrow(schema, include_field_ids=False)
            return ds.dataset(files, schema=arrow_schema, format="parquet")
        return table.scan().to_arrow()

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
                sql = query(source).sql(self._dialect)
                return cursor.execute(sql, {self.FILES: files}).fetchone()
            cursor.register(self.ARROW, scan.to_arrow_batch_reader())
            sql = query(exp.to_identifier(self.ARROW)).sql(self._dialect)
            return cursor.execute(sql).fetchone()


class TrinoEngine:
    """Trino with the Iceberg connector on the same catalog.

    A tenant's nested namespace `t_<id>.<layer>` is one Trino schema of that dotted name,
    as Trino's JDBC and REST Iceberg catalogs present it. Trino has no exact median; its
    `approx_percentile` stands in. Any failure of Trino is a 503 naming it.
    """

    dialect = "trino"

    def __init__(self, connect: Callable[..., Any], catalog: str) -> None:
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

        def connect(**options: Any) -> Any:
            return trino.dbapi.connect(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8080),
                user=url.username or "strata",
                catalog=catalog,
                http_scheme=url.scheme or "http",
                auth=auth,
                source="strata",
                **options,
            )

        return cls(connect, catalog)

    def source(self, ref: TableRef) -> exp.Table:
        return exp.table_(ref.name, db=".".join(ref.namespace), catalog=self._catalog, quoted=True)

    def columns(self, table: Table, ref: TableRef) -> list[ColumnInfo]:
        """The columns' types as Trino's information schema shows them, in their order.

        Trino lower-cases every name it shows; the names are the catalog's, as they were written.
        """
        name = exp.column
        query = (
            exp.select(name("column_name"), name("data_type"))
            .from_(exp.table_("columns", db="information_schema", catalog=self._catalog))
            .where(
                exp.and_(
                    exp.EQ(
                        this=name("table_schema"),
                        expression=exp.Literal.string(".".join(ref.namespace)),
                    ),
                    exp.EQ(this=name("table_name"), expression=exp.Literal.string(ref.name)),
                )
            )
            .order_by(name("ordinal_position"))
        )
        types = {str(column): str(kind) for column, kind in self._fetch_all(query)}
        return [
            ColumnInfo(field.name, types[field.name.lower()])
            for field in table.schema().fields
            if field.name.lower() in types
        ]

    def row_count(self, table: Table, ref: TableRef) -> int:
        row = self._fetch_one(exp.select(exp.Count(this=exp.Star())).from_(self.source(ref)))
        return int(row[0]) if row is not None else 0

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

    def run_query(
        self, query: ReadOnlyQuery, tables: Mapping[str, tuple[Table, TableRef]], timeout: float
    ) -> SqlResult:
        """On the tables' own Trino names, with Trino's limit on the query's run time; the
        session has no default schema, so no name the check let through resolves alone."""
        from trino.exceptions import Error, HttpError, TrinoQueryError

        physical = {name: self.source(ref) for name, (_table, ref) in tables.items()}
        limit = f"{max(1, int(timeout + 0.999))}s"
        try:
            connection = self._connect(
                session_properties={"query_max_run_time": limit},
                request_timeout=timeout + 10,
            )
            try:
                cursor = connection.cursor()
                cursor.execute(query.sql_for(physical))
                rows = [tuple(row) for row in cursor.fetchall()]
                columns = [
                    ColumnInfo(str(column[0]), str(column[1]).lower())
                    for column in cursor.description or []
                ]
            finally:
                connection.close()
        except TrinoQueryError as exc:
            if exc.error_name == "EXCEEDED_TIME_LIMIT":
                raise timed_out(timeout) from exc
            if exc.error_type == "USER_ERROR":
                raise refused_by_engine(exc.message) from exc
            raise ServiceUnavailableError(f"the Trino query engine failed: {exc}") from exc
        except (Error, HttpError, OSError) as exc:
            raise ServiceUnavailableError(f"the Trino query engine failed: {exc}") from exc
        return SqlResult(columns, rows)

    def _fetch_one(self, query: exp.Select) -> Any:
        rows = self._fetch_all(query)
        return rows[0] if rows else None

    def _fetch_all(self, query: exp.Select) -> list[Any]:
        from trino.exceptions import Error, HttpError

        try:
            connection = self._connect()
            try:
                cursor = connection.cursor()
                cursor.execute(query.sql("trino"))
                return list(cursor.fetchall())
            finally:
                connection.close()
        except (Error, HttpError, OSError) as exc:
            raise ServiceUnavailableError(f"the Trino query engine failed: {exc}") from exc


def open_engine(settings: Settings) -> QueryEngine:
    """The query engine the settings choose."""
    if settings.query_engine == "trino":
        return TrinoEngine.from_settings(settings)
    return EmbeddedEngine()
