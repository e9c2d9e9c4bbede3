"""Workbench accounts: Strata users who sign in with their email. Registering (when the
platform allows it) makes a user with a tenant of its own, whose admin it is."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lakehouse.accounts import rbac, users
from lakehouse.errors import ConflictError, InvalidInputError
from lakehouse.store.models import Tenant, User

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL = 150  # a Strata user name, which the email also is
MAX_NAME = 100


def iso(moment: datetime | None) -> str | None:
    """A timestamp as the original's JSON dates: ISO 8601 in UTC, with milliseconds and `Z`."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def email_of(value: Any) -> str:
    """An email address as accounts keep it: trimmed and in lower case."""
    if not isinstance(value, str) or not EMAIL.fullmatch(value.strip()):
        raise InvalidInputError("email must be an email address", field="email")
    email = value.strip().lower()
    if len(email) > MAX_EMAIL:
        raise InvalidInputError(f"email must be at most {MAX_EMAIL} characters", field="email")
    return email


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email))


def register(session: Session, email: Any, password: Any, name: Any) -> User:
    """A new user named `email`, admin of a new tenant of its own."""
    address = email_of(email)
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidInputError("password must be at least 8 characters", field="password")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
        raise InvalidInputError(f"name must be 1 to {MAX_NAME} characters", field="name")
    if user_by_email(session, address) is not None or session.scalar(
        select(User.id).where(User.username == address)
    ):
        raise ConflictError("Email already registered", field="email")
    tenant_name = address
    if session.scalar(select(Tenant.id).where(Tenant.name == tenant_name)):
        tenant_name = f"{address}-{secrets.token_hex(4)}"
    tenant = users.create_tenant(session, tenant_name)
    user = users.create_user(
        session,
        None,
        users.NewUser(
            tenant_id=tenant.id,
            username=address,
            email=address,
            password=password,
            first_name=name.strip(),
        ),
    )
    user.roles.append(rbac.admin_role(session, tenant.id))
    session.flush()
    return user


def username_for(session: Session, email: Any) -> str:
    """The user name to sign in as: that of the user with this email, or the email itself
    (which then fails as any wrong password does, in the same time)."""
    if not isinstance(email, str):
        return ""
    user = user_by_email(session, email.strip().lower())
    return user.username if user is not None else email


def safe_user(user: User) -> dict[str, Any]:
    """The original's SafeUser: no password, no token, snake_case keys."""
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return {
        "user_id": str(user.id),
        "email": user.email,
        "name": name or user.username,
        "role": "admin" if user.is_platform_admin else "user",
        "email_verified": True,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.last_login_at or user.created_at),
        "last_login_at": iso(user.last_login_at),
    }
