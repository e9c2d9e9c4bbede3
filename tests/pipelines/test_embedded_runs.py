"""The run gateway in embedded mode, driven through the API against a real Dagster instance."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pytest
from dagster import DagsterEventType, DagsterInstance
from litestar.testing import TestClient
from sqlalchemy.engine import make_url

from api.app import create_app
from lakehouse.lake.catalog import open_catalog
from lakehouse.lake.naming import DatasetTables
from lakehouse.runs import DATASET_INGESTION_JOB
from lakehouse.settings import Settings
from pipelines.gateway import TENANT_TAG
from tests.api.helpers import admin_headers, bearer, create_user, login, me, new_tenant_with_admin
from tests.conftest import LIGHT_PRELOAD, make_settings
from tests.pipelines.runs import submit_selfcheck, wait_for, wait_for_workers


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, workers=2)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_for_workers(test_client, ready=2)
        yield test_client


def test_selfcheck_run_writes_and_reads_iceberg(client: TestClient, settings: Settings) -> None:
    headers = admin_headers(client)
    run_id = submit_selfcheck(client, headers, rows=25)
    run = wait_for(client, headers, run_id, {"SUCCESS", "FAILURE", "CANCELED"})
    assert run["status"] == "SUCCESS"
    assert run["job_name"] == "platform_selfcheck_job"
    assert run["tags"]["strata/launcher"] == "embedded"
    assert run["tags"]["strata/tenant"] == me(client, headers)["tenant_id"]

    table = open_catalog(settings).load_table("platform.selfcheck")
    rows = table.scan().to_arrow()
    mine = rows.filter(pc.equal(rows["check_id"], run_id))
    assert mine.num_rows == 25
    assert mine.sort_by("seq")["value"].to_pylist()[:3] == [0.0, 0.5, 1.0]

    logs = client.get(f"/api/v1/runs/{run_id}/logs", headers=headers).json()
    messages = [e["message"] for e in logs["events"]]
    assert "writing 25 rows to platform.selfcheck" in messages
    assert any(m.startswith("read back 25 rows from snapshot") for m in messages)
    assert logs["next_offset"] == len(logs["events"])
    tail = client.get(
        f"/api/v1/runs/{run_id}/logs", params={"offset": logs["next_offset"] - 1}, headers=headers
    ).json()
    assert [e["event_type"] for e in tail["events"]] == ["RUN_SUCCESS"]

    # The run is in the Dagster instance the UI reads, with its materialization and metadata.
    instance = DagsterInstance.from_config(str(settings.dagster_dir))
    record = instance.get_run_record_by_id(run_id)
    assert record is not None and record.dagster_run.status.value == "SUCCESS"
    materializations = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    assert len(materializations) == 1
    materialization = materializations[0].asset_materialization
    snapshot = table.current_snapshot()
    assert materialization is not None and snapshot is not None
    assert materialization.metadata["row_count"].value == 25
    assert materialization.metadata["snapshot_id"].value == str(snapshot.snapshot_id)


def test_invalid_run_config_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/utils/self-check", params={"rows": 0}, headers=admin_headers(client)
    )
    assert response.status_code == 422
    assert response.json()["field"] == "rows"


def test_cancel_long_running_run(client: TestClient) -> None:
    headers = admin_headers(client)
    run_id = submit_selfcheck(client, headers, rows=5, hold_seconds=120)
    wait_for(client, headers, run_id, {"STARTED"})
    response = client.post(f"/api/v1/runs/{run_id}/terminate", headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] in {"CANCELING", "CANCELED"}
    assert (
        wait_for(client, headers, run_id, {"CANCELED", "FAILURE", "SUCCESS"}, timeout=30)["status"]
        == "CANCELED"
    )
    again = client.post(f"/api/v1/runs/{run_id}/terminate", headers=headers)
    assert again.status_code == 409
    # The replacement worker warms up and runs the next job.
    next_run = submit_selfcheck(client, headers, rows=3)
    assert (
        wait_for(client, headers, next_run, {"SUCCESS", "FAILURE", "CANCELED"})["status"]
        == "SUCCESS"
    )


def test_ray_terminate_cancels_the_dagster_run(client: TestClient) -> None:
    headers = admin_headers(client)
    run_id = submit_selfcheck(client, headers, rows=5, hold_seconds=120)
    wait_for(client, headers, run_id, {"STARTED"})
    response = client.post(
        "/api/v1/ray/terminate_ray_job",
        params={"ray_job_id": run_id, "usage": "training"},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": f"Termination request for Ray job '{run_id}' has been sent.",
    }
    assert (
        wait_for(client, headers, run_id, {"CANCELED", "FAILURE", "SUCCESS"}, timeout=30)["status"]
        == "CANCELED"
    )
    missing = client.post(
        "/api/v1/ray/terminate_ray_job",
        params={"ray_job_id": "no-such-run", "usage": "training"},
        headers=headers,
    )
    assert missing.status_code == 404


def test_killed_worker_fails_its_run_and_is_replaced(client: TestClient) -> None:
    headers = admin_headers(client)
    run_id = submit_selfcheck(client, headers, rows=5, hold_seconds=120)
    wait_for(client, headers, run_id, {"STARTED"})
    pid = client.app.state.platform.gateway.pool.worker_pid(run_id)
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    failed = wait_for(client, headers, run_id, {"FAILURE", "CANCELED", "SUCCESS"}, timeout=30)
    assert failed["status"] == "FAILURE"
    logs = client.get(f"/api/v1/runs/{run_id}/logs", headers=headers).json()["events"]
    assert any(f"run worker {pid} died" in e["message"] for e in logs)
    # Both workers busy-free again: the survivor and the replacement.
    wait_for_workers(client, ready=2)
    for _ in range(2):
        next_run = submit_selfcheck(client, headers, rows=3)
        assert (
            wait_for(client, headers, next_run, {"SUCCESS", "FAILURE", "CANCELED"})["status"]
            == "SUCCESS"
        )


def test_queued_run_is_canceled_before_it_starts(client: TestClient) -> None:
    headers = admin_headers(client)
    blockers = [submit_selfcheck(client, headers, rows=1, hold_seconds=120) for _ in range(2)]
    for blocker in blockers:
        wait_for(client, headers, blocker, {"STARTED"})
    queued = submit_selfcheck(client, headers, rows=1)
    assert client.get(f"/api/v1/runs/{queued}", headers=headers).json()["status"] == "NOT_STARTED"
    canceled = client.post(f"/api/v1/runs/{queued}/terminate", headers=headers).json()
    assert canceled["status"] == "CANCELED"
    for blocker in blockers:
        client.post(f"/api/v1/runs/{blocker}/terminate", headers=headers)
        wait_for(client, headers, blocker, {"CANCELED"}, timeout=30)


def test_runs_of_another_tenant_are_404(client: TestClient) -> None:
    headers = admin_headers(client)
    home_tenant = me(client, headers)["tenant_id"]
    _, globex_admin = new_tenant_with_admin(client, headers, "globex")
    # Tenant admins cannot start the platform self-check; the platform admin's run is home's.
    assert client.post("/api/v1/utils/self-check", headers=globex_admin).status_code == 403
    run_id = submit_selfcheck(client, headers, rows=2)
    wait_for(client, headers, run_id, {"SUCCESS"})
    for path in (f"/api/v1/runs/{run_id}", f"/api/v1/runs/{run_id}/logs"):
        response = client.get(path, headers=globex_admin)
        assert response.status_code == 404
        assert "rows" not in response.text
    assert client.post(f"/api/v1/runs/{run_id}/terminate", headers=globex_admin).status_code == 404
    # Reading runs needs the permission even within the tenant.
    create_user(client, headers, home_tenant, "viewer")
    viewer = bearer(login(client, "viewer", "viewer-password")["access_token"])
    assert client.get(f"/api/v1/runs/{run_id}", headers=viewer).status_code == 403
    assert client.post("/api/v1/utils/self-check", headers=viewer).status_code == 403


FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def upload_csv(
    client: TestClient, headers: dict[str, str], name: str, content: bytes
) -> httpx.Response:
    return client.post(
        "/api/v1/dataset/upload",
        params={"dataset_name": name, "usage": "t"},
        files=[("files", (f"{name}.csv", io.BytesIO(content)))],
        headers=headers,
    )


@pytest.fixture
def limited_settings(tmp_path: Path) -> Settings:
    # Validation's library preloaded, as on the platform: an ingestion takes about a second.
    preload = [*LIGHT_PRELOAD, "great_expectations"]
    return make_settings(tmp_path, workers=2, tenant_run_limit=4, worker_preload=preload)


@pytest.fixture
def limited_client(limited_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(limited_settings)) as test_client:
        wait_for_workers(test_client, ready=2)
        yield test_client


def test_a_tenant_at_its_run_limit_gets_429_and_another_tenants_upload_goes_first(
    limited_client: TestClient,
) -> None:
    client = limited_client
    headers = admin_headers(client)
    _, globex = new_tenant_with_admin(client, headers, "globex")
    backlog = [submit_selfcheck(client, headers, rows=1, hold_seconds=4) for _ in range(4)]

    refused = client.post("/api/v1/utils/self-check", params={"rows": 1}, headers=headers)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "STRATA_TENANT_RUN_LIMIT=4" in refused.json()["detail"]
    # An upload refused at the limit keeps neither its dataset nor its file.
    late = upload_csv(client, headers, "late", b"id,amount\n1,2.5\n")
    assert late.status_code == 429, late.text
    assert client.get("/api/v1/dataset/list", headers=headers).json()["data"] == []
    area = client.app.state.platform.settings.landing_dir / me(client, headers)["tenant_id"]
    assert [p for p in area.rglob("*") if p.is_file()] == []

    # Another tenant has room of its own, and its run does not wait for the whole backlog.
    assert upload_csv(client, globex, "usage", b"id,amount\n1,2.5\n2,3\n").status_code == 201
    [dataset] = client.get("/api/v1/dataset/list", headers=globex).json()["data"]
    upload_run = wait_for(client, globex, dataset["last_run_id"], FINISHED)
    assert upload_run["status"] == "SUCCESS"
    [dataset] = client.get("/api/v1/dataset/list", headers=globex).json()["data"]
    assert dataset["validation_status"] == "valid"
    held = [wait_for(client, headers, run_id, FINISHED) for run_id in backlog]
    assert [run["status"] for run in held] == ["SUCCESS"] * 4
    # First in, first out would have started it after the last of the backlog.
    assert upload_run["start_time"] < held[-1]["start_time"]
    assert upload_run["end_time"] < held[-1]["end_time"]
    # With the backlog done the tenant has room again.
    again = submit_selfcheck(client, headers, rows=1)
    assert wait_for(client, headers, again, FINISHED)["status"] == "SUCCESS"


def test_worker_killed_mid_ingestion_keeps_the_previous_snapshot_and_a_retry_succeeds(
    client: TestClient, settings: Settings
) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    assert upload_csv(client, headers, "usage", b"id,amount\n1,2.5\n2,3\n3,4\n").status_code == 201
    [dataset] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert wait_for(client, headers, dataset["last_run_id"], FINISHED)["status"] == "SUCCESS"
    silver = DatasetTables(tenant_id, dataset["iceberg_table_name"]).silver.identifier
    snapshot = open_catalog(settings).load_table(silver).current_snapshot()
    assert snapshot is not None

    # Holding the catalog's write lock keeps the next ingestion from committing anything.
    lock = sqlite3.connect(str(make_url(settings.catalog_url).database), timeout=0)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        added = client.post(
            "/api/v1/files/add",
            params={"dataset_id": dataset["id"]},
            files=[("files", ("more.csv", io.BytesIO(b"id,amount\n4,5\n5,6\n")))],
            headers=headers,
        )
        assert added.status_code == 201, added.text
        [dataset] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
        run_id = dataset["last_run_id"]
        wait_for(client, headers, run_id, {"STARTED"})
        pid = client.app.state.platform.gateway.pool.worker_pid(run_id)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed = wait_for(client, headers, run_id, FINISHED, timeout=30)
    finally:
        lock.rollback()
        lock.close()
    assert killed["status"] == "FAILURE"
    events = client.get(f"/api/v1/runs/{run_id}/logs", headers=headers).json()["events"]
    assert any(f"run worker {pid} died" in e["message"] for e in events)
    table = open_catalog(settings).load_table(silver)
    current = table.current_snapshot()
    assert current is not None and current.snapshot_id == snapshot.snapshot_id
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
    [dataset] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert dataset["validation_status"] == "failed"

    # Submitted again (as the Dagster UI re-executes a partition), the ingestion lands both files.
    retry = client.app.state.platform.gateway.submit(
        DATASET_INGESTION_JOB, partition_key=str(dataset["id"]), tags={TENANT_TAG: tenant_id}
    )
    assert wait_for(client, headers, retry, FINISHED)["status"] == "SUCCESS"
    table = open_catalog(settings).load_table(silver)
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3, 4, 5]
    [dataset] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert dataset["validation_status"] == "valid" and dataset["last_run_id"] == retry
