"""Signing in to the console: the API's own login, its tokens kept in cookies the browser sends
only to the console's pages (HttpOnly, SameSite=Strict), renewed with the refresh token when
the access token runs out; and the console's way of answering (pages, and errors as pages)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import anyio
from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_401_UNAUTHORIZED

from api.errors import answered_handlers
from api.platform import Platform
from api.schemas.base import MAX_ID
from lakehouse.accounts.sessions import TokenPair
from lakehouse.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StrataError,
)

PREFIX = "/console"
ACCESS_COOKIE = "strata_console_access"
REFRESH_COOKIE = "strata_console_refresh"
SIGNED_OUT = "console_signed_out"
"""The `opt` key of the console's pages that need no one signed in (the sign-in page)."""
RENEWED = "console_renewed_tokens"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def renew(platform: Platform, refresh_token: str) -> TokenPair:
    with platform.store.session() as session:
        return platform.issuer.refresh(session, refresh_token)


class ConsoleSession(AbstractAuthenticationMiddleware):
    """Resolves the console's cookies to the signed-in principal: the access token, or, once it
    has run out, a new pair from the refresh token (set on the answer by `page`)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        platform: Platform = connection.app.state.platform
        token = connection.cookies.get(ACCESS_COOKIE)
        if token:
            try:
                principal = platform.cached_principal(token) or await anyio.to_thread.run_sync(
                    platform.principal, token
                )
                return AuthenticationResult(user=principal, auth=token)
            except AuthenticationError:
                pass
        refresh_token = connection.cookies.get(REFRESH_COOKIE)
        if refresh_token:
            try:
                pair = await anyio.to_thread.run_sync(renew, platform, refresh_token)
                principal = await anyio.to_thread.run_sync(platform.principal, pair.access_token)
            except AuthenticationError:
                pass
            else:
                connection.state[RENEWED] = pair
                return AuthenticationResult(user=principal, auth=pair.access_token)
        raise AuthenticationError("sign in to use the console", challenge="Cookie")


def session_middleware() -> DefineMiddleware:
    return DefineMiddleware(ConsoleSession, exclude_from_auth_key=SIGNED_OUT)


def same_origin(request: Request[Any, Any, Any]) -> None:
    """Refuse a form posted from another site (the cookies are SameSite=Strict as well)."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise PermissionDeniedError("a console form must be sent from the console itself")


def with_tokens(response: Response[Any], request: Request[Any, Any, Any], pair: TokenPair) -> None:
    platform: Platform = request.app.state.platform
    secure = request.url.scheme == "https"
    settings = platform.settings
    for name, value, seconds in (
        (ACCESS_COOKIE, pair.access_token, settings.access_token_minutes * 60),
        (REFRESH_COOKIE, pair.refresh_token, settings.refresh_token_days * 86400),
    ):
        response.set_cookie(
            name,
            value,
            max_age=seconds,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=secure,
        )


def page(
    request: Request[Any, Any, Any], template: str, status_code: int = 200, **context: Any
) -> Template:
    """A console page: the template rendered with the signed-in user and the links of the
    header, carrying renewed tokens when the request renewed them."""
    platform: Platform = request.app.state.platform
    user = request.scope.get("user")
    response = Template(
        template_name=template,
        status_code=status_code,
        context={
            "user": user,
            "tenant": platform.tenant_name(user.tenant_id) if user is not None else None,
            "path": request.url.path,
            "links": {
                "API docs": "/schema/swagger",
                "Dagster UI": dagster_ui(request),
                "MLflow UI": on_this_host(request, platform.settings.mlflow_port),
            },
            **context,
        },
    )
    pair = request.state.get(RENEWED)
    if pair is not None:
        with_tokens(response, request, pair)
    return response


def on_this_host(request: Request[Any, Any, Any], port: int) -> str:
    """The address of a service beside the API, as the browser reaches the API's host."""
    return f"{request.url.scheme}://{request.url.hostname or '127.0.0.1'}:{port}"


