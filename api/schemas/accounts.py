"""Bodies of logins, users, tenants, roles and permissions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
)

from api.schemas.base import NAME_PATTERN, RowId, Schema


def _email_address(value: str) -> str:
    """A syntactically valid address, normalised; no mail is sent, so test and example
    domains are addresses too."""
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(
            value, check_deliverability=False, globally_deliverable=False, test_environment=True
        )
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from exc
    return str(checked.normalized)


EmailAddress = Annotated[
    str,
    AfterValidator(_email_address),
    Field(max_length=320, json_schema_extra={"format": "email"}),
]


class LoginForm(BaseModel):
    username: str
    password: str
    grant_type: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class TokenPair(Schema):
    access_token: str
    token_type: str = "bearer"
    refresh_token: str
    expires_in: int


class UserCreate(Schema):
    tenant_id: str = Field(min_length=1, max_length=36)
    first_name: str | None = Field(None, max_length=150)
    last_name: str | None = Field(None, max_length=150)
    email: EmailAddress
    username: str = Field(min_length=1, max_length=150, pattern=NAME_PATTERN)
    password: str = Field(min_length=8, max_length=256)


class UserPublic(Schema):
    id: int
    tenant_id: str
    first_name: str | None
    last_name: str | None
    email: str
    username: str
    is_active: bool


class UsersPublic(Schema):
    data: list[UserPublic]
    count: int


class TenantCreate(Schema):
    name: str = Field(min_length=1, max_length=255)


class TenantPublic(Schema):
    id: str
    name: str
    created_at: datetime


class TenantsPublic(Schema):
    data: list[TenantPublic]
    count: int


class NamedInTenant(Schema):
    name: str = Field(min_length=1, max_length=150, pattern=NAME_PATTERN)
    tenant_id: str = Field(min_length=1, max_length=36)


class PermissionPublic(Schema):
    id: int
    name: str
    tenant_id: str


class PermissionsPublic(Schema):
    data: list[PermissionPublic]
    count: int


class RolePublic(Schema):
    id: int
    tenant_id: str
    name: str
    permissions: list[str]


class RolesPublic(Schema):
    data: list[RolePublic]
    count: int


class PermissionGrant(Schema):
    permission_id: RowId


class RoleGrant(Schema):
    role_id: RowId


class UserRoles(Schema):
    user_id: int
    roles: list[str]
    permissions: list[str]


def role_public(role: Any) -> RolePublic:
    return RolePublic(
        id=role.id,
        tenant_id=role.tenant_id,
        name=role.name,
        permissions=[p.name for p in role.permissions],
    )
