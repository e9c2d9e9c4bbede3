"""The console's datalake pages: the tenant's schemas and tables, a table's columns, metadata
and column statistics, and a read-only SQL box (the API's validated, limited and timed SQL)
answering as a table or as CSV."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy.orm import Session

from api.console.session import page
from api.controllers.data.datalake import READ, datalake_of
from api.platform import Platform
from lakehouse.data import datasets
from lakehouse.errors import StrataError

SqlForm = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/datalake", guards=READ, sync_to_thread=True, include_in_schema=False)
def schemas_page(request: Request[Any, Any, Any], platform: Platform) -> Template:
    """Every schema of the tenant with its tables."""
    lake = datalake_of(request, platform)
    layers = {schema: lake.tables(schema) for schema in lake.schemas()}
    return page(request, "datalake.html", layers=layers, sql="", answer=None)


@get(
    "/datalake/{schema:str}/{table:str}", guards=READ, sync_to_thread=True, include_in_schema=False
)
def table_page(
    request: Request[Any, Any, Any], db: Session, platform: Platform, schema: str, table: str
) -> Template:
    """A table: its metadata (snapshot, rows, files, last update), columns with their types,
    each column's distinct count and each numeric column's statistics."""
    lake = datalake_of(request, platform)
    owner = datasets.table_owner(db, request.user.tenant_id, table)
    metadata = lake.table_metadata(schema, table, owner)
    numeric = lake.numeric_columns(schema, table)
    columns = []
    for column in lake.columns(schema, table):
        columns.append(
            {
                "name": column.column_name,
                "type": column.data_type,
                "distinct": lake.distinct_count(schema, table, column.column_name),
                "stats": (
                    lake.numeric_stats(schema, table, column.column_name)
                    if column.column_name in numeric
                    else None
                ),
            }
        )
    sample = f"SELECT * FROM {schema}.{table} LIMIT 20"
    return page(request, "table.html", metadata=metadata, columns=columns, sql=sample)


def run_sql(request: Request[Any, Any, Any], platform: Platform, sql: str) -> Any:
    readable = datalake_of(request, platform).readable()
    return platform.sql.run(request.user.tenant_id, sql, readable)


@post("/datalake/sql", guards=READ, status_code=200, sync_to_thread=True, include_in_schema=False)
def sql_page(request: Request[Any, Any, Any], platform: Platform, data: SqlForm) -> Template:
    """Run the query in the box and show its rows; a refused query says why beside the box."""
    sql = data.get("sql", "").strip()
    lake = datalake_of(request, platform)
    layers = {schema: lake.tables(schema) for schema in lake.schemas()}
    try:
        answer = run_sql(request, platform, sql)
    except StrataError as exc:
        errors = {"sql": exc.message}
        return page(request, "datalake.html", 400, layers=layers, sql=sql, errors=errors)
    return page(request, "datalake.html", layers=layers, sql=sql, answer=answer)


@post(
    "/datalake/sql.csv", guards=READ, status_code=200, sync_to_thread=True, include_in_schema=False
)
def sql_csv(request: Request[Any, Any, Any], platform: Platform, data: SqlForm) -> Response[Any]:
    """The query's rows as a CSV file."""
    answer = run_sql(request, platform, data.get("sql", "").strip())
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([column.column_name for column in answer.columns])
    writer.writerows(answer.rows)
    return Response(
        text.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="query.csv"'},
    )


ROUTES = [schemas_page, table_page, sql_page, sql_csv]
