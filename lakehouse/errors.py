"""Strata's exception hierarchy; the API maps each class to one HTTP status."""

from __future__ import annotations


class StrataError(Exception):
    """Base of every error Strata raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInputError(StrataError):
    """A value a client sent is malformed or out of range."""


class BadRequestError(StrataError):
    """A request is well-formed but cannot be carried out as asked."""


class AuthenticationError(StrataError):
    """Credentials or a token are missing, wrong, expired or revoked; `challenge` is how the
    client should authenticate (the WWW-Authenticate header)."""

    def __init__(
        self, message: str, *, field: str | None = None, challenge: str = "Bearer"
    ) -> None:
        super().__init__(message, field=field)
        self.challenge = challenge


class PermissionDeniedError(StrataError):
    """The caller is known but lacks the permission for this action."""


class NotFoundError(StrataError):
    """The resource does not exist or belongs to another tenant."""


class ConflictError(StrataError):
    """The resource already exists or is in a state that forbids the action."""


class ServiceUnavailableError(StrataError):
    """A backing service (Dagster, catalog, tracking store) cannot be reached."""


class NotAvailableError(StrataError):
    """What was asked needs a service this platform does not run (a language model, a code
    sandbox); the message says which."""


class PayloadTooLargeError(StrataError):
    """An upload is larger than the configured limit."""


class TooManyRequestsError(StrataError):
    """The caller is over a limit; it may try again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, int(retry_after))


def failure_message(exc: BaseException) -> str:
    """What a run that failed on `exc` tells its user: Strata's own errors say what to change;
    anything else says what broke and where the details are."""
    if isinstance(exc, StrataError):
        field = f" ({exc.field})" if exc.field else ""
        return f"{exc.message}{field}"
    if isinstance(exc, MemoryError):
        return "the run ran out of memory; try a smaller file or fewer columns"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (
        f"unexpected {type(exc).__name__}{': ' + first_line if first_line else ''}; "
        "the run's log (GET /api/v1/runs/<run id>/logs, or the Dagster UI) holds the traceback"
    )
