"""Roles and permissions of a tenant, and the grants between them (module 3)."""

from __future__ import annotations

from litestar import Controller, Request, delete, get, post
from sqlalchemy.orm import Session

from api.schemas.accounts import (
    NamedInTenant,
    PermissionGrant,
    PermissionPublic,
    PermissionsPublic,
    RolePublic,
    RolesPublic,
    role_public,
)
from api.schemas.base import PathId
from api.security import forget_principals, requires_permission
from lakehouse.accounts import rbac

READ = [requires_permission("rbac:read")]
MANAGE = [requires_permission("rbac:manage")]


class RBACController(Controller):
    path = "/api/v1/rbac"
    tags = ["RBAC"]
    after_response = staticmethod(forget_principals)

    @post("/roles", operation_id="create_role", guards=MANAGE, sync_to_thread=True)
    def create_role(self, db: Session, request: Request, data: NamedInTenant) -> RolePublic:
        """Create a role in a tenant; names are unique per tenant."""
        return role_public(rbac.create_role(db, request.user, data.tenant_id, data.name))

    @get("/roles", operation_id="list_roles", guards=READ, sync_to_thread=True)
    def list_roles(
        self, db: Session, request: Request, tenant_id: str | None = None
    ) -> RolesPublic:
        """The roles of your tenant with the permissions each holds."""
        tenant = rbac.tenant_in_reach(db, request.user, tenant_id)
        roles = [role_public(r) for r in rbac.list_roles(db, tenant.id)]
        return RolesPublic(data=roles, count=len(roles))

    @post("/permissions", operation_id="create_permission", guards=MANAGE, sync_to_thread=True)
    def create_permission(
        self, db: Session, request: Request, data: NamedInTenant
    ) -> PermissionPublic:
        """Create a permission in a tenant; the tenant's admin role holds it at once."""
        permission = rbac.create_permission(db, request.user, data.tenant_id, data.name)
        return PermissionPublic.model_validate(permission)

    @get("/permissions", operation_id="list_permissions", guards=READ, sync_to_thread=True)
    def list_permissions(
        self, db: Session, request: Request, tenant_id: str | None = None
    ) -> PermissionsPublic:
        """The permissions of your tenant."""
        tenant = rbac.tenant_in_reach(db, request.user, tenant_id)
        permissions = [
            PermissionPublic.model_validate(p) for p in rbac.list_permissions(db, tenant.id)
        ]
        return PermissionsPublic(data=permissions, count=len(permissions))

    @post(
        "/roles/{role_id:int}/permissions",
        operation_id="grant_permission",
        guards=MANAGE,
        sync_to_thread=True,
    )
    def grant_permission(
        self, db: Session, request: Request, role_id: PathId, data: PermissionGrant
    ) -> RolePublic:
        """Grant a permission to a role of the same tenant."""
        return role_public(rbac.grant_permission(db, request.user, role_id, data.permission_id))

    @delete(
        "/roles/{role_id:int}/permissions/{permission_id:int}",
        operation_id="revoke_permission",
        guards=MANAGE,
        status_code=200,
        sync_to_thread=True,
    )
    def revoke_permission(
        self, db: Session, request: Request, role_id: PathId, permission_id: PathId
    ) -> RolePublic:
        """Withdraw a permission from a role (the admin role keeps every permission)."""
        return role_public(rbac.revoke_permission(db, request.user, role_id, permission_id))