def dagster_ui(request: Request[Any, Any, Any]) -> str:
    platform: Platform = request.app.state.platform
    return on_this_host(request, platform.settings.dagster_port)


def sign_in_address(path: str) -> str:
    return f"{PREFIX}/login?next={quote(path, safe='/')}"


def answer_error(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    field: str | None,
    headers: dict[str, str] | None,
) -> Response[Any]:
    """Errors on the console's pages: a page saying what went wrong; no one signed in, the
    sign-in page (for a page that was asked for, with the way back to it)."""
    if status == HTTP_401_UNAUTHORIZED:
        back = request.url.path if request.method in SAFE_METHODS else PREFIX
        return Redirect(sign_in_address(back), status_code=303)
    retry = (
        {"Retry-After": headers["Retry-After"]} if headers and "Retry-After" in headers else None
    )
    response = page(request, "error.html", status, status=status, detail=detail, field=field)
    if retry:
        response.headers.update(retry)
    return response


def error_handlers() -> dict[Any, Any]:
    return answered_handlers(answer_error, malformed=400)


def form_id(value: str | None, field: str, what: str) -> int:
    """An id a form sent: a whole number within the ids' range, or an error naming `field`."""
    text = (value or "").strip()
    if text.isdigit() and 1 <= int(text) <= MAX_ID:
        return int(text)
    raise InvalidInputError(f"pick {what}", field=field)


def next_page(target: str | None) -> str:
    """Where to go after signing in: a console page, never another site."""
    if target and target.startswith(PREFIX) and not target.startswith("//"):
        return target
    return f"{PREFIX}/datasets"


@get("/login", opt={SIGNED_OUT: True}, sync_to_thread=False, include_in_schema=False)
def sign_in_page(request: Request[Any, Any, Any]) -> Template:
    return page(request, "login.html", target=next_page(request.query_params.get("next")))


@post("/login", opt={SIGNED_OUT: True}, sync_to_thread=True, include_in_schema=False)
def sign_in(
    request: Request[Any, Any, Any],
    platform: Platform,
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    """Sign in with a user name and password; wrong ones answer the page again, the error
    beside the field it is about."""
    target = next_page(data.get("next"))
    username, password = data.get("username", "").strip(), data.get("password", "")
    address = request.client.host if request.client else None
    try:
        if not username:
            raise AuthenticationError("enter your user name", field="username")
        with platform.store.session() as session, platform.store.session(writes=False) as reading:
            pair = platform.issuer.login(session, username, password, address, reading=reading)
    except StrataError as exc:
        return page(
            request,
            "login.html",
            400 if not isinstance(exc, AuthenticationError) else 401,
            target=target,
            username=username,
            errors={exc.field or "password": exc.message},
        )
    response = Redirect(target, status_code=303)
    with_tokens(response, request, pair)
    return response


@post("/logout", sync_to_thread=True, include_in_schema=False)
def sign_out(request: Request[Any, Any, Any], platform: Platform) -> Response[Any]:
    """End the session (its refresh token and those rotated from it) and forget the cookies."""
    refresh_token = request.cookies.get(REFRESH_COOKIE)
    if refresh_token:
        try:
            with platform.store.session() as session:
                platform.issuer.logout(session, refresh_token)
            platform.forget_principals()
        except AuthenticationError:
            pass  # already ended
    response = Redirect(f"{PREFIX}/login", status_code=303)
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path=PREFIX)
    return response


@get("/", sync_to_thread=False, include_in_schema=False)
def home() -> Redirect:
    return Redirect(f"{PREFIX}/datasets", status_code=303)


@get("/{rest:path}", sync_to_thread=False, include_in_schema=False)
def no_such_page(rest: str) -> None:
    """Any other console address: the console's own page saying so (signed in or not)."""
    raise NotFoundError(f"there is no console page {PREFIX}{rest}")
