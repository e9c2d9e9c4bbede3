"""The workbench's read-only SQL over a project's own tables, by the names its datasets were
given (`tableName`), with the original's limits and answer shape."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.orm import Session

from api.platform import Platform
from api.profiles.workbench.schemas import SqlRequest
from api.security import requires_permission
from lakehouse.lake.sql_service import SqlAnswer
from lakehouse.profiles.workbench import datasets as workbench
from lakehouse.profiles.workbench.accounts import iso
from lakehouse.profiles.workbench.projects import get_project

READ = [requires_permission("datalake:read")]
Document = dict[str, Any]
# PostgreSQL's type OIDs, which the original's answers carry as `dataTypeID`.
TYPE_IDS = {
    "boolean": 16,
    "bigint": 20,
    "smallint": 21,
    "integer": 23,
    "tinyint": 21,
    "hugeint": 1700,
    "varchar": 1043,
    "real": 700,
    "float": 700,
    "double": 701,
    "date": 1082,
    "time": 1083,
    "uuid": 2950,
}


def type_id(data_type: str) -> int:
    base = data_type.split("(", 1)[0].strip()
    if base.startswith("timestamp"):
        return 1184 if "zone" in data_type else 1114
    if base.startswith("decimal"):
        return 1700
    return TYPE_IDS.get(base, 25)  # text


def summary(answer: SqlAnswer, rows: list[dict[str, Any]]) -> Document:
    """A glance at the answer: each column's missing and distinct values."""
    columns = []
    for column in answer.columns:
        values = [row.get(column.column_name) for row in rows]
        present = [v for v in values if v is not None]
        columns.append(
            {
                "name": column.column_name,
                "nullCount": len(values) - len(present),
                "distinctCount": len({repr(v) for v in present}),
            }
        )
    return {"rowCount": len(rows), "columns": columns}


@post(
    "/query/sql",
    operation_id="workbench_query_sql",
    guards=READ,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def query_sql(db: Session, platform: Platform, request: Request, data: SqlRequest) -> Document:
    """Run one read-only query (SELECT or WITH) over the project's tables, by their
    `tableName`. A second statement, anything but a query, another project's table, a system
    table or a function reading files is a 400 naming it. Without a LIMIT the query gets 200;
    at most 1000 rows come back; a query running past 5 s is stopped. Answers are reused for 5
    minutes while the tables are unchanged (`cached`)."""
    project = get_project(db, request.user, data.projectId)
    readable = {
        held.table_name: held.dataset.tables.silver
        for held in workbench.project_datasets(db, request.user, project.id)
        if workbench.queryable(held.dataset)
    }
    answer = platform.sql.run(request.user.tenant_id, data.sql, readable)
    names = [column.column_name for column in answer.columns]
    rows = workbench.json_values(names, answer.rows)
    query: Document = {
        "queryId": answer.query_id,
        "sql": answer.sql,
        "columns": [
            {
                "name": column.column_name,
                "dataTypeID": type_id(column.data_type),
                "dataType": column.data_type,
            }
            for column in answer.columns
        ],
        "rows": rows,
        "rowCount": len(rows),
        "executionMs": answer.execution_ms,
        "cached": answer.cached,
        "eda": summary(answer, rows),
    }
    if answer.cached:
        query["cacheTimestamp"] = iso(answer.cached_at)
    return {"query": query}


@get("/query/cache/config", operation_id="workbench_query_cache", guards=READ)
async def cache_config(platform: Platform) -> Document:
    """How read-only SQL is limited and its answers reused."""
    settings = platform.settings
    return {
        "ttlMs": int(settings.sql_cache_seconds * 1000),
        "maxEntries": settings.sql_cache_entries,
        "sqlDefaultLimit": settings.sql_default_limit,
        "sqlMaxRows": settings.sql_max_rows,
        "statementTimeoutMs": int(settings.sql_timeout_seconds * 1000),
    }


ROUTES = [query_sql, cache_config]
