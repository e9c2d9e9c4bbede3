"""Secrets a request carries (refresh tokens, new passwords), read from its body or its query.

The contract spells them as query parameters, where proxies and access logs keep them; every
such operation also takes them in a form or JSON body, documented as its request body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.openapi.spec import Operation
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

from api.openapi import FORM, JSON, MULTIPART, TEXT, documented_body
from api.requests import is_json
from lakehouse.errors import InvalidInputError

FORM_TYPES = frozenset({FORM, MULTIPART})


async def body_fields(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The fields of a form or JSON body; an empty body has none."""
    media_type, _ = request.content_type
    if not await request.body():
        return {}
    if media_type in FORM_TYPES:
        return dict((await request.form()).items())
    if is_json(media_type):
        fields = await request.json()
        if not isinstance(fields, dict):
            raise InvalidInputError("the body must be a JSON object", field="body")
        return fields
    raise HTTPException(
        status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        detail=f"the body must be a form or application/json, not {media_type or 'untyped'}",
    )


def secret(fields: dict[str, Any], query: str | None, name: str) -> str:
    """`name` from the body, else from the query; a clear 422 naming it when in neither."""
    value = fields.get(name, query)
    if value is None:
        raise InvalidInputError(f"{name} is required, in the body or the query", field=name)
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string", field=name)
    return value


def secrets_body(*names: str) -> type[Operation]:
    """An OpenAPI operation documenting `names` as a form or JSON request body."""
    return documented_body(
        dict.fromkeys(names, TEXT),
        media_types=(FORM, JSON),
        description=f"{', '.join(names)}, here rather than in the query, kept out of logs",
    )


async def provide_refresh_token(
    request: Request[Any, Any, Any], refresh_token: str | None = None
) -> str:
    return secret(await body_fields(request), refresh_token, "refresh_token")


@dataclass(frozen=True)
class PasswordReset:
    user_name: str
    new_password: str


async def provide_password_reset(
    request: Request[Any, Any, Any], user_name: str | None = None, new_password: str | None = None
) -> PasswordReset:
    fields = await body_fields(request)
    return PasswordReset(
        user_name=secret(fields, user_name, "user_name"),
        new_password=secret(fields, new_password, "new_password"),
    )
