"""Workbench datasets: a file uploaded into a project becomes a Strata dataset, ingested and
validated by the usual run; the workbench keeps the name its SQL calls it by and the profile
of the file, and pages its rows from the silver table."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.errors import ConflictError, InvalidInputError
from lakehouse.lake.catalog import load_table_or_none
from lakehouse.lake.naming import MAX_TABLE_NAME, table_name_from
from lakehouse.profiles.workbench.accounts import iso
from lakehouse.states import ValidationState
from lakehouse.store.models import Dataset
from lakehouse.store.owned import get_owned
from lakehouse.store.workbench import WorkbenchDataset

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

SAMPLE_ROWS = 10
DEFAULT_PAGE, MAX_PAGE = 200, 1000
# What the original takes; `.xls` (the binary Excel format) it refuses by name.
FILE_TYPES = {".csv": "csv", ".json": "json", ".xlsx": "xlsx"}


def file_type_of(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".xls":
        raise InvalidInputError(
            "Legacy .xls files are not supported; save the workbook as .xlsx or .csv",
            field="file",
        )
    if suffix not in FILE_TYPES:
        raise InvalidInputError(
            f"Unsupported file type '{suffix or filename}': upload a CSV, JSON or XLSX file",
            field="file",
        )
    return FILE_TYPES[suffix]


def free_table_name(session: Session, tenant_id: str, filename: str) -> str:
    """The name the tenant's SQL will call a new upload by: the file's stem as a table name,
    numbered when the tenant already has a table of that name."""
    stem = table_name_from(PurePath(filename).stem or "dataset", field="file")
    taken = set(
        session.scalars(
            select(WorkbenchDataset.table_name).where(WorkbenchDataset.tenant_id == tenant_id)
        )
    )
    for column in (Dataset.dataset_name, Dataset.iceberg_table_name):
        taken |= set(session.scalars(select(column).where(Dataset.tenant_id == tenant_id)))
    name, number = stem, 1
    while name in taken:
        number += 1
        suffix = f"_{number}"
        name = stem[: MAX_TABLE_NAME - len(suffix)] + suffix
    return name


def get_workbench_dataset(session: Session, actor: Principal, dataset_id: str) -> WorkbenchDataset:
    """A workbench dataset of the caller's tenant; any other is not found."""
    return get_owned(
        session,
        WorkbenchDataset,
        dataset_id,
        actor.tenant_id,
        "dataset",
        "datasetId",
        "Dataset not found",
    )


def list_workbench_datasets(
    session: Session, actor: Principal, project_id: str | None
) -> Sequence[WorkbenchDataset]:
    query = select(WorkbenchDataset).where(WorkbenchDataset.tenant_id == actor.tenant_id)
    if project_id is not None:
        query = query.where(WorkbenchDataset.project_id == project_id)
    return session.scalars(query.order_by(WorkbenchDataset.created_at.desc())).all()


def project_datasets(
    session: Session, actor: Principal, project_id: str
) -> Sequence[WorkbenchDataset]:
    return list_workbench_datasets(session, actor, project_id)


def dtype_of(data_type: pa.DataType) -> str:
    """An Arrow type as the original's dtypes: string, integer, float, boolean, date, unknown."""
    import pyarrow as pa

    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "float"
    if pa.types.is_date(data_type) or pa.types.is_timestamp(data_type):
        return "date"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    return "unknown"


def silver_rows(catalog: Catalog, dataset: Dataset, limit: int | None) -> pa.Table:
    """The dataset's validated rows in the order of its files, without bookkeeping columns."""
    table = load_table_or_none(catalog, dataset.tables.silver)
    if table is None:
        raise ConflictError(
            f"the dataset has no queryable rows ({dataset.validation_status}"
            f"{': ' + dataset.validation_error if dataset.validation_error else ''})",
            field="datasetId",
        )
    rows = table.scan(limit=limit).to_arrow()
    return rows.select([name for name in rows.column_names if not name.startswith("_")])


