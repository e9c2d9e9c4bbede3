"""An OpenAPI document that tells the truth: every operation lists the error answers it can give,
each with the error body of the API or profile that serves it, and every body model is described
by pydantic's own JSON schema, the one its validation applies (patterns, bounds, no extra
fields), rather than by a reading of its annotations."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from pydantic import BaseModel

REF_TEMPLATE = "#/components/schemas/{model}"

ERROR_MODEL = "error_model"
"""The `opt` key naming a router's error body model (its profile's shape)."""

ANSWERED_BY_ALL = (400, 401, 404, 409, 422, 429, 503)
"""Refused as asked, credentials missing or wrong (public operations check passwords and
tokens too), not found or another tenant's, in conflict, malformed, over a limit, or a backing
service down: any operation may answer these."""
GUARDED = (403,)
WITH_BODY = (413, 415)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ApiError(BaseModel):
    """The API's error body."""

    status_code: int
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


TEXT = Schema(type=OpenAPIType.STRING)
FILE = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
FILES = Schema(type=OpenAPIType.ARRAY, items=FILE, min_items=1)
MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def documented_body(
    properties: dict[str, Schema],
    *,
    required: tuple[str, ...] = (),
    media_types: tuple[str, ...] = (MULTIPART,),
    description: str | None = None,
    closed: bool = False,
) -> type[Operation]:
    """An operation class documenting a body its handler reads field by field (a form, or the
    same fields as JSON), which Litestar cannot see from the handler's signature; `closed`
    when it refuses fields it does not know."""
    schema = Schema(
        type=OpenAPIType.OBJECT,
        properties=dict(properties),
        required=sorted(required) or None,
        additional_properties=False if closed else None,
    )
    body = RequestBody(
        content={media_type: OpenAPIMediaType(schema=schema) for media_type in media_types},
        description=description,
        required=bool(required),
    )

    @dataclass
    class WithDocumentedBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    return WithDocumentedBody


def error_statuses(handler: HTTPRouteHandler) -> list[int]:
    statuses = set(ANSWERED_BY_ALL)
    if not handler.opt.get("exclude_from_auth"):
        statuses.update(GUARDED)
    if handler.http_methods & BODY_METHODS:
        statuses.update(WITH_BODY)
    return sorted(statuses)


def document_errors(app: Litestar) -> None:
    """Add the error answers to every operation's documented responses (the ones a handler
    documents itself win)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler) or not handler.include_in_schema:
                continue
            model = handler.opt.get(ERROR_MODEL, ApiError)
            errors = {
                status: ResponseSpec(
                    data_container=model,
                    description=HTTPStatus(status).phrase,
                    generate_examples=False,
                )
                for status in error_statuses(handler)
            }
            handler.responses = {**errors, **(handler.responses or {})}


def api_models() -> dict[str, type[BaseModel]]:
    """The API's pydantic models by name, as the document's components are named."""
    found: dict[str, type[BaseModel]] = {}
    pending = list(BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__module__.startswith("api."):
            found[model.__name__] = model
    return found


def with_model_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with each component that is one of the API's models replaced by the model's
    JSON schema (the models it refers to become components too)."""
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    models = api_models()
    for name in [n for n in components if n in models]:
        schema = models[name].model_json_schema(ref_template=REF_TEMPLATE)
        for nested, nested_schema in schema.pop("$defs", {}).items():
            components[nested] = nested_schema
        components[name] = schema
    return document


class TruthfulJsonRenderPlugin(JsonRenderPlugin):
    """Serves /schema/openapi.json with the models' own schemas."""

    def __init__(self) -> None:
        super().__init__()
        self._served: dict[str, Any] | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._served is not openapi_schema:
            self._served = with_model_schemas(openapi_schema)
        return super().render(request, openapi_schema)


def openapi_document(app: Litestar) -> dict[str, Any]:
    """The document `app` serves at /schema/openapi.json."""
    return with_model_schemas(app.openapi_schema.to_schema())
