"""The workbench's models: the templates a model is trained from."""

from __future__ import annotations

from typing import Any

from litestar import get

from api.security import requires_permission
from lakehouse.profiles.workbench.templates import TEMPLATES

READ = [requires_permission("models:read")]


@get("/models/templates", operation_id="workbench_model_templates", guards=READ)
async def model_templates() -> dict[str, Any]:
    """The model templates: the original's eight scikit-learn models and Strata's XGBoost and
    LightGBM, each with its task, metrics and the parameters a training may set (with their
    bounds or options)."""
    return {"templates": [template.document() for template in TEMPLATES]}


ROUTES = [model_templates]
