"""Roles, permissions and the principal a request acts as."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from lakehouse.store.models import Permission, Role, Tenant, User

ADMIN_ROLE = "admin"

# Permissions every tenant has; the tenant's admin role holds all of them.
TENANT_PERMISSIONS: tuple[str, ...] = (
    "users:read",
    "users:create",
    "users:update",
    "rbac:read",
    "rbac:manage",
    "runs:read",
    "runs:submit",
    "runs:cancel",
    "templates:read",
    "templates:manage",
    "datasets:read",
    "datasets:manage",
    "datalake:read",
    "models:read",
    "models:train",
    "models:predict",
)
# Permissions only the platform administrator holds; no role can carry them.
PLATFORM_PERMISSIONS: tuple[str, ...] = ("tenants:manage", "platform:selfcheck")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a user, their tenant and everything they may do."""

    user_id: int
    tenant_id: str
    username: str
    is_platform_admin: bool
    permissions: frozenset[str]

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def sees_tenant(self, tenant_id: str) -> bool:
        return self.is_platform_admin or tenant_id == self.tenant_id


def principal_for(user: User) -> Principal:
    permissions = {p.name for role in user.roles for p in role.permissions}
    permissions.difference_update(PLATFORM_PERMISSIONS)  # never granted through a role
    if user.is_platform_admin:
        # Held whatever roles say, so no tenant admin can lock the platform admin out.
        permissions.update(TENANT_PERMISSIONS, PLATFORM_PERMISSIONS)
    return Principal(
        user_id=user.id,
        tenant_id=user.tenant_id,
        username=user.username,
        is_platform_admin=user.is_platform_admin,
        permissions=frozenset(permissions),
    )


def tenant_in_reach(session: Session, actor: Principal, tenant_id: str | None = None) -> Tenant:
    """The tenant `tenant_id` (default: the actor's own) if the actor may act in it.

    Any tenant out of the actor's reach is reported as not found.
    """
    tenant_id = tenant_id or actor.tenant_id
    tenant = session.get(Tenant, tenant_id) if actor.sees_tenant(tenant_id) else None
    if tenant is None:
        raise NotFoundError(f"tenant '{tenant_id}' not found", field="tenant_id")
    return tenant


def admin_role(session: Session, tenant_id: str) -> Role:
    role = session.scalar(select(Role).where(Role.tenant_id == tenant_id, Role.name == ADMIN_ROLE))
    if role is None:
        role = Role(tenant_id=tenant_id, name=ADMIN_ROLE)
        session.add(role)
    return role


def provision_tenant(session: Session, tenant_id: str) -> Role:
    """Give a tenant every built-in permission and an admin role holding all its permissions."""
    existing = {
        p.name: p
        for p in session.scalars(select(Permission).where(Permission.tenant_id == tenant_id))
    }
    for name in TENANT_PERMISSIONS:
        if name not in existing:
            existing[name] = Permission(tenant_id=tenant_id, name=name)
            session.add(existing[name])
    role = admin_role(session, tenant_id)
    held = {p.name for p in role.permissions}
    role.permissions.extend(p for name, p in sorted(existing.items()) if name not in held)
    session.flush()
    return role


def create_role(session: Session, actor: Principal, tenant_id: str, name: str) -> Role:
    tenant_in_reach(session, actor, tenant_id)
    if session.scalar(select(Role.id).where(Role.tenant_id == tenant_id, Role.name == name)):
        raise ConflictError(f"role '{name}' already exists in this tenant", field="name")
    role = Role(tenant_id=tenant_id, name=name)
    session.add(role)
    session.flush()
    return role


def create_permission(session: Session, actor: Principal, tenant_id: str, name: str) -> Permission:
    """Create a permission; the tenant's admin role is granted it at once."""
    tenant_in_reach(session, actor, tenant_id)
    if name in PLATFORM_PERMISSIONS:
        raise InvalidInputError(
            f"permission name '{name}' is reserved for the platform", field="name"
        )
    query = select(Permission.id).where(Permission.tenant_id == tenant_id, Permission.name == name)
    if session.scalar(query):
        raise ConflictError(f"permission '{name}' already exists in this tenant", field="name")
    permission = Permission(tenant_id=tenant_id, name=name)
    session.add(permission)
    session.flush()
    admin = admin_role(session, tenant_id)
    admin.permissions.append(permission)
    session.flush()
    return permission


def list_roles(session: Session, tenant_id: str) -> Sequence[Role]:
    return session.scalars(select(Role).where(Role.tenant_id == tenant_id).order_by(Role.id)).all()


def list_permissions(session: Session, tenant_id: str) -> Sequence[Permission]:
    query = select(Permission).where(Permission.tenant_id == tenant_id).order_by(Permission.id)
    return session.scalars(query).all()


def get_role(session: Session, actor: Principal, role_id: int) -> Role:
    role = session.get(Role, role_id)
    if role is None or not actor.sees_tenant(role.tenant_id):
        raise NotFoundError(f"role {role_id} not found", field="role_id")
    return role


def get_permission(session: Session, actor: Principal, permission_id: int) -> Permission:
    permission = session.get(Permission, permission_id)
    if permission is None or not actor.sees_tenant(permission.tenant_id):
        raise NotFoundError(f"permission {permission_id} not found", field="permission_id")
    return permission


def _same_tenant(left: str, right: str, what: str, field: str) -> None:
    # A grant never crosses tenants; to the caller the other side simply does not exist here.
    if left != right:
        raise NotFoundError(f"{what} not found in the role's tenant", field=field)


def grant_permission(session: Session, actor: Principal, role_id: int, permission_id: int) -> Role:
    role = get_role(session, actor, role_id)
    permission = get_permission(session, actor, permission_id)
    _same_tenant(
        role.tenant_id, permission.tenant_id, f"permission {permission_id}", "permission_id"
    )
    if permission not in role.permissions:
        role.permissions.append(permission)
    session.flush()
    return role


def revoke_permission(session: Session, actor: Principal, role_id: int, permission_id: int) -> Role:
    role = get_role(session, actor, role_id)
    permission = get_permission(session, actor, permission_id)
    _same_tenant(
        role.tenant_id, permission.tenant_id, f"permission {permission_id}", "permission_id"
    )
    if role.name == ADMIN_ROLE:
        raise ConflictError("the admin role holds every permission", field="role_id")
    if permission in role.permissions:
        role.permissions.remove(permission)
    session.flush()
    return role


def _guard_platform_admin(actor: Principal, user: User) -> None:
    if user.is_platform_admin and not actor.is_platform_admin:
        raise PermissionDeniedError("only the platform administrator changes its own roles")


def assign_role(session: Session, actor: Principal, user: User, role_id: int) -> User:
    _guard_platform_admin(actor, user)
    role = get_role(session, actor, role_id)
    _same_tenant(user.tenant_id, role.tenant_id, f"role {role_id}", "role_id")
    if role not in user.roles:
        user.roles.append(role)
    session.flush()
    return user


def unassign_role(session: Session, actor: Principal, user: User, role_id: int) -> User:
    _guard_platform_admin(actor, user)
    role = get_role(session, actor, role_id)
    _same_tenant(user.tenant_id, role.tenant_id, f"role {role_id}", "role_id")
    if role in user.roles:
        user.roles.remove(role)
    session.flush()
    return user


def permission_names(roles: Iterable[Role]) -> list[str]:
    return sorted({p.name for role in roles for p in role.permissions})
