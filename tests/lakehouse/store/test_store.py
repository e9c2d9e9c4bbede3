"""The metadata store on SQLite and PostgreSQL: migrations, constraints, first start."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from lakehouse.accounts import rbac, users
from lakehouse.accounts.bootstrap import bootstrap
from lakehouse.accounts.security import verify_password
from lakehouse.errors import ConflictError
from lakehouse.settings import Settings
from lakehouse.store import MetadataStore, Role, Tenant, User
from tests.conftest import head_revision


def test_migrations_create_every_table(database_url: str) -> None:
    store = MetadataStore(database_url)
    store.migrate()
    store.migrate()  # applying twice is a no-op
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "tenants",
        "users",
        "roles",
        "permissions",
        "user_roles",
        "role_permissions",
        "refresh_tokens",
        "templates",
        "datasets",
        "predictors",
        "predictions",
        "training_jobs",
    } <= tables
    assert store.ping() == head_revision()
    store.dispose()


def test_the_migrations_build_the_schema_the_models_describe(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lakehouse.store.models import Base

    store = MetadataStore(database_url)
    store.migrate()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    store.dispose()
    assert differences == []


def test_files_uploaded_before_the_ledger_get_a_uuid_each(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from lakehouse.store.engine import MIGRATIONS

    store = MetadataStore(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
    with store.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO tenants (id, name, created_at) VALUES ('t', 't', '2026-01-01')")
        )
        connection.execute(
            text(
                "INSERT INTO datasets (id, tenant_id, dataset_name, usage, iceberg_table_name, "
                "data_source, created_by, validation_status, created_at, modified_at) VALUES "
                "(1, 't', 'd', 't', 'd', 'csv', 'me', 'valid', '2026-01-01', '2026-01-01')"
            )
        )
        for file_id in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO data_files (id, dataset_id, tenant_id, file_name, stored_path, "
                    "file_format, size_bytes, sha256, total_fields, total_records, created_at, "
                    f"modified_at) VALUES ({file_id}, 1, 't', 'f.csv', '1/f.csv', 'csv', 1, 'x', "
                    "1, 1, '2026-01-01', '2026-01-01')"
                )
            )
    store.migrate()
    with store.engine.connect() as connection:
        uuids = connection.execute(text("SELECT uuid FROM data_files ORDER BY id")).scalars().all()
    assert len(uuids) == 2 and len(set(uuids)) == 2 and all(len(u) == 36 for u in uuids)
    store.dispose()


def test_role_names_are_unique_per_tenant(database_url: str) -> None:
    store = MetadataStore(database_url)
    store.migrate()
    with store.session() as session:
        first = users.create_tenant(session, "first")
        second = users.create_tenant(session, "second")
        session.add_all(
            [Role(tenant_id=first.id, name="analyst"), Role(tenant_id=second.id, name="analyst")]
        )
    with pytest.raises(ConflictError), store.session() as session:
        session.add(Role(tenant_id=first.id, name="analyst"))
    store.dispose()


def test_bootstrap_creates_admin_once(tmp_path: Path, database_url: str) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    store = MetadataStore(database_url)
    first = bootstrap(store, settings)
    assert first.generated_password is not None and len(first.generated_password) >= 20
    again = bootstrap(store, settings)
    assert again.generated_password is None
    with store.session() as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None and admin.is_platform_admin
        principal = rbac.principal_for(admin)
        assert principal.can("tenants:manage") and principal.can("users:create")
        assert [t.name for t in session.scalars(select(Tenant))] == ["default"]
    store.dispose()


def test_configured_admin_password_is_used(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_password="configured-pass")
    store = MetadataStore(settings.database_url)
    assert bootstrap(store, settings).generated_password is None
    with store.session() as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        assert verify_password(admin.password_hash, "configured-pass")
    store.dispose()


def test_a_change_to_a_row_another_transaction_deleted_is_a_conflict(database_url: str) -> None:
    store = MetadataStore(database_url)
    store.migrate()
    with store.session() as session:
        tenant = users.create_tenant(session, "vanishing")
        role = Role(tenant_id=tenant.id, name="analyst")
        session.add(role)
        session.flush()
        role_id = role.id
    loser = store.new_session()
    try:
        read = loser.get(Role, role_id)
        assert read is not None
        loser.commit()  # the row is read; another transaction deletes it before the change
        with store.session() as winner:
            winner.delete(winner.get(Role, role_id))
        read.name = "renamed"
        with pytest.raises(ConflictError, match="changed or deleted by another request"):
            loser.commit()
        loser.rollback()
    finally:
        loser.close()
    with store.session(writes=False) as session:
        assert session.get(Role, role_id) is None
    store.dispose()
