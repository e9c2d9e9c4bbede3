"""Request and response bodies, with the reference's field names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from litestar.params import Parameter
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)

from lakehouse.data.templates import ALIASES, ColumnType
from lakehouse.ml.spec import ProblemType

NAME_PATTERN = r"^[A-Za-z0-9_.:@-]+$"
MAX_ID = 2**31 - 1  # the metadata store's integer keys are 32-bit on PostgreSQL

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _email_address(value: str) -> str:
    """A syntactically valid address, normalised; no mail is sent, so test and example
    domains are addresses too."""
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(
            value, check_deliverability=False, globally_deliverable=False, test_environment=True
        )
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from exc
    return str(checked.normalized)


EmailAddress = Annotated[
    str,
    AfterValidator(_email_address),
    Field(max_length=320, json_schema_extra={"format": "email"}),
]
DATA_TYPES: list[JsonValue] = [*sorted({*(t.value for t in ColumnType), *ALIASES})]


def _problem_type(value: Any) -> Any:
    return ProblemType.parse(value).value if isinstance(value, str) else value


ProblemTypeName = Annotated[
    Literal["Classification", "Regression", "Forecast"],
    BeforeValidator(_problem_type),
    Field(description="Classification, Regression or Forecast (any case)"),
]
PathId = Annotated[int, Parameter(ge=1, le=MAX_ID)]
QueryId = Annotated[int, Parameter(ge=1, le=MAX_ID)]


NO_NUL = "^[^\\x00]*$"


def _document_no_nul(schema: dict[str, Any]) -> None:
    """Say in the JSON schema what `Schema` enforces: no string holds a NUL character."""
    if schema.get("type") == "string" and "pattern" not in schema and "format" not in schema:
        schema["pattern"] = NO_NUL
    for key in ("properties", "$defs"):
        for nested in schema.get(key, {}).values():
            _document_no_nul(nested)
    for key in ("anyOf", "oneOf", "allOf"):
        for nested in schema.get(key, []):
            _document_no_nul(nested)
    if isinstance(schema.get("items"), dict):
        _document_no_nul(schema["items"])


def _holds_nul(value: Any) -> bool:
    """A NUL in a text field or a list of texts (what `_document_no_nul` describes); free-form
    objects (feature rows) are checked where they are used."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(isinstance(item, str) and "\x00" in item for item in value)
    return False


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(arg) for arg in get_args(annotation))


class Schema(BaseModel):
    """A body of the API: unknown fields refused, no NUL characters in text, booleans neither
    passed off as numbers nor spelled as text, and datetimes answered with their offset (UTC)."""

    model_config = ConfigDict(
        from_attributes=True, extra="forbid", json_schema_extra=_document_no_nul
    )

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_only_as_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None or value is None:
            return value
        if isinstance(value, bool) and not _admits_bool(field.annotation):
            raise ValueError("must not be a boolean")
        if field.annotation in (bool, bool | None) and not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text_aware_datetimes(cls, value: Any, info: ValidationInfo) -> Any:
        if _holds_nul(value):
            raise ValueError("must not contain NUL characters")
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # the stores keep UTC; SQLite drops the offset
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
    email: EmailAddress
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


class ColumnAssignment(Schema):
    column_name: str = Field(min_length=1, max_length=255)
    data_type: str | None = Field(None, max_length=64)
    attribute_name: str = Field(min_length=1, max_length=32)


class TrainingRequest(Schema):
    dataset_id: RowId
    predictor_name: str = Field(min_length=1, max_length=255)
    domain: str = Field(min_length=1, max_length=255)
    problem_type: ProblemTypeName
    columns: list[ColumnAssignment] = Field(min_length=1, max_length=2000)
    is_incremental: bool = False
    algorithm: str | None = Field(None, max_length=32)
    shap_enabled: bool = False
    hyperparameters: dict[str, Any] | None = Field(
        None,
        max_length=10,
        description="For MLP: epochs (1-1000), learning_rate (0-1], hidden_layers (1-10 sizes).",
    )


class DetailsRequest(Schema):
    dataset_id: RowId
    predictor_name: str = Field(min_length=1, max_length=255)
    domain: str = Field(min_length=1, max_length=255)
    problem_type: ProblemTypeName


class SchemaColumnPublic(Schema):
    column_name: str
    data_type: str


