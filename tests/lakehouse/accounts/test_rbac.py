"""Roles and permissions in the core: provisioning, principals, names, grants within a tenant,
role assignment and the platform administrator's guard."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts import rbac, users
from lakehouse.accounts.rbac import Principal
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from lakehouse.store import MetadataStore, Permission, Role, Tenant, User

EVERY_PERMISSION = frozenset(rbac.TENANT_PERMISSIONS) | frozenset(rbac.PLATFORM_PERMISSIONS)


@pytest.fixture
def session(store: MetadataStore) -> Iterator[Session]:
    with store.session() as session:
        yield session


def add_user(
    session: Session, tenant: Tenant, username: str, *roles: Role, admin: bool = False
) -> User:
    """A user holding `roles`; its password does not matter here (no slow hashing)."""
    user = User(
        tenant_id=tenant.id,
        username=username,
        email=f"{username}@example.com",
        password_hash="!unusable",
        is_platform_admin=admin,
    )
    user.roles.extend(roles)
    session.add(user)
    session.flush()
    return user


def permission(session: Session, tenant: Tenant, name: str) -> Permission:
    found = session.scalar(
        select(Permission).where(Permission.tenant_id == tenant.id, Permission.name == name)
    )
    assert found is not None
    return found


@dataclass
class World:
    """Two tenants: `home` with the platform administrator `root`, a tenant admin `deputy`
    and a plain user `alice`; `other` with its own tenant admin `stranger`."""

    home: Tenant
    other: Tenant
    root: User
    deputy: User
    alice: User
    stranger: User

    def actor(self, user: User) -> Principal:
        return rbac.principal_for(user)


@pytest.fixture
def world(session: Session) -> World:
    home = users.create_tenant(session, "home")
    other = users.create_tenant(session, "other")
    home_admin = rbac.admin_role(session, home.id)
    return World(
        home=home,
        other=other,
        root=add_user(session, home, "root", home_admin, admin=True),
        deputy=add_user(session, home, "deputy", home_admin),
        alice=add_user(session, home, "alice"),
        stranger=add_user(session, other, "stranger", rbac.admin_role(session, other.id)),
    )


def test_provision_tenant_gives_an_admin_role_every_tenant_permission_once(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        tenant = Tenant(name="bare")
        session.add(tenant)
        session.flush()
        assert rbac.list_permissions(session, tenant.id) == []
        role = rbac.provision_tenant(session, tenant.id)
        assert (role.name, role.tenant_id) == (rbac.ADMIN_ROLE, tenant.id)
        assert rbac.permission_names([role]) == sorted(rbac.TENANT_PERMISSIONS)
        names = [p.name for p in rbac.list_permissions(session, tenant.id)]
        assert sorted(names) == sorted(rbac.TENANT_PERMISSIONS)
        session.add(Permission(tenant_id=tenant.id, name="reports:read"))
        session.flush()
    with store.session() as session:
        again = rbac.provision_tenant(session, tenant.id)
        assert again.id == role.id
        assert [r.id for r in rbac.list_roles(session, tenant.id)] == [role.id]
        assert len(rbac.list_permissions(session, tenant.id)) == len(rbac.TENANT_PERMISSIONS) + 1
        # A permission the admin role lacked is added to it; nothing is held twice.
        assert rbac.permission_names([again]) == sorted([*rbac.TENANT_PERMISSIONS, "reports:read"])
        assert len(again.permissions) == len(rbac.TENANT_PERMISSIONS) + 1


def test_principal_for_holds_the_permission_names_of_every_role_of_the_user(
    session: Session, world: World
) -> None:
    readers = rbac.create_role(session, world.actor(world.deputy), world.home.id, "readers")
    trainers = rbac.create_role(session, world.actor(world.deputy), world.home.id, "trainers")
    readers.permissions.append(permission(session, world.home, "runs:read"))
    trainers.permissions.extend(
        [
            permission(session, world.home, "runs:read"),
            permission(session, world.home, "models:train"),
        ]
    )
    bob = add_user(session, world.home, "bob", readers, trainers)
    principal = rbac.principal_for(bob)
    assert principal == Principal(
        user_id=bob.id,
        tenant_id=world.home.id,
        username="bob",
        is_platform_admin=False,
        permissions=frozenset({"runs:read", "models:train"}),
    )
    assert principal.can("models:train") and not principal.can("models:predict")
    assert principal.sees_tenant(world.home.id) and not principal.sees_tenant(world.other.id)
    assert rbac.principal_for(world.alice).permissions == frozenset()
    assert world.actor(world.deputy).permissions == frozenset(rbac.TENANT_PERMISSIONS)


def test_a_role_never_carries_a_platform_permission_and_the_platform_admin_holds_all(
    session: Session, world: World
) -> None:
    smuggled = Permission(tenant_id=world.home.id, name="tenants:manage")
    session.add(smuggled)
    rbac.admin_role(session, world.home.id).permissions.append(smuggled)
    session.flush()
    deputy = world.actor(world.deputy)
    assert not deputy.can("tenants:manage")
    assert deputy.permissions == frozenset(rbac.TENANT_PERMISSIONS)
    world.root.roles.clear()
    session.flush()
    root = world.actor(world.root)
    assert root.is_platform_admin and root.permissions == EVERY_PERMISSION
    assert root.sees_tenant(world.other.id)


def test_tenant_in_reach_defaults_to_the_actors_tenant_and_hides_the_others(
    session: Session, world: World
) -> None:
    deputy = world.actor(world.deputy)
    assert rbac.tenant_in_reach(session, deputy) is world.home
    assert rbac.tenant_in_reach(session, world.actor(world.root), world.other.id) is world.other
    for tenant_id in (world.other.id, "no-such-tenant"):
        with pytest.raises(NotFoundError, match=f"tenant '{tenant_id}' not found") as hidden:
            rbac.tenant_in_reach(session, deputy, tenant_id)
        assert hidden.value.field == "tenant_id"


def test_create_role_refuses_a_name_taken_in_the_same_tenant_only(
    session: Session, world: World
) -> None:
    deputy = world.actor(world.deputy)
    analyst = rbac.create_role(session, deputy, world.home.id, "analyst")
    assert (analyst.tenant_id, analyst.name, analyst.permissions) == (world.home.id, "analyst", [])
    for taken in ("analyst", rbac.ADMIN_ROLE):
        with pytest.raises(ConflictError, match=f"role '{taken}' already exists") as refused:
            rbac.create_role(session, deputy, world.home.id, taken)
        assert refused.value.field == "name"
    elsewhere = rbac.create_role(session, world.actor(world.stranger), world.other.id, "analyst")
    assert elsewhere.tenant_id == world.other.id and elsewhere.id != analyst.id
    assert [r.name for r in rbac.list_roles(session, world.home.id)] == ["admin", "analyst"]


def test_create_role_and_permission_out_of_reach_are_not_found_naming_tenant_id(
    session: Session, world: World
) -> None:
    deputy = world.actor(world.deputy)
    for create in (rbac.create_role, rbac.create_permission):
        for tenant_id in (world.other.id, "no-such-tenant"):
            with pytest.raises(NotFoundError) as hidden:
                create(session, deputy, tenant_id, "reports:read")
            assert hidden.value.field == "tenant_id"
    assert [r.name for r in rbac.list_roles(session, world.other.id)] == ["admin"]
    names = {p.name for p in rbac.list_permissions(session, world.other.id)}
    assert names == set(rbac.TENANT_PERMISSIONS)
    # The platform administrator reaches the other tenant.
    role = rbac.create_role(session, world.actor(world.root), world.other.id, "auditors")
    assert role.tenant_id == world.other.id


@pytest.mark.parametrize("reserved", rbac.PLATFORM_PERMISSIONS)
def test_create_permission_refuses_a_platform_permission_name_even_to_the_platform_admin(
    session: Session, world: World, reserved: str
) -> None:
    for actor in (world.actor(world.deputy), world.actor(world.root)):
        with pytest.raises(InvalidInputError, match="reserved for the platform") as refused:
            rbac.create_permission(session, actor, world.home.id, reserved)
        assert refused.value.field == "name"
    assert reserved not in {p.name for p in rbac.list_permissions(session, world.home.id)}


def test_create_permission_refuses_a_taken_name_and_the_admin_role_holds_a_new_one_at_once(
    session: Session, world: World
) -> None:
    deputy = world.actor(world.deputy)
    assert not deputy.can("reports:read")
    created = rbac.create_permission(session, deputy, world.home.id, "reports:read")
    assert (created.tenant_id, created.name) == (world.home.id, "reports:read")
    assert "reports:read" in rbac.permission_names([rbac.admin_role(session, world.home.id)])
    assert world.actor(world.deputy).can("reports:read")
    for taken in ("users:read", "reports:read"):
        with pytest.raises(ConflictError, match=f"permission '{taken}' already exists") as refused:
            rbac.create_permission(session, deputy, world.home.id, taken)
        assert refused.value.field == "name"
    # The same name is free in another tenant, and held by that tenant's admin role only.
    stranger = world.actor(world.stranger)
    elsewhere = rbac.create_permission(session, stranger, world.other.id, "reports:read")
    assert elsewhere.tenant_id == world.other.id and elsewhere.id != created.id
    other_admin = rbac.admin_role(session, world.other.id)
    assert elsewhere in other_admin.permissions and created not in other_admin.permissions


def test_grant_and_revoke_change_what_a_role_and_its_holders_may_do(
    store: MetadataStore, session: Session, world: World
) -> None:
    deputy = world.actor(world.deputy)
    role = rbac.create_role(session, deputy, world.home.id, "analyst")
    world.alice.roles.append(role)
    runs_read = permission(session, world.home, "runs:read")
    for _ in range(2):  # granting twice holds it once
        assert rbac.grant_permission(session, deputy, role.id, runs_read.id) is role
    assert [p.name for p in role.permissions] == ["runs:read"]
    assert world.actor(world.alice).permissions == frozenset({"runs:read"})
    for _ in range(2):  # revoking what is not held is a no-op
        assert rbac.revoke_permission(session, deputy, role.id, runs_read.id) is role
    assert role.permissions == []
    assert world.actor(world.alice).permissions == frozenset()
    rbac.grant_permission(session, deputy, role.id, runs_read.id)
    session.commit()
    with store.session(writes=False) as fresh:
        stored = fresh.get(Role, role.id)
        assert stored is not None and [p.name for p in stored.permissions] == ["runs:read"]


def test_the_admin_role_cannot_lose_a_permission(session: Session, world: World) -> None:
    admin = rbac.admin_role(session, world.home.id)
    users_read = permission(session, world.home, "users:read")
    for actor in (world.actor(world.deputy), world.actor(world.root)):
        with pytest.raises(ConflictError, match="holds every permission") as refused:
            rbac.revoke_permission(session, actor, admin.id, users_read.id)
        assert refused.value.field == "role_id"
    assert "users:read" in rbac.permission_names([admin])


def test_grants_and_revocations_between_tenants_are_not_found(
    session: Session, world: World
) -> None:
    deputy = world.actor(world.deputy)
    home_role = rbac.create_role(session, deputy, world.home.id, "analyst")
    home_permission = permission(session, world.home, "runs:read")
    other_role = rbac.create_role(session, world.actor(world.stranger), world.other.id, "analyst")
    other_permission = permission(session, world.other, "runs:read")
    other_role.permissions.append(other_permission)
    session.flush()
    attempts = [
        (rbac.grant_permission, home_role.id, other_permission.id, "permission_id"),
        (rbac.grant_permission, other_role.id, home_permission.id, "role_id"),
        (rbac.revoke_permission, home_role.id, other_permission.id, "permission_id"),
        (rbac.revoke_permission, other_role.id, other_permission.id, "role_id"),
        (rbac.grant_permission, home_role.id, 10_000_000, "permission_id"),
        (rbac.grant_permission, 10_000_000, home_permission.id, "role_id"),
    ]
    for change, role_id, permission_id, field in attempts:
        with pytest.raises(NotFoundError) as hidden:
            change(session, deputy, role_id, permission_id)
        assert hidden.value.field == field
    # Not even the platform administrator grants or revokes across tenants.
    root = world.actor(world.root)
    for change in (rbac.grant_permission, rbac.revoke_permission):
        with pytest.raises(NotFoundError, match="not found in the role's tenant") as crossed:
            change(session, root, home_role.id, other_permission.id)
        assert crossed.value.field == "permission_id"
    assert home_role.permissions == []
    assert [p.name for p in other_role.permissions] == ["runs:read"]


def test_assign_and_unassign_change_a_users_roles_and_permissions(
    store: MetadataStore, session: Session, world: World
) -> None:
    deputy = world.actor(world.deputy)
    role = rbac.create_role(session, deputy, world.home.id, "analyst")
    rbac.grant_permission(session, deputy, role.id, permission(session, world.home, "runs:read").id)
    for _ in range(2):  # assigning twice holds it once
        assert rbac.assign_role(session, deputy, world.alice, role.id) is world.alice
    assert [r.name for r in world.alice.roles] == ["analyst"]
    assert world.actor(world.alice).can("runs:read")
    session.commit()
    with store.session(writes=False) as fresh:
        stored = fresh.get(User, world.alice.id)
        assert stored is not None and [r.id for r in stored.roles] == [role.id]
    for _ in range(2):  # unassigning what is not held is a no-op
        assert rbac.unassign_role(session, deputy, world.alice, role.id) is world.alice
    assert world.alice.roles == []
    assert not world.actor(world.alice).can("runs:read")


def test_a_role_of_another_tenant_or_none_cannot_be_assigned(
    session: Session, world: World
) -> None:
    other_admin = rbac.admin_role(session, world.other.id)
    home_admin = rbac.admin_role(session, world.home.id)
    attempts = [
        (world.actor(world.deputy), world.alice, other_admin.id),
        (world.actor(world.root), world.alice, other_admin.id),
        (world.actor(world.root), world.stranger, home_admin.id),
        (world.actor(world.deputy), world.alice, 10_000_000),
    ]
    for actor, user, role_id in attempts:
        with pytest.raises(NotFoundError) as hidden:
            rbac.assign_role(session, actor, user, role_id)
        assert hidden.value.field == "role_id"
    with pytest.raises(NotFoundError):
        rbac.unassign_role(session, world.actor(world.deputy), world.stranger, other_admin.id)
    # Not even the platform administrator unassigns across tenants.
    with pytest.raises(NotFoundError, match="not found in the role's tenant") as crossed:
        rbac.unassign_role(session, world.actor(world.root), world.alice, other_admin.id)
    assert crossed.value.field == "role_id"
    assert world.alice.roles == []
    assert [r.id for r in world.stranger.roles] == [other_admin.id]


def test_no_tenant_admin_changes_the_platform_admins_roles_whatever_the_role(
    session: Session, world: World
) -> None:
    home_admin = rbac.admin_role(session, world.home.id)
    analyst = rbac.create_role(session, world.actor(world.deputy), world.home.id, "analyst")
    deputy = world.actor(world.deputy)
    assert deputy.permissions == frozenset(rbac.TENANT_PERMISSIONS)
    # Refused before the role is even looked up: a role that does not exist is refused alike.
    for change, role_id in (
        (rbac.assign_role, analyst.id),
        (rbac.unassign_role, home_admin.id),
        (rbac.assign_role, 10_000_000),
        (rbac.unassign_role, 10_000_000),
    ):
        with pytest.raises(PermissionDeniedError, match="only the platform administrator"):
            change(session, deputy, world.root, role_id)
    assert [r.id for r in world.root.roles] == [home_admin.id]


def test_the_platform_admin_changes_its_own_roles_and_keeps_every_permission(
    session: Session, world: World
) -> None:
    root = world.actor(world.root)
    home_admin = rbac.admin_role(session, world.home.id)
    rbac.unassign_role(session, root, world.root, home_admin.id)
    assert world.root.roles == []
    assert world.actor(world.root).permissions == EVERY_PERMISSION
    rbac.assign_role(session, root, world.root, home_admin.id)
    assert [r.id for r in world.root.roles] == [home_admin.id]


def test_the_guard_protects_only_the_platform_admin_not_other_tenant_admins(
    session: Session, world: World
) -> None:
    home_admin = rbac.admin_role(session, world.home.id)
    other_deputy = add_user(session, world.home, "other-deputy", home_admin)
    deputy = world.actor(world.deputy)
    rbac.unassign_role(session, deputy, other_deputy, home_admin.id)
    assert other_deputy.roles == []
    rbac.assign_role(session, deputy, world.alice, home_admin.id)
    assert world.actor(world.alice).permissions == frozenset(rbac.TENANT_PERMISSIONS)
    # The platform administrator changes anyone's roles, in any tenant.
    other_admin = rbac.admin_role(session, world.other.id)
    rbac.unassign_role(session, world.actor(world.root), world.stranger, other_admin.id)
    assert world.stranger.roles == []
