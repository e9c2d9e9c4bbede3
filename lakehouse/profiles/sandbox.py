"""A sandbox tenant: where an unauthenticated profile acts, as a user no one can log in as."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts import rbac, users
from lakehouse.accounts.rbac import Principal
from lakehouse.errors import ConflictError
from lakehouse.states import ValidationState
from lakehouse.store import Dataset, Predictor, Tenant, User


def sandbox_user_name(tenant_name: str) -> str:
    return f"sandbox.{tenant_name}"


def sandbox_principal(session: Session, tenant_name: str) -> Principal:
    """The sandbox's principal, creating the tenant and its user on first use. A tenant of
    that name that the platform did not create as a sandbox is refused, never taken over."""
    username = sandbox_user_name(tenant_name)
    tenant = session.scalar(select(Tenant).where(Tenant.name == tenant_name))
    if tenant is None:
        tenant = users.create_tenant(session, tenant_name)
    members = session.scalars(select(User).where(User.tenant_id == tenant.id)).all()
    # Checked on every start: a sandbox never holds anyone who could log in.
    if any(m.username != username or m.is_active for m in members):
        raise ConflictError(
            f"tenant '{tenant_name}' has users who can log in; it cannot be a sandbox",
            field="quickstart_tenant",
        )
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = users.create_user(
            session,
            None,
            users.NewUser(
                tenant_id=tenant.id,
                username=username,
                email=f"{username}@sandbox.invalid",
                password=users.generate_password(),  # never shown: nobody logs in as it
                first_name="Sandbox",
            ),
        )
        user.is_active = False
        user.roles.append(rbac.admin_role(session, tenant.id))
        session.flush()
    elif user.tenant_id != tenant.id:
        raise ConflictError(
            f"user '{username}' belongs to another tenant", field="quickstart_tenant"
        )
    return rbac.principal_for(user)


def latest_dataset(session: Session, actor: Principal) -> Dataset | None:
    """The tenant's most recent dataset whose rows passed validation."""
    return session.scalars(
        select(Dataset)
        .where(
            Dataset.tenant_id == actor.tenant_id, Dataset.validation_status == ValidationState.VALID
        )
        .order_by(Dataset.id.desc())
    ).first()


def latest_model(session: Session, actor: Principal) -> Predictor | None:
    """The tenant's most recent predictor with a registered model version."""
    return session.scalars(
        select(Predictor)
        .where(Predictor.tenant_id == actor.tenant_id, Predictor.model_version.is_not(None))
        .order_by(Predictor.id.desc())
    ).first()
