"""Browsing the caller's datalake (module 11): schemas, tables, columns, metadata, statistics."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from sqlalchemy.orm import Session

from api.platform import Platform
from api.schemas.data import DistinctCount, SqlColumn, SqlQuery, SqlQueryResult
from api.security import requires_permission
from lakehouse.data import datasets
from lakehouse.lake.datalake import ColumnInfo, Datalake, Field, TableMetadata
from lakehouse.lake.query import NumericStats

READ = [requires_permission("datalake:read")]
Name = Annotated[str, Parameter(min_length=1, max_length=255)]
# distinct-count names its parameters schema, table and column; the others add `_name`.
SHORT_NAMES = Field(schema="schema", table="table", column="column")


def datalake_of(request: Request, platform: Platform) -> Datalake:
    return Datalake(platform.catalog, platform.engine, request.user.tenant_id)


class DatalakeController(Controller):
    path = "/api/v1/datalake"
    tags = ["Datalake"]

    @post(
        "/query", operation_id="datalake_query", guards=READ, status_code=200, sync_to_thread=True
    )
    def query(self, request: Request, platform: Platform, data: SqlQuery) -> SqlQueryResult:
        """Run one read-only query (SELECT, or WITH ... SELECT) over your tenant's tables,
        named `<schema>.<table>` (`silver.sales`). Anything else, another tenant's table, a
        system table, or a function that reads files, is a 422 naming it. Without a LIMIT the
        query gets `STRATA_SQL_DEFAULT_LIMIT`; at most `STRATA_SQL_MAX_ROWS` rows come back,
        and a query running past `STRATA_SQL_TIMEOUT_SECONDS` is stopped (400)."""
        readable = datalake_of(request, platform).readable()
        answer = platform.sql.run(request.user.tenant_id, data.sql, readable)
        return SqlQueryResult(
            query_id=answer.query_id,
            sql=answer.sql,
            columns=[SqlColumn(name=c.column_name, data_type=c.data_type) for c in answer.columns],
            rows=[list(row) for row in answer.rows],
            row_count=len(answer.rows),
            execution_ms=answer.execution_ms,
            cached=answer.cached,
        )

    @get("/schemas", operation_id="list_schemas", guards=READ, sync_to_thread=True)
    def schemas(self, request: Request, platform: Platform) -> list[str]:
        """The layers (bronze, silver, gold) the caller's tenant has tables in."""
        return datalake_of(request, platform).schemas()

    @get("/schemas/tables", operation_id="list_tables", guards=READ, sync_to_thread=True)
    def tables(self, request: Request, platform: Platform, schema_name: Name) -> list[str]:
        """The caller's tables in one schema."""
        return datalake_of(request, platform).tables(schema_name)

    @get("/tables/columns", operation_id="table_columns", guards=READ, sync_to_thread=True)
    def columns(
        self, request: Request, platform: Platform, schema_name: Name, table_name: Name
    ) -> list[ColumnInfo]:
        """Column names and SQL types of a table."""
        return datalake_of(request, platform).columns(schema_name, table_name)

    @get("/table_metadata", operation_id="table_metadata", guards=READ, sync_to_thread=True)
    def table_metadata(
        self,
        db: Session,
        request: Request,
        platform: Platform,
        schema_name: Name,
        table_name: Name,
    ) -> TableMetadata:
        """Owner, times, location and format, with the current snapshot, row and file counts."""
        owner = datasets.table_owner(db, request.user.tenant_id, table_name)
        return datalake_of(request, platform).table_metadata(schema_name, table_name, owner)

    @get("/numeric_stats", operation_id="numeric_stats", guards=READ, sync_to_thread=True)
    def numeric_stats(
        self,
        request: Request,
        platform: Platform,
        schema_name: Name,
        table_name: Name,
        column_name: Name,
    ) -> NumericStats:
        """Count, mean, sample standard deviation, min, max and median of a numeric column."""
        return datalake_of(request, platform).numeric_stats(schema_name, table_name, column_name)

    @get("/distinct-count", operation_id="distinct_count", guards=READ, sync_to_thread=True)
    def distinct_count(
        self, request: Request, platform: Platform, schema: Name, table: Name, column: Name
    ) -> DistinctCount:
        """How many distinct non-null values a column holds."""
        count = datalake_of(request, platform).distinct_count(schema, table, column, SHORT_NAMES)
        return DistinctCount(column=column, distinct_count=count)
