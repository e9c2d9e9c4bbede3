"""Tenants and users in the core: creation, visibility, password rules and their reset."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lakehouse.accounts import rbac, users
from lakehouse.accounts.rbac import Principal
from lakehouse.accounts.security import TokenSigner, verify_password
from lakehouse.accounts.sessions import SessionIssuer, session_is_live
from lakehouse.accounts.throttle import Throttle
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from lakehouse.store import MetadataStore, Tenant, User

ALICE_PASSWORD = "alice-password-1"


def new_user(tenant: Tenant, username: str, password: str = ALICE_PASSWORD) -> users.NewUser:
    return users.NewUser(
        tenant_id=tenant.id, username=username, email=f"{username}@example.com", password=password
    )


def add_user(session: Session, tenant: Tenant, username: str, *, admin: bool = False) -> User:
    """A user whose password does not matter to the test (no slow hashing)."""
    user = User(
        tenant_id=tenant.id,
        username=username,
        email=f"{username}@example.com",
        password_hash="!unusable",
        is_platform_admin=admin,
    )
    session.add(user)
    session.flush()
    return user


def with_permissions(actor: Principal, *names: str) -> Principal:
    return replace(actor, permissions=frozenset(names))


def user_count(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


def test_create_tenant_provisions_an_admin_role_and_refuses_a_taken_name(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        tenant = users.create_tenant(session, "acme")
        roles = rbac.list_roles(session, tenant.id)
        assert [role.name for role in roles] == [rbac.ADMIN_ROLE]
        assert rbac.permission_names(roles) == sorted(rbac.TENANT_PERMISSIONS)
    with store.session() as session:
        with pytest.raises(ConflictError, match="'acme' already exists") as refused:
            users.create_tenant(session, "acme")
        assert refused.value.field == "name"
        users.create_tenant(session, "acme-2")
    with store.session() as session:
        assert [t.name for t in users.list_tenants(session)] == ["acme", "acme-2"]


def test_create_user_stores_the_fields_and_only_a_hash_of_the_password(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        tenant = users.create_tenant(session, "acme")
        created = users.create_user(
            session,
            None,
            users.NewUser(
                tenant_id=tenant.id,
                username="alice",
                email="alice@example.com",
                password=ALICE_PASSWORD,
                first_name="Alice",
                last_name="Liddell",
            ),
        )
        user_id = created.id
    with store.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        assert (user.tenant_id, user.username, user.email) == (
            tenant.id,
            "alice",
            "alice@example.com",
        )
        assert (user.first_name, user.last_name) == ("Alice", "Liddell")
        assert user.is_active and not user.is_platform_admin
        assert user.roles == []
        assert ALICE_PASSWORD not in user.password_hash
        assert verify_password(user.password_hash, ALICE_PASSWORD)
        assert not verify_password(user.password_hash, ALICE_PASSWORD + "x")
        assert [u.id for u in users.list_users(session, tenant.id)] == [user_id]


def test_create_user_marks_a_platform_admin_only_when_asked(store: MetadataStore) -> None:
    with store.session() as session:
        tenant = users.create_tenant(session, "acme")
        root = users.create_user(session, None, new_user(tenant, "root"), platform_admin=True)
        assert root.is_platform_admin
        assert rbac.principal_for(root).can("tenants:manage")


def test_create_user_refuses_a_password_out_of_bounds_naming_the_password_field(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        tenant = users.create_tenant(session, "acme")
        for length in (0, users.MIN_PASSWORD_LENGTH - 1, users.MAX_PASSWORD_LENGTH + 1, 10_000):
            with pytest.raises(InvalidInputError, match="8 to 256 characters") as refused:
                users.create_user(session, None, new_user(tenant, "alice", "p" * length))
            assert refused.value.field == "password"
        assert user_count(session) == 0


def test_passwords_at_both_length_bounds_are_accepted(store: MetadataStore) -> None:
    with store.session() as session:
        tenant = users.create_tenant(session, "acme")
        shortest = "s" * users.MIN_PASSWORD_LENGTH
        longest = "l" * users.MAX_PASSWORD_LENGTH
        short_user = users.create_user(session, None, new_user(tenant, "short", shortest))
        long_user = users.create_user(session, None, new_user(tenant, "long", longest))
        assert verify_password(short_user.password_hash, shortest)
        assert verify_password(long_user.password_hash, longest)


def test_check_password_strength_names_the_field_it_is_given() -> None:
    users.check_password_strength("x" * users.MIN_PASSWORD_LENGTH)
    with pytest.raises(InvalidInputError) as refused:
        users.check_password_strength("short", field="new_password")
    assert refused.value.field == "new_password"
    assert refused.value.message.startswith("new_password must be")


def test_create_user_refuses_a_taken_username_or_email_in_any_tenant_naming_which(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        first = users.create_tenant(session, "first")
        second = users.create_tenant(session, "second")
        add_user(session, first, "alice")
        clashes = {
            "username": users.NewUser(second.id, "alice", "other@example.com", ALICE_PASSWORD),
            "email": users.NewUser(second.id, "other", "alice@example.com", ALICE_PASSWORD),
        }
        for field, clash in clashes.items():
            with pytest.raises(ConflictError, match=f"this {field} already exists") as refused:
                users.create_user(session, None, clash)
            assert refused.value.field == field
        assert user_count(session) == 1
        assert users.list_users(session, second.id) == []


def test_create_user_in_an_unknown_or_unreached_tenant_is_not_found_naming_tenant_id(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        home = users.create_tenant(session, "home")
        other = users.create_tenant(session, "other")
        manager = rbac.principal_for(add_user(session, home, "manager"))
        root = rbac.principal_for(add_user(session, home, "root", admin=True))
        attempts: list[tuple[Principal | None, str]] = [
            (None, "no-such-tenant"),
            (manager, "no-such-tenant"),
            (manager, other.id),
            (root, "no-such-tenant"),
        ]
        for actor, tenant_id in attempts:
            with pytest.raises(NotFoundError, match=f"tenant '{tenant_id}' not found") as refused:
                users.create_user(
                    session, actor, users.NewUser(tenant_id, "bob", "bob@b.com", ALICE_PASSWORD)
                )
            assert refused.value.field == "tenant_id"
        assert user_count(session) == 2
        # The platform administrator reaches every tenant.
        bob = users.create_user(
            session, root, users.NewUser(other.id, "bob", "bob@b.com", ALICE_PASSWORD)
        )
        assert bob.tenant_id == other.id


def test_get_user_finds_users_of_the_actors_tenant_only(store: MetadataStore) -> None:
    with store.session() as session:
        home = users.create_tenant(session, "home")
        other = users.create_tenant(session, "other")
        alice = add_user(session, home, "alice")
        bob = add_user(session, home, "bob")
        stranger = add_user(session, other, "stranger")
        actor = rbac.principal_for(alice)
        assert users.get_user(session, actor, alice.id) is alice
        assert users.get_user(session, actor, bob.id) is bob
        for user_id in (stranger.id, stranger.id + 1000):
            with pytest.raises(NotFoundError, match=f"user {user_id} not found") as refused:
                users.get_user(session, actor, user_id)
            assert refused.value.field == "user_id"
        root = rbac.principal_for(add_user(session, home, "root", admin=True))
        assert users.get_user(session, root, stranger.id) is stranger


def test_read_user_gives_oneself_and_others_of_the_tenant_only_with_users_read(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        home = users.create_tenant(session, "home")
        other = users.create_tenant(session, "other")
        alice = add_user(session, home, "alice")
        bob = add_user(session, home, "bob")
        stranger = add_user(session, other, "stranger")
        plain = rbac.principal_for(alice)
        assert plain.permissions == frozenset()
        assert users.read_user(session, plain, alice.id) is alice
        with pytest.raises(PermissionDeniedError, match="'users:read'"):
            users.read_user(session, plain, bob.id)
        reader = with_permissions(plain, "users:read")
        assert users.read_user(session, reader, bob.id) is bob
        with pytest.raises(NotFoundError) as refused:
            users.read_user(session, reader, stranger.id)
        assert refused.value.field == "user_id"


def login_session(
    issuer: SessionIssuer, session: Session, username: str, password: str
) -> tuple[int, str]:
    """Log in; the user's id and the login session's id."""
    claims = issuer.signer.verify(issuer.login(session, username, password).access_token)
    return claims.user_id, claims.session_id


def test_reset_own_password_replaces_it_and_ends_only_that_users_sessions(
    store: MetadataStore,
) -> None:
    issuer = SessionIssuer(
        TokenSigner("s" * 48, timedelta(minutes=5)), timedelta(days=1), Throttle(5, 60)
    )
    with store.session() as session:
        tenant = users.create_tenant(session, "home")
        users.create_user(session, None, new_user(tenant, "alice"))
        users.create_user(session, None, new_user(tenant, "bob"))
    with store.session() as session:
        alice_id, alice_session = login_session(issuer, session, "alice", ALICE_PASSWORD)
        bob_id, bob_session = login_session(issuer, session, "bob", ALICE_PASSWORD)
    with store.session() as session:
        alice = session.get(User, alice_id)
        assert alice is not None
        actor = rbac.principal_for(alice)
        assert users.reset_password(session, actor, "alice", "brand-new-pass") is alice
    with store.session() as session:
        alice = session.get(User, alice_id)
        assert alice is not None
        assert verify_password(alice.password_hash, "brand-new-pass")
        assert not verify_password(alice.password_hash, ALICE_PASSWORD)
        assert not session_is_live(session, alice_id, alice_session)
        assert session_is_live(session, bob_id, bob_session)


def test_reset_password_of_another_user_needs_users_update_in_the_same_tenant(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        home = users.create_tenant(session, "home")
        other = users.create_tenant(session, "other")
        target = users.create_user(session, None, new_user(home, "alice"))
        colleague = rbac.principal_for(add_user(session, home, "colleague"))
        stranger = rbac.principal_for(add_user(session, other, "stranger"))
        for actor in (colleague, with_permissions(colleague, "users:read")):
            with pytest.raises(PermissionDeniedError, match="'users:update'"):
                users.reset_password(session, actor, "alice", "taken-over-1")
        for name in ("alice", "nobody"):
            with pytest.raises(NotFoundError, match=f"user '{name}' not found") as refused:
                users.reset_password(
                    session, with_permissions(stranger, "users:update"), name, "taken-over-1"
                )
            assert refused.value.field == "user_name"
        assert verify_password(target.password_hash, ALICE_PASSWORD)
        manager = with_permissions(colleague, "users:update")
        users.reset_password(session, manager, "alice", "set-by-manager")
        assert verify_password(target.password_hash, "set-by-manager")


def test_reset_password_refuses_a_weak_new_password_naming_new_password(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        tenant = users.create_tenant(session, "home")
        alice = users.create_user(session, None, new_user(tenant, "alice"))
        for weak in ("short", "w" * (users.MAX_PASSWORD_LENGTH + 1)):
            with pytest.raises(InvalidInputError) as refused:
                users.reset_password(session, rbac.principal_for(alice), "alice", weak)
            assert refused.value.field == "new_password"
        assert verify_password(alice.password_hash, ALICE_PASSWORD)


def test_only_the_platform_admin_resets_the_platform_admins_password(
    store: MetadataStore,
) -> None:
    with store.session() as session:
        tenant = users.create_tenant(session, "home")
        root = users.create_user(session, None, new_user(tenant, "root"), platform_admin=True)
        deputy = add_user(session, tenant, "deputy")
        deputy.roles.append(rbac.admin_role(session, tenant.id))
        tenant_admin = rbac.principal_for(deputy)
        assert tenant_admin.can("users:update")
        with pytest.raises(PermissionDeniedError, match="platform administrator"):
            users.reset_password(session, tenant_admin, "root", "taken-over-1")
        assert verify_password(root.password_hash, ALICE_PASSWORD)
        users.reset_password(session, rbac.principal_for(root), "root", "root-new-pass")
        assert verify_password(root.password_hash, "root-new-pass")


def test_generated_passwords_are_long_url_safe_distinct_and_pass_the_check() -> None:
    alphabet = set(string.ascii_letters + string.digits + "-_")
    generated = [users.generate_password() for _ in range(200)]
    assert len(set(generated)) == len(generated)
    for password in generated:
        assert len(password) >= 24
        assert set(password) <= alphabet
        users.check_password_strength(password)
