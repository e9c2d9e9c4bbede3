"""The quickstart's bodies, in the reference's field names."""

from __future__ import annotations

from pydantic import BaseModel

from api.schemas.base import Schema


class QuickstartError(BaseModel):
    """The quickstart's error body."""

    status: str
    message: str
    field: str | None = None


class Connected(Schema):
    message: str


class Health(Schema):
    status: str
    detail: str


class TargetRange(Schema):
    min: float
    max: float


class Uploaded(Schema):
    status: str
    message: str
    filename: str
    num_points: int
    num_features: int
    target_range: TargetRange
    train_size: int
    val_size: int
    test_size: int


class Trained(Schema):
    status: str
    message: str
    mse: float
    r2: float
    train_size: int
    val_size: int
    test_size: int
    model_path: str
    training_time_seconds: float
    learning_curve_url: str
    predictions_plot_url: str


class Predicted(Schema):
    status: str
    inputs: list[int | float]
    prediction: float


class RemovedThings(Schema):
    uploads: list[str]
    outputs: list[str]


class ResetDone(Schema):
    status: str
    removed: RemovedThings
