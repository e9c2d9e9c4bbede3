"""First start: schema migrations, the first tenant and the platform administrator."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from lakehouse.accounts import rbac, users
from lakehouse.settings import Settings
from lakehouse.store import MetadataStore, Tenant, User


@dataclass(frozen=True)
class BootstrapResult:
    admin_username: str
    generated_password: str | None
    """Set only on the start that created the admin without a configured password."""


def bootstrap(store: MetadataStore, settings: Settings) -> BootstrapResult:
    """Migrate the store, give every tenant the built-in permissions, create the first admin."""
    store.migrate()
    generated: str | None = None
    with store.session() as session:
        for tenant in users.list_tenants(session):
            rbac.provision_tenant(session, tenant.id)
        if session.scalar(select(User.id).where(User.is_platform_admin.is_(True))) is None:
            existing = session.scalar(
                select(Tenant).where(Tenant.name == settings.first_tenant_name)
            )
            tenant = existing or users.create_tenant(session, settings.first_tenant_name)
            if settings.admin_password is not None:
                password = settings.admin_password.get_secret_value()
            else:
                password = generated = users.generate_password()
            admin = users.create_user(
                session,
                None,
                users.NewUser(
                    tenant_id=tenant.id,
                    username=settings.admin_username,
                    email=settings.admin_email,
                    password=password,
                    first_name="Platform",
                    last_name="Administrator",
                ),
                platform_admin=True,
            )
            admin.roles.append(rbac.admin_role(session, tenant.id))
    return BootstrapResult(settings.admin_username, generated)
