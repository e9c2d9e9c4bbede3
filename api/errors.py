"""The one mapper from exceptions to JSON error responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_501_NOT_IMPLEMENTED,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from lakehouse.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvalidInputError,
    NotAvailableError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ServiceUnavailableError,
    StrataError,
    TooManyRequestsError,
)

log = logging.getLogger("strata.api")
MISSING_PARAMETER = re.compile(r"parameter '([^']+)'")

STATUS_OF: dict[type[StrataError], int] = {
    InvalidInputError: HTTP_422_UNPROCESSABLE_ENTITY,
    BadRequestError: HTTP_400_BAD_REQUEST,
    AuthenticationError: HTTP_401_UNAUTHORIZED,
    PermissionDeniedError: HTTP_403_FORBIDDEN,
    NotFoundError: HTTP_404_NOT_FOUND,
    ConflictError: HTTP_409_CONFLICT,
    PayloadTooLargeError: HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    ServiceUnavailableError: HTTP_503_SERVICE_UNAVAILABLE,
    NotAvailableError: HTTP_501_NOT_IMPLEMENTED,
    TooManyRequestsError: HTTP_429_TOO_MANY_REQUESTS,
}


def error_body(status_code: int, detail: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status_code": status_code, "detail": detail}
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def _json(
    status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=body, status_code=status_code, media_type=MediaType.JSON, headers=headers
    )


def status_of(exc: StrataError) -> int:
    return next(
        (code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), HTTP_400_BAD_REQUEST
    )


def error_headers(exc: StrataError) -> dict[str, str] | None:
    """The headers an error answer carries: how to authenticate, or when to try again."""
    if isinstance(exc, AuthenticationError):
        return {"WWW-Authenticate": exc.challenge}
    if isinstance(exc, TooManyRequestsError):
        return {"Retry-After": str(exc.retry_after)}
    return None


def strata_error(_: Request, exc: StrataError) -> Response:
    status = status_of(exc)
    return _json(status, error_body(status, exc.message, field=exc.field), error_headers(exc))


def validation_problem(exc: ValidationException) -> tuple[str, str | None, list[Any]]:
    """What is wrong with a request's body or parameters: a message naming each offending
    field, the first such field, and the problems one by one."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    fields = [p.get("key") for p in problems if isinstance(p, dict) and p.get("key")]
    messages = [
        f"{p.get('key')}: {p.get('message')}" if p.get("key") else str(p.get("message"))
        for p in problems
        if isinstance(p, dict)
    ]
    detail = "; ".join(messages) or exc.detail
    if not fields and (named := MISSING_PARAMETER.search(exc.detail)):
        fields = [named.group(1)]
    return detail, fields[0] if fields else None, problems


def validation_error(_: Request, exc: ValidationException) -> Response:
    """Malformed bodies and parameters are 422, naming each offending field."""
    detail, field, problems = validation_problem(exc)
    return _json(
        HTTP_422_UNPROCESSABLE_ENTITY,
        error_body(HTTP_422_UNPROCESSABLE_ENTITY, detail, field=field, errors=problems or None),
    )


def http_status(exc: HTTPException) -> int:
    """An HTTP error's status; a body that is not JSON is unprocessable, 422."""
    status = exc.status_code
    if status == HTTP_400_BAD_REQUEST and "JSON" in str(exc.detail):
        return HTTP_422_UNPROCESSABLE_ENTITY
    return status


def http_detail(status: int, exc: HTTPException) -> str:
    """What an HTTP error tells the client; a server error's own text stays in the log."""
    if status == HTTP_500_INTERNAL_SERVER_ERROR:
        log.error("server error %s: %s", status, exc.detail)
        return "internal server error"
    return str(exc.detail)


def http_error(_: Request, exc: HTTPException) -> Response:
    status = http_status(exc)
    headers = dict(exc.headers or {})
    return _json(status, error_body(status, http_detail(status, exc)), headers)


Shape = Callable[[int, str, "str | None"], dict[str, Any]]
Answer = Callable[[Request, int, str, "str | None", "dict[str, str] | None"], Response]
"""How a part of the app answers an error: the request, status, detail, field and headers."""


def json_answer(shape: Shape) -> Answer:
    """Errors answered as JSON bodies in `shape`."""

    def answer(
        _: Request, status: int, detail: str, field: str | None, headers: dict[str, str] | None
    ) -> Response:
        return _json(status, shape(status, detail, field), headers)

    return answer


def shaped_handlers(shape: Shape, malformed: int = HTTP_422_UNPROCESSABLE_ENTITY) -> dict[Any, Any]:
    """The same mapping from exceptions to statuses, with bodies in a profile's own shape;
    `malformed` is the status of a malformed request (a profile's original may answer 400)."""
    return answered_handlers(json_answer(shape), malformed)


def answered_handlers(
    answer: Answer, malformed: int = HTTP_422_UNPROCESSABLE_ENTITY
) -> dict[Any, Any]:
    """The app's mapping from exceptions to statuses, each error answered by `answer`."""

    def renumbered(status: int) -> int:
        return malformed if status == HTTP_422_UNPROCESSABLE_ENTITY else status

    def on_strata(request: Request, exc: StrataError) -> Response:
        status = renumbered(status_of(exc))
        return answer(request, status, exc.message, exc.field, error_headers(exc))

    def on_validation(request: Request, exc: ValidationException) -> Response:
        detail, field, _problems = validation_problem(exc)
        return answer(request, malformed, detail, field, None)

    def on_http(request: Request, exc: HTTPException) -> Response:
        status = renumbered(http_status(exc))
        headers = dict(exc.headers or {})
        return answer(request, status, http_detail(status, exc), None, headers)

    def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status = HTTP_500_INTERNAL_SERVER_ERROR
        return answer(request, status, "internal server error", None, None)

    return {
        StrataError: on_strata,
        # Named apart from HTTPException: the app's handler of it would be the closer match.
        ValidationException: on_validation,
        HTTPException: on_http,
        Exception: on_unexpected,
    }


def make_unexpected_error(debug: bool) -> Callable[[Request, Exception], Response]:
    def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        detail = f"{type(exc).__name__}: {exc}" if debug else "internal server error"
        return _json(HTTP_500_INTERNAL_SERVER_ERROR, error_body(500, detail))

    return unexpected_error


def exception_handlers(debug: bool) -> dict[Any, Any]:
    return {
        StrataError: strata_error,
        ValidationException: validation_error,
        HTTPException: http_error,
        Exception: make_unexpected_error(debug),
    }


def under_prefix(handlers: dict[Any, Any], prefix: str, own: dict[Any, Any]) -> dict[Any, Any]:
    """`handlers`, except that errors of paths under `prefix` are answered by `own`: also those
    raised before a route is found (no such path, a path parameter of the wrong type)."""

    def chosen(kind: Any) -> Callable[[Request, Any], Response]:
        def handle(request: Request, exc: Any) -> Response:
            under = request.url.path == prefix or request.url.path.startswith(f"{prefix}/")
            answer: Response = (own if under else handlers)[kind](request, exc)
            return answer

        return handle

    return {kind: chosen(kind) for kind in handlers}
