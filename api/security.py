"""Bearer-token authentication and the one permission guard."""

from __future__ import annotations

import base64
import hmac
from typing import Any

import anyio
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.types import Guard

from lakehouse.accounts.rbac import Principal
from lakehouse.errors import AuthenticationError, PermissionDeniedError

PUBLIC = {"exclude_from_auth": True}
# Methods that read nothing a guard protects: OPTIONS answers which methods a path allows.
UNGUARDED_METHODS = frozenset({"OPTIONS"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITES = "writes"
"""The `opt` key of a reading method's handler that writes to the metadata store all the same."""


BASIC_AUTH = "basic_auth"
"""The `opt` key of handlers that also take HTTP Basic credentials (a user name and password)."""
BASIC_CHALLENGE = 'Basic realm="Strata", Bearer'


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Resolves `Authorization: Bearer <access token>` to the caller's principal; on handlers
    marked BASIC_AUTH, also `Authorization: Basic <user name:password>`."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("Authorization", "").partition(" ")
        platform = connection.app.state.platform
        if connection.route_handler.opt.get(BASIC_AUTH):
            if scheme.lower() == "basic":
                username, password = basic_credentials(token)
                address = connection.client.host if connection.client else None
                try:
                    principal = await anyio.to_thread.run_sync(
                        platform.basic_principal, username, password, address
                    )
                except AuthenticationError as exc:
                    raise AuthenticationError(
                        exc.message, field=exc.field, challenge=BASIC_CHALLENGE
                    ) from exc
                return AuthenticationResult(user=principal, auth=None)
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError(
                    "send a user name and password (HTTP Basic) or a bearer token in the "
                    "Authorization header",
                    challenge=BASIC_CHALLENGE,
                )
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("missing bearer token in the Authorization header")
        token = token.strip()
        principal = platform.cached_principal(token)
        if principal is None:
            principal = await anyio.to_thread.run_sync(platform.principal, token)
        return AuthenticationResult(user=principal, auth=token)


def basic_credentials(token: str) -> tuple[str, str]:
    """The user name and password of an HTTP Basic `Authorization` value."""
    try:
        username, colon, password = (
            base64.b64decode(token.strip(), validate=True).decode().partition(":")
        )
    except (ValueError, UnicodeDecodeError):
        colon = ""
    if not colon or not username:
        raise AuthenticationError(
            "HTTP Basic credentials must be base64 of 'user name:password'",
            challenge=BASIC_CHALLENGE,
        )
    return username, password


def authentication() -> DefineMiddleware:
    return DefineMiddleware(BearerTokenMiddleware, exclude=["^/schema"])


def requires_permission(permission: str) -> Guard:
    """A guard admitting callers whose roles grant `permission`."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") in UNGUARDED_METHODS:
            return
        principal: Principal = connection.user
        if not principal.can(permission):
            raise PermissionDeniedError(f"this action needs the '{permission}' permission")

    guard.__name__ = f"requires_{permission.replace(':', '_')}"
    return guard


def requires_service_token(connection: ASGIConnection[Any, Any, Any, Any], _: Any) -> None:
    """A guard for callbacks of compute engines: the bearer token must be the configured
    service token; with none configured, every call is refused."""
    expected = connection.app.state.platform.settings.service_token
    scheme, _, token = connection.headers.get("Authorization", "").partition(" ")
    if (
        expected is None
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(token.strip().encode(), expected.get_secret_value().encode())
    ):
        raise AuthenticationError("this callback needs the service token as a bearer token")


async def forget_principals(request: Request[Any, Any, Any]) -> None:
    """After a change to users, roles or permissions, resolve every principal afresh."""
    if request.method not in READ_METHODS:
        request.app.state.platform.forget_principals()
