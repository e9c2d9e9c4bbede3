"""Bearer-token authentication and the one permission guard."""

from __future__ import annotations

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


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Resolves `Authorization: Bearer <access token>` to the caller's principal."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("missing bearer token in the Authorization header")
        platform = connection.app.state.platform
        token = token.strip()
        principal = platform.cached_principal(token)
        if principal is None:
            principal = await anyio.to_thread.run_sync(platform.principal, token)
        return AuthenticationResult(user=principal, auth=token)


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
