"""The workbench profile's bodies, in the original's keys (camelCase, but snake_case where the
original has it). Unknown keys are ignored, as the original's routes ignore them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WorkbenchError(BaseModel):
    """The workbench's error body, naming the field at fault when there is one."""

    error: str
    field: str | None = None


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Register(Body):
    email: str = Field(max_length=320)
    password: str = Field(min_length=8, max_length=256)
    name: str = Field(min_length=1, max_length=100)


class Login(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    rememberMe: bool = False


class Refresh(Body):
    refreshToken: str = Field(min_length=1, max_length=512)


class Logout(Body):
    refreshToken: str = Field("", max_length=512)
    """Left out (or empty): only the bearer's session ends."""


class ProjectCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    icon: str | None = Field(None, max_length=64)
    color: str | None = Field(None, max_length=32)
    metadata: dict[str, Any] | None = None


class ProjectUpdate(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    icon: str | None = Field(None, max_length=64)
    color: str | None = Field(None, max_length=32)
    metadata: dict[str, Any] | None = None


class SqlRequest(Body):
    projectId: str = Field(min_length=1, max_length=64)
    sql: str = Field(min_length=1, max_length=100_000)


class TrainRequest(Body):
    projectId: str = Field(min_length=1, max_length=64)
    datasetId: str = Field(min_length=1, max_length=64)
    templateId: str = Field(min_length=1, max_length=64)
    targetColumn: str | None = Field(None, min_length=1, max_length=255)
    parameters: dict[str, Any] | None = None
    testSize: float | None = Field(None, ge=0.05, le=0.5)
    name: str | None = Field(None, min_length=1, max_length=200)


class CompareRequest(Body):
    modelIds: list[str] = Field(max_length=100)
    """2 to 5 models of the project (checked by the route, to name the count)."""


class TuneRequest(Body):
    modelId: str = Field(min_length=1, max_length=64)
    nTrials: int = Field(20, ge=1, le=200)
    metric: str | None = Field(None, max_length=32)
    """Default: accuracy for a classifier, r2 for a regression."""
    timeoutSeconds: float = Field(600.0, gt=0, le=3600)
    sampler: str = Field("tpe", max_length=16)


class NlFilterRequest(Body):
    query: str = Field("", max_length=1000)


class DeploymentCreate(Body):
    modelId: str = Field(min_length=1, max_length=64)
    projectId: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class DeploymentUpdate(Body):
    action: str = Field(max_length=16)
    """stop or start"""


class ApiKeyCreate(Body):
    name: str = Field(min_length=1, max_length=200)
