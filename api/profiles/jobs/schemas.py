"""The jobs profile's bodies, in the reference's field names."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.schemas.base import Schema


class JobsError(BaseModel):
    """The jobs profile's error body."""

    ok: bool
    error: str
    field: str | None = None


class TrainStarted(Schema):
    ok: bool
    message: str
    job_id: str
    status: str
    status_url: str
    logs_url: str
    info: str | None


class JobParams(Schema):
    data_path: str
    satellite: str
    model: str
    label: str


class JobResult(Schema):
    """A succeeded job's metrics, plots and model, as MLflow URIs and as media URLs."""

    accuracy: float | None
    cv_mean: float | None
    cv_std: float | None
    auc_score: float | None
    cm_image_path: str
    cm_image_url: str
    cm_norm_image_path: str
    cm_norm_image_url: str
    model_path: str
    model_url: str
    elapsed_sec: float | None


class JobStatus(Schema):
    ok: bool
    job_id: str
    status: str
    params: JobParams
    result: JobResult | None
    error: str | None


class JobLogs(Schema):
    ok: bool
    job_id: str
    status: str
    offset: int
    next_offset: int
    done: bool
    lines: list[str]


class Scored(Schema):
    """Rows `from_row` to `to_row` of a scored CSV, each with its identifiers, predicted class,
    confidence, a probability per class and, when the label was sent, the actual class."""

    ok: bool
    satellite: str
    job_id: str
    from_row: int
    to_row: int
    total_predicted: int
    csv_file: str
    results: list[dict[str, Any]]


class Merged(Schema):
    ok: bool
    message: str
    merged_filename: str
    merged_rows: int
    merged_url: str
    merge_token: str
    expires_in: int
