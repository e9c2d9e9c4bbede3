"""The workbench's accounts: register, sign in with an email, refresh, sign out, who am I.
Tokens are Strata's own: a short-lived access JWT and a rotated refresh token."""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar

from litestar import Request, get, post
from litestar.di import Provide
from litestar.openapi import ResponseSpec
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_204_NO_CONTENT,
    HTTP_403_FORBIDDEN,
)
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from api.openapi import JSON, TEXT, documented_body
from api.platform import Platform
from api.profiles.workbench.schemas import Login, Logout, Refresh, Register, WorkbenchError
from api.security import PUBLIC
from lakehouse.accounts.rbac import Principal
from lakehouse.accounts.sessions import TokenPair
from lakehouse.errors import AuthenticationError, InvalidInputError, PermissionDeniedError
from lakehouse.profiles.workbench import accounts
from lakehouse.store.models import User

Document = dict[str, Any]


B = TypeVar("B", bound=BaseModel)


def optional_body(raw: bytes, model: type[B]) -> B | None:
    """A JSON body that may be left out: nothing sent is None, anything sent must be the
    model's object (400 naming the field otherwise)."""
    if not raw.strip():
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidInputError(f"the body is not valid: {first['msg']}", field=field) from None


async def raw_body(request: Request) -> bytes:
    return await request.body()


def signed_in(user: User, pair: TokenPair) -> Document:
    return {
        "user": accounts.safe_user(user),
        "accessToken": pair.access_token,
        "refreshToken": pair.refresh_token,
    }


@post(
    "/auth/register",
    operation_id="workbench_register",
    opt=PUBLIC,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
    responses={
        HTTP_403_FORBIDDEN: ResponseSpec(
            data_container=WorkbenchError,
            description="Registration is disabled",
            generate_examples=False,
        )
    },
)
def register(db: Session, platform: Platform, data: Register) -> Document:
    """Create an account (when the platform allows self-registration): a user named by the
    email, in a tenant of its own, signed in at once."""
    if not platform.settings.workbench_registration:
        raise PermissionDeniedError(
            "Registration is disabled: ask an administrator for an account", field="email"
        )
    user = accounts.register(db, data.email, data.password, data.name)
    pair = platform.issuer.open_session(db, user)
    db.refresh(user)
    return signed_in(user, pair)


@post(
    "/auth/login",
    operation_id="workbench_login",
    opt=PUBLIC,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def login(db: Session, platform: Platform, request: Request, data: Login) -> Document:
    """Exchange an email and password for tokens. Repeated failures are throttled (429)."""
    address = request.client.host if request.client else None
    with platform.store.session(writes=False) as reading:
        username = accounts.username_for(reading, data.email)
        try:
            pair = platform.issuer.login(db, username, data.password, address, reading=reading)
        except AuthenticationError as exc:
            raise AuthenticationError("Invalid email or password", field="email") from exc
    user = db.get(User, platform.issuer.signer.verify(pair.access_token).user_id)
    assert user is not None
    return signed_in(user, pair)


@post(
    "/auth/refresh",
    operation_id="workbench_refresh",
    opt=PUBLIC,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def refresh(db: Session, platform: Platform, data: Refresh) -> Document:
    """Rotate a refresh token: the old one stops working (presented again, it ends the whole
    session), a new pair is returned."""
    pair = platform.issuer.refresh(db, data.refreshToken)
    return {"accessToken": pair.access_token, "refreshToken": pair.refresh_token}


@post(
    "/auth/logout",
    operation_id="workbench_logout",
    status_code=HTTP_204_NO_CONTENT,
    sync_to_thread=True,
    # the body is optional: the bearer token alone names the session
    operation_class=documented_body({"refreshToken": TEXT}, media_types=(JSON,)),
    dependencies={"raw": Provide(raw_body)},
)
def logout(db: Session, platform: Platform, request: Request, raw: bytes) -> None:
    """End the session: that of the bearer token, and that of the refresh token if sent."""
    sent = optional_body(raw, Logout)
    if sent is not None and sent.refreshToken:
        # one already ended is no error: the bearer's own session ends all the same
        with contextlib.suppress(AuthenticationError):
            platform.issuer.logout(db, sent.refreshToken)
    platform.issuer.end_session(db, str(request.auth))
    db.commit()
    platform.forget_principals()  # the session's access tokens end now in this process


@get("/auth/me", operation_id="workbench_me", sync_to_thread=True)
def me(db: Session, request: Request) -> Document:
    """The signed-in user."""
    principal: Principal = request.user
    user = db.get(User, principal.user_id)
    assert user is not None  # the principal was read from it
    return {"user": accounts.safe_user(user)}


ROUTES = [register, login, refresh, logout, me]
