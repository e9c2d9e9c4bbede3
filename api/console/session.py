"""Signing in to the console: the API's own login, its tokens kept in cookies the browser sends
only to the console's pages (HttpOnly, SameSite=Strict), renewed with the refresh token when
the access token runs out; and the console's way of answering (pages, and errors as pages)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import anyio
from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, Headers
from litestar.enums import RequestEncodingType
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_422_UNPROCESSABLE_ENTITY,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import answered_handlers, status_of
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
MAX_NAME = 255  # names of datasets and models, as the API takes them


def renew(platform: Platform, refresh_token: str) -> TokenPair:
    with platform.store.session() as session:
        return platform.issuer.refresh(session, refresh_token)


class ConsoleSession(AbstractAuthenticationMiddleware):
    """Resolves the console's cookies to the signed-in principal: the access token, or, once it
    has run out, a new pair from the refresh token (sent with the answer by `RenewedTokens`)."""

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
    # the address the browser used: the Host header, or a proxy's X-Forwarded-Host (a form a
    # page of another site posts cannot set headers)
    hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host")}
    if origin and urlsplit(origin).netloc not in hosts:
        raise PermissionDeniedError("a console form must be sent from the console itself")


def token_cookies(platform: Platform, pair: TokenPair, secure: bool) -> list[Cookie]:
    """The console's cookies of a token pair: HttpOnly, SameSite=Strict, sent only to it."""
    settings = platform.settings
    return [
        Cookie(
            key=name,
            value=value,
            max_age=seconds,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=secure,
        )
        for name, value, seconds in (
            (ACCESS_COOKIE, pair.access_token, settings.access_token_minutes * 60),
            (REFRESH_COOKIE, pair.refresh_token, settings.refresh_token_days * 86400),
        )
    ]


def is_secure(headers: Any, scheme: str) -> bool:
    """Whether the browser reached the console over HTTPS (directly or through a proxy)."""
    return scheme == "https" or headers.get("x-forwarded-proto", "").lower() == "https"


class RenewedTokens:
    """Sends the pair a request renewed (see ConsoleSession) with whatever answers it: a page,
    a redirect, an image, a download or an error. The old refresh token is spent; a browser
    that kept it would end its own session with its next renewal."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            pair = scope.get("state", {}).get(RENEWED)
            if message["type"] == "http.response.start" and pair is not None:
                headers = Headers.from_scope(scope)
                platform: Platform = scope["app"].state.platform
                secure = is_secure(headers, scope.get("scheme", "http"))
                extra = [c.to_encoded_header() for c in token_cookies(platform, pair, secure)]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, sending)


def page(
    request: Request[Any, Any, Any], template: str, status_code: int = 200, **context: Any
) -> Template:
    """A console page: the template rendered with the signed-in user and the links of the
    header."""
    platform: Platform = request.app.state.platform
    user = request.scope.get("user")
    return Template(
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
        back = PREFIX
        if request.method in SAFE_METHODS:
            query = request.url.query
            back = f"{request.url.path}?{query}" if query else request.url.path
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


def form_status(exc: StrataError) -> int:
    """The status of a form answered again with its error: the API's, malformed being 400."""
    status = status_of(exc)
    return HTTP_400_BAD_REQUEST if status == HTTP_422_UNPROCESSABLE_ENTITY else status


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
            form_status(exc),
            target=target,
            username=username,
            errors={exc.field or "password": exc.message},
        )
    secure = is_secure(request.headers, request.url.scheme)
    return Redirect(target, status_code=303, cookies=token_cookies(platform, pair, secure))


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
