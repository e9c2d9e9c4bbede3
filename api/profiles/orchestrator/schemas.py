"""The orchestrator profile's documented shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OrchestratorError(BaseModel):
    """The orchestrator profile's error body."""

    model_config = ConfigDict(populate_by_name=True)

    Error: str
    field: str | None = None
