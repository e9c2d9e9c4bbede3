"""Login sessions: access tokens issued against a refresh-token family, rotation, logout and
revocation."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from lakehouse.accounts import rbac
from lakehouse.accounts.rbac import Principal
from lakehouse.accounts.security import (
    AccessClaims,
    TokenSigner,
    digest,
    hash_password,
    new_refresh_token,
    verify_password,
)
from lakehouse.accounts.throttle import Throttle, throttle_keys
from lakehouse.errors import (
    AuthenticationError,
)
from lakehouse.store.models import RefreshToken, User


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class SessionIssuer:
    """Logs users in and rotates their refresh tokens; an access token lives as long as the
    login session (the refresh-token family) it was issued in."""

    def __init__(
        self, signer: TokenSigner, refresh_lifetime: timedelta, throttle: Throttle
    ) -> None:
        self.signer = signer
        self.refresh_lifetime = refresh_lifetime
        self.throttle = throttle

    def login(
        self,
        session: Session,
        username: str,
        password: str,
        address: str | None = None,
        *,
        reading: Session | None = None,
    ) -> TokenPair:
        """Tokens for a user name and password (see `authenticate`)."""
        user = self.authenticate(session, username, password, address, reading=reading)
        return self.open_session(session, user)

    def open_session(self, session: Session, user: User) -> TokenPair:
        """Tokens of a new session for a user who has just proven who they are."""
        session.execute(
            update(User).where(User.id == user.id).values(last_login_at=datetime.now(UTC))
        )
        return self._issue(session, user, family_id=str(uuid.uuid4()))

    def authenticate(
        self,
        session: Session,
        username: str,
        password: str,
        address: str | None = None,
        *,
        reading: Session | None = None,
    ) -> User:
        """The active user of this name and password, throttled after repeated failures. The
        throttle and the password are checked in `reading` when given, a session that only
        reads: the password hash takes a while to verify, and no writer need wait for it. The
        outcome is written in `session`."""
        reading = reading or session
        keys = throttle_keys(username, address)
        self.throttle.check(reading, keys)
        user = reading.scalar(select(User).where(User.username == username))
        # Verify against a dummy hash when the user is unknown so timing does not reveal names.
        stored = user.password_hash if user is not None else _dummy_hash()
        if not verify_password(stored, password) or user is None:
            # Counted even though this request fails.
            self.throttle.failed(session, keys)
            session.commit()
            raise AuthenticationError("incorrect username or password", field="password")
        if not user.is_active:
            raise AuthenticationError("this user is inactive", field="username")
        self.throttle.succeeded(session, keys)
        return user

    def refresh(self, session: Session, refresh_token: str) -> TokenPair:
        record = self._use_or_end_session(session, refresh_token, "has already been used")
        user = session.get(User, record.user_id)
        if user is None or not user.is_active:
            raise AuthenticationError("refresh token is invalid", field="refresh_token")
        return self._issue(session, user, family_id=record.family_id)

    def logout(self, session: Session, refresh_token: str) -> None:
        record = self._use_or_end_session(session, refresh_token, "is no longer valid")
        revoke_tokens(session, RefreshToken.family_id == record.family_id)

    def end_session(self, session: Session, access_token: str) -> None:
        """End the login session an access token was issued in, as a logout with its refresh
        token would."""
        claims = self.signer.verify(access_token)
        revoke_tokens(
            session,
            RefreshToken.family_id == claims.session_id,
            RefreshToken.user_id == claims.user_id,
        )

    def _use_or_end_session(
        self, session: Session, refresh_token: str, refusal: str
    ) -> RefreshToken:
        """The token's record, marked used. A token presented again after its rotation has
        leaked: its whole session ends, and stays ended though this request fails, so a thief
        who refreshed it first is cut off as well."""
        record = self._lookup(session, refresh_token)
        if not self._use(session, record):
            revoke_tokens(session, RefreshToken.family_id == record.family_id)
            session.commit()
            raise AuthenticationError(f"refresh token {refusal}", field="refresh_token")
        return record

    @staticmethod
    def _use(session: Session, record: RefreshToken) -> bool:
        """Mark a token used; False when it was already used or revoked.

        One conditional UPDATE, so of two concurrent refreshes of one token only one wins.
        """
        used = session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == record.id,
                RefreshToken.rotated_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(rotated_at=datetime.now(UTC))
        )
        return bool(used.rowcount)  # type: ignore[attr-defined]

    def _issue(self, session: Session, user: User, family_id: str) -> TokenPair:
        token = new_refresh_token()
        session.add(
            RefreshToken(
                user_id=user.id,
                token_hash=digest(token),
                family_id=family_id,
                expires_at=datetime.now(UTC) + self.refresh_lifetime,
            )
        )
        session.flush()
        return TokenPair(
            access_token=self.signer.issue(user.id, user.tenant_id, session_id=family_id),
            refresh_token=token,
            expires_in=int(self.signer.lifetime.total_seconds()),
        )

    @staticmethod
    def _lookup(session: Session, refresh_token: str) -> RefreshToken:
        record = session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token))
        )
        if record is None:
            raise AuthenticationError("refresh token is invalid", field="refresh_token")
        expires_at = record.expires_at
        if expires_at.tzinfo is None:  # SQLite hands back naive datetimes
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= datetime.now(UTC):
            raise AuthenticationError("refresh token has expired", field="refresh_token")
        return record

    def principal(self, session: Session, access_token: str) -> Principal:
        """The principal an access token stands for; inactive or deleted users are refused."""
        return self.principal_of(session, self.signer.verify(access_token))

    def principal_of(self, session: Session, claims: AccessClaims) -> Principal:
        """The principal of verified claims, read from the store: the user must be active and
        the login session live (logout, reuse detection and password resets end it)."""
        user = session.get(User, claims.user_id)
        if user is None or not user.is_active or user.tenant_id != claims.tenant_id:
            raise AuthenticationError("access token is invalid")
        if not session_is_live(session, user.id, claims.session_id):
            raise AuthenticationError("access token's session has ended; log in again")
        return rbac.principal_for(user)


def session_is_live(session: Session, user_id: int, session_id: str) -> bool:
    """Whether the login session `session_id` of the user has tokens and none of them revoked
    (every revocation ends a whole family at once)."""
    tokens, revoked = session.execute(
        select(func.count(RefreshToken.id), func.count(RefreshToken.revoked_at)).where(
            RefreshToken.family_id == session_id, RefreshToken.user_id == user_id
        )
    ).one()
    return bool(tokens) and not revoked


def revoke_tokens(session: Session, *criteria: ColumnElement[bool]) -> None:
    """Revoke every live refresh token matching `criteria`."""
    session.execute(
        update(RefreshToken)
        .where(*criteria, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(16))
