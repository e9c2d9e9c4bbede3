"""Request and response bodies, with the reference's field names."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar.params import Parameter
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

NAME_PATTERN = r"^[A-Za-z0-9_.:@-]+$"
MAX_ID = 2**31 - 1  # the metadata store's integer keys are 32-bit on PostgreSQL

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Parameter(ge=1, le=MAX_ID)]
QueryId = Annotated[int, Parameter(ge=1, le=MAX_ID)]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class Message(Schema):
    status: int | str
    message: str


class StatusMessage(Schema):
    status_code: int
    message: str


class LoginForm(BaseModel):
    username: str
    password: str
    grant_type: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class TokenPair(Schema):
    access_token: str
    token_type: str = "bearer"
    refresh_token: str
    expires_in: int


class UserCreate(Schema):
    tenant_id: str = Field(min_length=1, max_length=36)
    first_name: str | None = Field(None, max_length=150)
    last_name: str | None = Field(None, max_length=150)
    email: EmailStr
    username: str = Field(min_length=1, max_length=150, pattern=NAME_PATTERN)
    password: str = Field(min_length=8, max_length=256)


class UserPublic(Schema):
    id: int
    tenant_id: str
    first_name: str | None
    last_name: str | None
    email: str
    username: str
    is_active: bool


class UsersPublic(Schema):
    data: list[UserPublic]
    count: int


class TenantCreate(Schema):
    name: str = Field(min_length=1, max_length=255)


class TenantPublic(Schema):
    id: str
    name: str
    created_at: datetime


class TenantsPublic(Schema):
    data: list[TenantPublic]
    count: int


class NamedInTenant(Schema):
    name: str = Field(min_length=1, max_length=150, pattern=NAME_PATTERN)
    tenant_id: str = Field(min_length=1, max_length=36)


class PermissionPublic(Schema):
    id: int
    name: str
    tenant_id: str


class PermissionsPublic(Schema):
    data: list[PermissionPublic]
    count: int


class RolePublic(Schema):
    id: int
    tenant_id: str
    name: str
    permissions: list[str]


class RolesPublic(Schema):
    data: list[RolePublic]
    count: int


class PermissionGrant(Schema):
    permission_id: RowId


class RoleGrant(Schema):
    role_id: RowId


class UserRoles(Schema):
    user_id: int
    roles: list[str]
    permissions: list[str]


class ComponentStatus(Schema):
    status: str
    detail: str


class HealthReport(Schema):
    status: str
    components: dict[str, ComponentStatus]


class RunSubmitted(Schema):
    run_id: str
    job_name: str
    status: str


class RunPublic(Schema):
    run_id: str
    job_name: str
    status: str
    is_finished: bool
    partition_key: str | None
    tags: dict[str, str]
    start_time: float | None
    end_time: float | None


class RunEventPublic(Schema):
    timestamp: float
    level: str
    event_type: str | None
    step_key: str | None
    message: str


class RunLogs(Schema):
    run_id: str
    status: str
    offset: int
    next_offset: int
    events: list[RunEventPublic]


def role_public(role: Any) -> RolePublic:
    return RolePublic(
        id=role.id,
        tenant_id=role.tenant_id,
        name=role.name,
        permissions=[p.name for p in role.permissions],
    )


class TemplateColumn(Schema):
    column_name: str = Field(min_length=1, max_length=128)
    data_type: str = Field(min_length=1, max_length=64)
    default_value: str | None = Field(None, max_length=10_000)
    required: bool = False
    allowed_values: list[str] | None = Field(None, max_length=10_000)
    min_value: str | None = Field(None, max_length=64)
    max_value: str | None = Field(None, max_length=64)
    regex: str | None = Field(None, max_length=1_000)


class TemplateWrite(Schema):
    template_name: str = Field(min_length=1, max_length=255)
    template_schema: list[TemplateColumn] = Field(default_factory=list)


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


class TemplatesPublic(Schema):
    total: int
    data: list[TemplateSummary]


class TemplateUpdated(Schema):
    template_name: str
    template_schema: list[dict[str, Any]]


class FilePublic(Schema):
    dataset_id: int
    id: int
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
