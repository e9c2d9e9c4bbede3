"""The run gateway in embedded mode, driven through the API against a real Dagster instance."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pytest
from dagster import DagsterEventType, DagsterInstance
from litestar.testing import TestClient

from api.app import create_app
from lakehouse.catalog import open_catalog
from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, bearer, create_user, login, me, new_tenant_with_admin
from tests.conftest import make_settings
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
