"""Bodies of trainings, their callbacks and feature importance, real-time, batch and forecast
predictions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
)

from api.schemas.base import RowId, Schema
from lakehouse.ml.spec import ProblemType


def _problem_type(value: Any) -> Any:
    return ProblemType.parse(value).value if isinstance(value, str) else value


ProblemTypeName = Annotated[
    Literal["Classification", "Regression", "Forecast"],
    BeforeValidator(_problem_type),
    Field(description="Classification, Regression or Forecast (any case)"),
]


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
