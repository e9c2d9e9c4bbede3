"""The workbench profile's router: the original's paths under `workbench_prefix` (`/api`),
Bearer tokens, and errors as `{"error": ...}` with the original's statuses (400 for a
malformed request)."""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.status_codes import HTTP_400_BAD_REQUEST

from api.errors import shaped_handlers
from api.openapi import ERROR_MODEL
from api.profiles.workbench import (
    accounts,
    datasets,
    deployments,
    experiments,
    models,
    projects,
    query,
    unavailable,
)
from api.profiles.workbench.schemas import WorkbenchError


def error_shape(_status: int, message: str, field: str | None) -> dict[str, Any]:
    """The original's errors, `{"error": ...}`, naming a field if any."""
    return {"error": message, **({"field": field} if field else {})}


def workbench_router(prefix: str) -> Router:
    return Router(
        path=prefix,
        route_handlers=[
            *accounts.ROUTES,
            *projects.ROUTES,
            *datasets.ROUTES,
            *query.ROUTES,
            *models.ROUTES,
            *experiments.ROUTES,
            *deployments.ROUTES,
            *unavailable.ROUTES,
        ],
        tags=["Workbench"],
        opt={ERROR_MODEL: WorkbenchError},
        exception_handlers=shaped_handlers(error_shape, malformed=HTTP_400_BAD_REQUEST),
    )