def json_value(value: Any) -> Any:
    """A value as JSON keeps it: dates and times in ISO 8601, a NaN as null, decimals as
    numbers."""
    import datetime
    import decimal
    import math

    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_values(names: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows of values as JSON objects keyed by `names`."""
    return [
        {name: json_value(value) for name, value in zip(names, row, strict=True)} for row in rows
    ]


def json_rows(rows: pa.Table) -> list[dict[str, Any]]:
    return json_values(rows.column_names, (row.values() for row in rows.to_pylist()))


def file_profile(catalog: Catalog, dataset: Dataset) -> dict[str, Any]:
    """The profile of an ingested upload: the file's size in rows and columns, and of its rows
    that passed validation, each column's type, missing values, statistics and a sample."""
    from lakehouse.data.statistics import column_statistics

    rows = silver_rows(catalog, dataset, None)
    statistics = {row["column_name"]: row for row in column_statistics(rows).to_pylist()}
    columns = rows.column_names
    for row in statistics.values():
        row["top_values"] = json.loads(row["top_values"])
    return {
        "n_rows": dataset.total_rows if dataset.total_rows is not None else rows.num_rows,
        "n_cols": len(columns),
        "columns": columns,
        "dtypes": {name: dtype_of(rows.schema.field(name).type) for name in columns},
        "null_counts": {name: statistics[name]["nulls"] for name in columns},
        "sample": json_rows(rows.slice(0, SAMPLE_ROWS)),
        "eda": {"columns": [statistics[name] for name in columns]},
    }


def warning_of(dataset: Dataset) -> str | None:
    """What a client should know of the upload's validation, if anything."""
    if dataset.validation_status != ValidationState.VALID:
        return dataset.validation_error or f"validation {dataset.validation_status}"
    rejected = (dataset.total_rows or 0) - (dataset.passed_rows or 0)
    if rejected > 0:
        return f"{rejected} of {dataset.total_rows} rows failed validation and are left out"
    return None


def queryable(dataset: Dataset) -> bool:
    return dataset.validation_status in (ValidationState.VALID, ValidationState.INVALID)


def _described(held: WorkbenchDataset) -> dict[str, Any]:
    """What the upload's answer and the listing both say of a dataset."""
    return {
        "datasetId": held.id,
        "filename": held.filename,
        "fileType": held.file_type,
        "size": held.size_bytes,
        "createdAt": iso(held.created_at),
        "updatedAt": iso(held.updated_at),
        "tableName": held.table_name,
        "physicalTableName": held.dataset.tables.silver.display_name,
        "queryable": queryable(held.dataset),
    }


def upload_document(held: WorkbenchDataset) -> dict[str, Any]:
    """The upload's answer: the original's snake_case profile of the file."""
    profile = held.profile
    return {
        **_described(held),
        **{
            key: profile[key]
            for key in ("n_rows", "n_cols", "columns", "dtypes", "null_counts", "sample", "eda")
        },
        "warning": warning_of(held.dataset),
    }


def dataset_document(held: WorkbenchDataset) -> dict[str, Any]:
    """A listed dataset: the original's DatasetProfile, camelCase."""
    profile = held.profile
    statistics = {c["column_name"]: c for c in profile["eda"]["columns"]}
    columns = [
        {
            "name": name,
            "dtype": profile["dtypes"][name],
            "nullCount": profile["null_counts"][name],
            **{
                key: statistics[name][key]
                for key in ("distinct", "min", "max", "mean", "std", "median", "top_values")
            },
        }
        for name in profile["columns"]
    ]
    dataset = held.dataset
    return {
        **_described(held),
        "projectId": held.project_id,
        "nRows": profile["n_rows"],
        "nCols": profile["n_cols"],
        "columns": columns,
        "sample": profile["sample"],
        "metadata": {
            "validationStatus": dataset.validation_status,
            "passedRows": dataset.passed_rows,
            "strataDatasetId": dataset.id,
        },
        "queryError": None if queryable(dataset) else warning_of(dataset),
    }


def rows_page(catalog: Catalog, held: WorkbenchDataset, offset: int, limit: int) -> dict[str, Any]:
    rows = silver_rows(catalog, held.dataset, offset + limit)
    return {
        "rows": json_rows(rows.slice(offset, limit)),
        "columns": rows.column_names,
        # the rows to page through: those that passed validation
        "rowCount": held.dataset.passed_rows
        if held.dataset.passed_rows is not None
        else held.profile["n_rows"],
        "offset": offset,
        "limit": limit,
    }
