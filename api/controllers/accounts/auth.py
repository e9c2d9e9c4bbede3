"""Login, token refresh and logout, password reset and token validation (modules 1 and 10)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.orm import Session

from api.platform import Platform
from api.schemas.accounts import LoginForm, TokenPair, UserPublic
from api.schemas.base import Message
from api.secrets import (
    PasswordReset,
    provide_password_reset,
    provide_refresh_token,
    secrets_body,
)
from api.security import PUBLIC
from lakehouse.accounts import sessions, users
from lakehouse.accounts.rbac import Principal


def token_pair(pair: sessions.TokenPair) -> TokenPair:
    return TokenPair(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


# A public operation presenting a refresh token, in the query or the body.
WITH_REFRESH_TOKEN: dict[str, Any] = {
    "status_code": HTTP_200_OK,
    "opt": PUBLIC,
    "sync_to_thread": True,
    "dependencies": {"presented": Provide(provide_refresh_token)},
    "operation_class": secrets_body("refresh_token"),
}


class LoginController(Controller):
    path = "/api/v1"
    tags = ["Login"]

    @post(
        "/login/access-token",
        operation_id="login_access_token",
        status_code=HTTP_200_OK,
        opt=PUBLIC,
        sync_to_thread=True,
    )
    def access_token(
        self,
        db: Session,
        platform: Platform,
        request: Request,
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> TokenPair:
        """Exchange a username and password for an access token and a refresh token.

        After a few consecutive failures under one user name or from one address, further
        attempts are refused for a while with 429 and `Retry-After`."""
        address = request.client.host if request.client else None
        with platform.store.session(writes=False) as reading:
            pair = platform.issuer.login(db, data.username, data.password, address, reading=reading)
        return token_pair(pair)

    @post(
        "/login/test-token",
        operation_id="login_test_token",
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def test_token(self, db: Session, request: Request) -> UserPublic:
        """The user the bearer token belongs to."""
        principal: Principal = request.user
        return UserPublic.model_validate(users.get_user(db, principal, principal.user_id))

    @post("/refresh", operation_id="refresh_token", **WITH_REFRESH_TOKEN)
    def refresh(self, db: Session, platform: Platform, presented: str) -> TokenPair:
        """Rotate a refresh token: the old one stops working, a new pair is returned."""
        return token_pair(platform.issuer.refresh(db, presented))

    @post("/logout", operation_id="logout", **WITH_REFRESH_TOKEN)
    def logout(self, db: Session, platform: Platform, presented: str) -> Message:
        """Revoke a refresh token and every token rotated from the same login."""
        platform.issuer.logout(db, presented)
        db.commit()
        platform.forget_principals()  # the session's access tokens end now in this process
        return Message(status=200, message="User successfully logged out")

    @post(
        "/reset-password",
        operation_id="reset_password",
        status_code=HTTP_200_OK,
        sync_to_thread=True,
        dependencies={"reset": Provide(provide_password_reset)},
        operation_class=secrets_body("user_name", "new_password"),
    )
    def reset_password(
        self, db: Session, platform: Platform, request: Request, reset: PasswordReset
    ) -> Message:
        """Set a new password for yourself, or for a user of your tenant as a user manager."""
        users.reset_password(db, request.user, reset.user_name, reset.new_password)
        db.commit()
        platform.forget_principals()  # every session of the user ends now in this process
        return Message(status=200, message="Password has been reset successfully")

    @get("/validate-token", operation_id="validate_token", tags=["Auth"])
    async def validate_token(self) -> Message:
        """Answer success when the bearer token is valid and unexpired."""
        return Message(status="success", message="Token is valid.")
