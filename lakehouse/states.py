"""The states a record goes through, as stored: a dataset's validation, and the work of a
training, its SHAP values or a batch prediction. Stored and answered as their values."""

from enum import StrEnum


class ValidationState(StrEnum):
    """A dataset's: pending until its run starts, then a verdict, or failed with the reason."""

    PENDING = "pending"
    RUNNING = "running"
    VALID = "valid"
    INVALID = "invalid"
    FAILED = "failed"


class WorkState(StrEnum):
    """A training's, its SHAP values' or a batch prediction's: submitted, running, then an end."""

    SUBMITTED = "submitted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    NOT_STARTED = "not_started"  # SHAP values no run has been asked for


# Stored states whose run has not recorded its result yet.
UNRECORDED = frozenset(
    {ValidationState.PENDING, ValidationState.RUNNING, WorkState.SUBMITTED, WorkState.RUNNING}
)
