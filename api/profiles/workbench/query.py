"""The workbench's read-only SQL over a project's own tables, by the names its datasets were
given (`tableName`), with the original's limits and answer shape."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.status_codes import HTTP_200_OK

from api.platform import Platform
from api.profiles.workbench.schemas import SqlRequest
from api.security import requires_permission
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


def unique_names(names: list[str]) -> list[str]:
    """Column names as keys of a row object: a repeated name (`SELECT 1 AS a, 2 AS a`, or
    `*` over a join) numbered from its second use (`a_2`), so no value is lost."""
    seen: set[str] = set()
    unique = []
    for name in names:
        candidate, number = name, 1
        while candidate in seen:
            number += 1
            candidate = f"{name}_{number}"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def summary(names: list[str], rows: list[dict[str, Any]]) -> Document:
    """A glance at the answer: each column's missing and distinct values."""
    columns = []
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        columns.append(
            {
                "name": name,
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
def query_sql(platform: Platform, request: Request, data: SqlRequest) -> Document:
    """Run one read-only query (SELECT or WITH) over the project's tables, by their
    `tableName`. A second statement, anything but a query, another project's table, a system
    table or a function reading files is a 400 naming it. Without a LIMIT the query gets 200;
    at most 1000 rows come back; a query running past 5 s is stopped. Answers are reused for 5
    minutes while the tables are unchanged (`cached`)."""
    # Read in a session of its own that writes nothing: no writer waits for the query.
    with platform.store.session(writes=False) as reading:
        project = get_project(reading, request.user, data.projectId)
        readable = {
            held.table_name: held.dataset.tables.silver
            for held in workbench.project_datasets(reading, request.user, project.id)
            if workbench.queryable(held.dataset)
        }
    answer = platform.sql.run(request.user.tenant_id, data.sql, readable)
    names = unique_names([column.column_name for column in answer.columns])
    rows = workbench.json_values(names, answer.rows)
    query: Document = {
        "queryId": answer.query_id,
        "sql": answer.sql,
        "columns": [
            {"name": name, "dataTypeID": type_id(column.data_type), "dataType": column.data_type}
            for name, column in zip(names, answer.columns, strict=True)
        ],
        "rows": rows,
        "rowCount": len(rows),
        "executionMs": answer.execution_ms,
        "cached": answer.cached,
        "eda": summary(names, rows),
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
