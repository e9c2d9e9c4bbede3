"""Tenants and users: creation, lookup, passwords and their reset."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lakehouse.accounts import rbac
from lakehouse.accounts.rbac import Principal
from lakehouse.accounts.security import (
    hash_password,
)
from lakehouse.accounts.sessions import revoke_tokens
from lakehouse.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from lakehouse.store.models import RefreshToken, Tenant, User

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
