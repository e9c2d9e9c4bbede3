"""The platform on the local stand-in of a cluster (`deploy/local-cluster.sh up`): PostgreSQL for
every store, S3 for every file, Trino for the datalake, Celery workers for the runs.

The cluster's settings come from the file the script writes (STRATA_TEST_CLUSTER names it).
The tests take fresh PostgreSQL databases, their own prefix of the bucket and their own Redis
databases, so the cluster's own workers never see their runs; the Iceberg catalog is the
cluster's, the one Trino reads, where every test tenant has namespaces of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from litestar.testing import TestClient
from sqlalchemy.engine import make_url

from lakehouse.settings import Settings, child_env
from lakehouse.storage import bucket_and_prefix
from tests.conftest import drop_database, make_settings
from tests.processes import ROOT, free_port, start_dagster, stop, wait_for_location

CLUSTER_ENV = "STRATA_TEST_CLUSTER"
WORKERS = 2


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip().removeprefix("export ")
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value.strip().strip("'\"")
    return values


@dataclass
class Cluster:
    settings: Settings
    workers: list[subprocess.Popen[bytes]]

    def bucket_keys(self, location: str) -> list[str]:
        """Every object under an s3:// location."""
        import boto3

        bucket, prefix = bucket_and_prefix(location)
        client = boto3.client(
            "s3",
            endpoint_url=self.settings.s3_endpoint,
            region_name=self.settings.s3_region,
            aws_access_key_id=self.settings.s3_access_key_id,
            aws_secret_access_key=self.settings.s3_secret_access_key.get_secret_value()
            if self.settings.s3_secret_access_key
            else None,
        )
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{prefix}/"
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def worker_pids(self) -> set[int]:
        return {worker.pid for worker in self.workers}


def parent_of(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))


@pytest.fixture(scope="session")
def cluster_env() -> dict[str, str]:
    path = os.environ.get(CLUSTER_ENV)
    if not path or not Path(path).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CLUSTER_ENV} must name the env file of deploy/local-cluster.sh in CI")
        pytest.skip(f"{CLUSTER_ENV} is not set: run deploy/local-cluster.sh up")
    return read_env_file(Path(path))


def fresh_database(server_url: str, purpose: str) -> str:
    name = f"strata_test_{purpose}_{uuid.uuid4().hex[:8]}"
    admin = make_url(server_url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def with_redis_database(url: str, index: int) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{index}"


def redis_databases() -> tuple[int, int]:
    """Broker and result databases of this test process: every pytest-xdist worker starts a
    platform of its own, whose runs no other one's Celery workers may take (the cluster's own
    workers use 0 and 1)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = 2 + 2 * int(worker or 0)
    return index, index + 1


def cluster_settings(cluster_env: dict[str, str], data_dir: Path) -> tuple[Settings, list[str]]:
    """Settings on the cluster with fresh databases for the metadata store, Dagster and MLflow
    (their names returned, to drop), a bucket prefix and Redis databases of their own."""
    server = cluster_env["STRATA_DATABASE_URL"]
    databases = {p: fresh_database(server, p) for p in ("meta", "dagster", "mlflow")}
    url = make_url(server)

    def on(name: str, driver: str = "postgresql+psycopg") -> str:
        return url.set(database=name, drivername=driver).render_as_string(hide_password=False)

    prefix = f"s3://strata/tests-{uuid.uuid4().hex[:8]}"
    broker = cluster_env["STRATA_CELERY_BROKER_URL"]
    broker_db, backend_db = redis_databases()
    settings = make_settings(
        data_dir,
        database_url=on(databases["meta"]),
        dagster_storage_url=on(databases["dagster"], "postgresql"),
        catalog_url=cluster_env["STRATA_CATALOG_URL"],
        mlflow_tracking_uri=on(databases["mlflow"]),
        s3_endpoint=cluster_env["STRATA_S3_ENDPOINT"],
        s3_region=cluster_env["STRATA_S3_REGION"],
        s3_access_key_id=cluster_env["STRATA_S3_ACCESS_KEY_ID"],
        s3_secret_access_key=cluster_env["STRATA_S3_SECRET_ACCESS_KEY"],
        warehouse=f"{prefix}/warehouse",
        landing_url=f"{prefix}/landing",
        mlflow_artifact_root=f"{prefix}/mlflow",
        dagster_compute_logs=f"{prefix}/dagster-logs",
        query_engine="trino",
        trino_url=cluster_env["STRATA_TRINO_URL"],
        run_mode="dagster",
        run_launcher="celery",
        celery_broker_url=with_redis_database(broker, broker_db),
        celery_backend_url=with_redis_database(broker, backend_db),
        dagster_url=f"http://127.0.0.1:{free_port()}",
        worker_preload=["pyarrow", "pyiceberg.catalog.sql", "polars", "great_expectations"],
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings, list(databases.values())


def drop_databases(settings: Settings, names: list[str]) -> None:
    server = make_url(settings.database_url).set(drivername="postgresql", database="postgres")
    for name in names:
        drop_database(server.render_as_string(hide_password=False), name)


def start_celery_workers(settings: Settings, count: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "pipelines.celery_worker", "--name", f"test-{index}"],
            cwd=ROOT,
            env=child_env(settings),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=open(settings.data_dir / f"worker-{index}.log", "wb"),  # noqa: SIM115
        )
        for index in range(count)
    ]


@pytest.fixture(scope="session")
def cluster(
    cluster_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Settings on the cluster, with a Dagster webserver and daemon and two Celery workers."""
    settings, databases = cluster_settings(cluster_env, tmp_path_factory.mktemp("cluster"))
    dagster = start_dagster(settings)
    workers = start_celery_workers(settings, WORKERS)
    try:
        wait_for_location(settings.dagster_url, dagster)
        yield Cluster(settings, workers)
    finally:
        stop([*dagster, *workers])
        drop_databases(settings, databases)


@pytest.fixture(scope="session")
def client(cluster: Cluster) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(cluster.settings)) as test_client:
        yield test_client


def wait_until(condition: object, timeout: float = 60, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not (condition() if callable(condition) else condition):
        assert time.monotonic() < deadline, message
        time.sleep(0.2)
