"""Bodies of templates, files, datasets and their statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    Field,
    JsonValue,
)

from api.schemas.base import Schema
from lakehouse.data.templates import ALIASES, ColumnType

DATA_TYPES: list[JsonValue] = [*sorted({*(t.value for t in ColumnType), *ALIASES})]


class TemplateColumn(Schema):
    column_name: str = Field(min_length=1, max_length=128)
    data_type: str = Field(
        min_length=1,
        max_length=64,
        json_schema_extra={"enum": DATA_TYPES},
        description="A type name or a common alias, in any case",
    )
    default_value: str | None = Field(None, max_length=10_000)
    required: bool = False
    allowed_values: list[str] | None = Field(None, max_length=10_000)
    min_value: str | None = Field(None, max_length=64)
    max_value: str | None = Field(None, max_length=64)
    regex: str | None = Field(None, max_length=1_000)


class TemplateWrite(Schema):
    template_name: str = Field(min_length=1, max_length=255)
    template_schema: list[TemplateColumn] = Field(default_factory=list)
    null_markers: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None,
        max_length=50,
        description="Fields that mean no value, in every column; by default NA, N/A, NULL, "
        "null, NaN, nan and None in typed columns (blank fields always do).",
    )
    min_usability: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of rows that must pass for a dataset to be valid; by default "
        "the platform's STRATA_VALID_USABILITY.",
    )


class TemplateCreated(Schema):
    status: int
    message: str
    id: int


class TemplateSummary(Schema):
    template_name: str
    id: int
    tenant_id: str
    no_of_columns: int
    created_by: str
    created_at: datetime
    modified_at: datetime
    modified_by: str


class TemplateDetail(TemplateSummary):
    template_schema: list[dict[str, Any]]
    null_markers: list[str] | None
    min_usability: float | None


class TemplatesPublic(Schema):
    total: int
    data: list[TemplateSummary]


class TemplateUpdated(Schema):
    template_name: str
    template_schema: list[dict[str, Any]]
    null_markers: list[str] | None
    min_usability: float | None


class FilePublic(Schema):
    dataset_id: int
    id: int
    uuid: str
    file_name: str
    created_at: datetime
    modified_at: datetime
    total_fields: int
    total_records: int
    error_report: dict[str, Any] | None


class FileDetail(FilePublic):
    csv_file_path: str
    hdf_file_path: str | None


class FilesPublic(Schema):
    total: int
    data: list[FilePublic]


class FileContent(Schema):
    file_id: int
    content_preview: list[str]


class DatasetUploaded(Schema):
    dataset_id: int
    dataset_name: str
    data_source: str
    files: list[FilePublic]


class DatasetValidated(Schema):
    tenant_id: str
    dataset_name: str
    file_count: int
    is_valid: bool
    created_by: str
    template_id: int | None
    id: int


class DatasetSummary(DatasetValidated):
    data_source: str
    iceberg_table_name: str
    template_name: str | None
    created_at: datetime
    modified_at: datetime
    dataset_usability: str | None
    usage: str
    dataset_usage: str
    validation_status: str
    validation_error: str | None
    last_run_id: str | None


class DatasetsPublic(Schema):
    total: int
    data: list[DatasetSummary]


class DatasetLocation(Schema):
    dataset_name: str
    dataset_path: str
    validated_path: str
    iceberg_table_name: str
    data_source: str


class DatasetPreview(Schema):
    preview: list[dict[str, Any]]


class StatisticsSubmitted(Schema):
    status: str
    message: str
    job_id: str


class DatasetStatistics(Schema):
    dataset_id: int
    table: str
    statistics: list[dict[str, Any]]


class DistinctCount(Schema):
    column: str
    distinct_count: int


class SqlQuery(Schema):
    sql: str = Field(min_length=1, max_length=100_000)


class SqlColumn(Schema):
    name: str
    data_type: str


class SqlQueryResult(Schema):
    """A read-only query's answer: `sql` as checked and run (your names, its LIMIT)."""

    query_id: str
    sql: str
    columns: list[SqlColumn]
    rows: list[list[Any]]
    row_count: int
    execution_ms: float
    cached: bool
