"""Tenants, users and their sessions: login, refresh-token rotation, logout, password reset."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from lakehouse import rbac
from lakehouse.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from lakehouse.rbac import Principal
from lakehouse.security import (
    AccessClaims,
    TokenSigner,
    digest,
    hash_password,
    new_refresh_token,
    verify_password,
)
from lakehouse.store.models import RefreshToken, Tenant, User
from lakehouse.throttle import Throttle, throttle_keys

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


def check_password_strength(password: str, field: str = "password") -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"{field} must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long",
            field=field,
        )


def generate_password() -> str:
    return secrets.token_urlsafe(18)


# Tenants


def create_tenant(session: Session, name: str) -> Tenant:
    if session.scalar(select(Tenant.id).where(Tenant.name == name)):
        raise ConflictError(f"tenant '{name}' already exists", field="name")
    tenant = Tenant(name=name)
    session.add(tenant)
    session.flush()
    rbac.provision_tenant(session, tenant.id)
    return tenant


def list_tenants(session: Session) -> Sequence[Tenant]:
    return session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.name)).all()


# Users


@dataclass(frozen=True)
class NewUser:
    tenant_id: str
    username: str
    email: str
    password: str
    first_name: str | None = None
    last_name: str | None = None


def create_user(
    session: Session, actor: Principal | None, new: NewUser, *, platform_admin: bool = False
) -> User:
    """Create a user in a tenant the actor reaches (`actor=None`: the platform itself)."""
    if actor is not None:
        rbac.tenant_in_reach(session, actor, new.tenant_id)
    elif session.get(Tenant, new.tenant_id) is None:
        raise NotFoundError(f"tenant '{new.tenant_id}' not found", field="tenant_id")
    check_password_strength(new.password)
    clash = session.scalars(
        select(User).where(or_(User.username == new.username, User.email == new.email))
    ).first()
    if clash is not None:
        field = "username" if clash.username == new.username else "email"
        raise ConflictError(f"a user with this {field} already exists", field=field)
    user = User(
        tenant_id=new.tenant_id,
        username=new.username,
        email=new.email,
        first_name=new.first_name,
        last_name=new.last_name,
        password_hash=hash_password(new.password),
        is_platform_admin=platform_admin,
        is_active=True,
    )
    session.add(user)
    session.flush()
    return user


def list_users(session: Session, tenant_id: str) -> Sequence[User]:
    return session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.id)).all()


def get_user(session: Session, actor: Principal, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not actor.sees_tenant(user.tenant_id):
        raise NotFoundError(f"user {user_id} not found", field="user_id")
    return user


def read_user(session: Session, actor: Principal, user_id: int) -> User:
    """A user as `actor` may read it: themselves, or anyone in reach with 'users:read'."""
    user = get_user(session, actor, user_id)
    if user.id != actor.user_id and not actor.can("users:read"):
        raise PermissionDeniedError("reading another user needs the 'users:read' permission")
    return user


def reset_password(session: Session, actor: Principal, user_name: str, new_password: str) -> User:
    """Set a password; allowed for the user themselves or a user manager of the same tenant."""
    user = session.scalar(select(User).where(User.username == user_name))
    if user is None or not actor.sees_tenant(user.tenant_id):
        raise NotFoundError(f"user '{user_name}' not found", field="user_name")
    if user.id != actor.user_id and not actor.can("users:update"):
        raise PermissionDeniedError(
            "resetting another user's password needs the 'users:update' permission"
        )
    if user.is_platform_admin and not actor.is_platform_admin:
        raise PermissionDeniedError("only the platform administrator resets its own password")
    check_password_strength(new_password, field="new_password")
    user.password_hash = hash_password(new_password)
    revoke_tokens(session, RefreshToken.user_id == user.id)
    return user


# Sessions


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
        """Tokens for a user name and password. The throttle and the password are checked in
        `reading` when given, a session that only reads: the password hash takes a while to
        verify, and no writer need wait for it. The outcome is written in `session`."""
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
        return self._issue(session, user, family_id=str(uuid.uuid4()))

    def refresh(self, session: Session, refresh_token: str) -> TokenPair:
        record = self._lookup(session, refresh_token)
        if not self._use(session, record):
            # A token presented after its rotation has leaked: end the whole chain, and keep
            # that decision even though this request fails.
            revoke_tokens(session, RefreshToken.family_id == record.family_id)
            session.commit()
            raise AuthenticationError("refresh token has already been used", field="refresh_token")
        user = session.get(User, record.user_id)
        if user is None or not user.is_active:
            raise AuthenticationError("refresh token is invalid", field="refresh_token")
        return self._issue(session, user, family_id=record.family_id)

    def logout(self, session: Session, refresh_token: str) -> None:
        record = self._lookup(session, refresh_token)
        if not self._use(session, record):
            raise AuthenticationError("refresh token is no longer valid", field="refresh_token")
        revoke_tokens(session, RefreshToken.family_id == record.family_id)

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
