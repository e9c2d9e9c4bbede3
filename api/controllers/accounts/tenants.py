"""Tenants, managed by the platform administrator."""

from __future__ import annotations

from litestar import Controller, get, post
from sqlalchemy.orm import Session

from api.schemas.accounts import TenantCreate, TenantPublic, TenantsPublic
from api.security import forget_principals, requires_permission
from lakehouse.accounts import users


class TenantController(Controller):
    path = "/api/v1/tenants"
    tags = ["Tenants"]
    guards = [requires_permission("tenants:manage")]
    after_response = staticmethod(forget_principals)

    @post("/", operation_id="create_tenant", sync_to_thread=True)
    def create_tenant(self, db: Session, data: TenantCreate) -> TenantPublic:
        """Create a tenant with its built-in permissions and an admin role."""
        return TenantPublic.model_validate(users.create_tenant(db, data.name))

    @get("/", operation_id="list_tenants", sync_to_thread=True)
    def list_tenants(self, db: Session) -> TenantsPublic:
        """Every tenant of the platform."""
        tenants = [TenantPublic.model_validate(t) for t in users.list_tenants(db)]
        return TenantsPublic(data=tenants, count=len(tenants))
