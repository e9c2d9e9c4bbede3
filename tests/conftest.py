"""Fixtures shared by the whole suite: isolated settings, real databases, the real app."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from litestar.testing import TestClient
from sqlalchemy.engine import make_url

from lakehouse.settings import Settings

ADMIN_PASSWORD = "admin-password-1"
POSTGRES_ENV = "STRATA_TEST_POSTGRES_URL"
# What the test suite is told by CI, not settings of Strata's.
TEST_SETTINGS = (POSTGRES_ENV, "STRATA_TEST_CLUSTER", "STRATA_TEST_BROWSER")
LIGHT_PRELOAD = ["pyarrow", "pyiceberg.catalog.sql"]


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer `STRATA_*` variable or `.env` file leaks into a test."""
    for name in list(os.environ):
        if name.startswith("STRATA_") and name not in TEST_SETTINGS:
            monkeypatch.delenv(name)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} must point at a PostgreSQL server in CI")
        pytest.skip(f"{POSTGRES_ENV} is not set")
    name = f"strata_test_{uuid.uuid4().hex[:12]}"
    admin = make_url(server).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name, drivername="postgresql+psycopg").render_as_string(
            hide_password=False
        )
    finally:
        drop_database(admin.render_as_string(hide_password=False), name)


def drop_database(server: str, name: str) -> None:
    """Drop a test database, its connections closed; an autovacuum worker of the server's own
    role may hold it a moment, which FORCE is not allowed to end: wait for it."""
    for _ in range(50):
        try:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            time.sleep(0.2)
    raise RuntimeError(f"could not drop test database {name}")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata store on each supported database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'strata.db'}"


def head_revision() -> str:
    """The newest migration of the metadata store."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from lakehouse.store.engine import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "secret_key": "test-secret-" + "x" * 40,
        "admin_password": ADMIN_PASSWORD,
        "workers": 0,
        "worker_preload": LIGHT_PRELOAD,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3 server in this process, for tests of object storage; its settings as
    `STRATA_*` values. Strata sees only an S3 endpoint, keys and a region."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = {"aws_access_key_id": uuid.uuid4().hex, "aws_secret_access_key": uuid.uuid4().hex}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys).create_bucket(
        Bucket="strata-test"
    )
    yield {
        "s3_endpoint": endpoint,
        "s3_region": "us-east-1",
        "s3_access_key_id": keys["aws_access_key_id"],
        "s3_secret_access_key": keys["aws_secret_access_key"],
    }
    server.stop()


@pytest.fixture
def s3_location(s3_server: dict[str, str]) -> str:
    """A prefix of its own in the test bucket."""
    return f"s3://strata-test/{uuid.uuid4().hex[:12]}"