class TrainingDetails(Schema):
    dataset_id: int
    predictor_name: str
    domain: str
    problem_type: str
    dataset_schema: list[SchemaColumnPublic]
    attributes: list[str]


class TrainingCreated(Schema):
    id: int
    tenant_id: str
    predictor_name: str
    problem_type: str
    created_by: str
    dataset_id: int | None
    created_at: datetime
    modified_at: datetime
    training_status: str
    last_run_id: str | None


class TrainingSummary(Schema):
    tenant_id: str
    predictor_name: str
    preprocess_id: int | None
    problem_type: str
    domain: str
    created_by: str
    id: int
    dataset_id: int | None
    dataset_name: str | None
    data_source: str | None
    created_at: datetime
    modified_at: datetime
    algorithm: str
    trained_algorithm: str | None
    accuracy: float | None
    rows_used: int | None = Field(description="Rows the current version learned from.")
    rows_rejected: int | None = Field(
        description="Rows of its dataset that failed validation, which it did not learn from."
    )
    ml_model_status: str
    train_status: str
    training_status: str
    training_error: str | None
    model_version: int | None
    mlflow_run_id: str | None
    last_run_id: str | None
    shap_status: str | None


class TrainingsPublic(Schema):
    total: int
    data: list[TrainingSummary]


class ModelUpdate(Schema):
    train_id: RowId
    preprocess_id: RowId


class ModelUpdated(Schema):
    data: str
    status_code: int
    message: str


class EngineResult(Schema):
    metrics: dict[str, float | None] = Field(default_factory=dict)
    checkpoint: str | None = None
    error: str | None = None
    path: str | None = None


class TrainingResultCallback(Schema):
    result: EngineResult
    train_id: RowId | None = None
    preprocess_id: str | int | None = None


class ShapResultCallback(Schema):
    training_id: RowId
    result: dict[str, float]


class CallbackReceived(Schema):
    status: str
    message: str


class FeatureImportance(Schema):
    feature_importance: dict[str, float]
    status: str


class ShapSubmitted(Schema):
    status: str
    message: str
    shap_job_id: str


class ModelSummaryPublic(Schema):
    model: str
    algorithm: str | None
    model_version: int | None
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1_score: float | None = None
    rows_used: int | None = None
    rows_rejected: int | None = None
    metrics: dict[str, float]


class ModelSummary(Schema):
    model_summary: ModelSummaryPublic
    confusion_matrix: list[list[int]] | None


class InferenceRequest(Schema):
    train_id: RowId
    preprocess_id: int | None = None
    features: dict[str, Any]
    target: str | None = Field(None, max_length=255)


class InferenceAnswer(Schema):
    prediction: Any
    accuracy: float | None
    probabilities: dict[str, float] | None
    model_version: int


class BatchRequest(Schema):
    train_id: RowId
    dataset_id: RowId


class BatchSubmitted(Schema):
    message: str
    status_code: int
    prediction_id: int
    job_id: str


class FormField(Schema):
    column_name: str
    data_type: str
    default_value: str | None
    required: bool


class PredictionForm(Schema):
    id: int
    headers: list[FormField]
    target: str
    preprocess_id: int | None


class ForecastRequest(Schema):
    train_id: RowId
    preprocess_id: int | None = None
    steps: int = Field(ge=1, le=1000)
    frequency: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description="Hour, Day, Week, Month, Quarter, Year or a pandas alias; by default the "
        "series' own, learned from its data (a different one is refused).",
    )
    unique_id: str | None = Field(None, max_length=255)
    dataset_id: RowId | None = None


class ForecastPointPublic(Schema):
    date: str
    value: float
    confidence: float
    lower: float
    upper: float


class ForecastAnswer(Schema):
    forecast: list[ForecastPointPublic]


class BatchResult(Schema):
    status: str
    result_path: str | None
    file_id: int | None
    dataset_id: int | None
    no_of_records: int | None
    error: str | None


class PredictionRecord(Schema):
    prediction_id: int
    train_id: int
    date: datetime
    dataset_id: int | None
    predictor_name: str
    prediction_type: str
    input_data: Any
    output: Any
    status: str
    no_of_records: int | None
    accuracy: float | None
    problem_type: str
    domain_name: str
    model_version: int | None


class PredictionsPublic(Schema):
    data: list[PredictionRecord]
