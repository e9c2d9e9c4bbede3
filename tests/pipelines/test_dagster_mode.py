"""The run gateway in dagster mode: a real Dagster webserver and daemon launch the runs."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pyarrow.compute as pc
import pytest
from litestar.testing import TestClient

from api.app import create_app
from lakehouse.lake.catalog import open_catalog
from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, me
from tests.conftest import make_settings
from tests.pipelines.runs import submit_selfcheck, wait_for
from tests.processes import free_port, start_dagster, stop, wait_for_location


@pytest.fixture(scope="module")
def dagster_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp_path = tmp_path_factory.mktemp("dagster-mode")
    settings = make_settings(
        tmp_path, run_mode="dagster", dagster_url=f"http://127.0.0.1:{free_port()}"
    )
    processes = start_dagster(settings)
    try:
        wait_for_location(settings.dagster_url, processes)
        yield settings
    finally:
        stop(processes)


@pytest.fixture
def client(dagster_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(dagster_settings)) as test_client:
        yield test_client


@pytest.mark.slow
def test_selfcheck_through_webserver_and_daemon(
    client: TestClient, dagster_settings: Settings
) -> None:
    headers = admin_headers(client)
    health = client.get("/api/v1/utils/health").json()["components"]["dagster"]
    assert health["status"] == "ok" and health["detail"].startswith("dagster: webserver")

    run_id = submit_selfcheck(client, headers, rows=40)
    run = wait_for(client, headers, run_id, {"SUCCESS", "FAILURE", "CANCELED"}, timeout=120)
    assert run["status"] == "SUCCESS"
    assert run["tags"]["strata/launcher"] == "dagster"

    rows = open_catalog(dagster_settings).load_table("platform.selfcheck").scan().to_arrow()
    assert rows.filter(pc.equal(rows["check_id"], run_id)).num_rows == 40
    events = client.get(f"/api/v1/runs/{run_id}/logs", headers=headers).json()["events"]
    assert "writing 40 rows to platform.selfcheck" in [e["message"] for e in events]
    assert "RUN_SUCCESS" in [e["event_type"] for e in events]
    recent = client.app.state.platform.gateway.recent_runs(me(client, headers)["tenant_id"])
    assert recent[0].run_id == run_id and recent[0].status == "SUCCESS"
    assert recent[0].end_time is not None and recent[0].end_time >= recent[0].start_time


@pytest.mark.slow
def test_cancel_through_webserver(client: TestClient) -> None:
    headers = admin_headers(client)
    run_id = submit_selfcheck(client, headers, rows=2, hold_seconds=300)
    wait_for(client, headers, run_id, {"STARTED"}, timeout=120)
    response = client.post(f"/api/v1/runs/{run_id}/terminate", headers=headers)
    assert response.status_code == 200
    final = wait_for(client, headers, run_id, {"CANCELED", "FAILURE", "SUCCESS"}, timeout=180)
    assert final["status"] == "CANCELED"


@pytest.mark.slow
def test_unknown_run_is_404(client: TestClient) -> None:
    response = client.get(
        "/api/v1/runs/00000000-0000-0000-0000-000000000000", headers=admin_headers(client)
    )
    assert response.status_code == 404


@pytest.mark.slow
def test_dataset_ingestion_through_webserver(client: TestClient) -> None:
    headers = admin_headers(client)
    response = client.post(
        "/api/v1/dataset/upload",
        params={"dataset_name": "remote", "usage": "t"},
        files=[("files", ("data.csv", io.BytesIO(b"id,amount\n1,2.5\n2,3\n")))],
        headers=headers,
    )
    assert response.status_code == 201, response.text
    [dataset] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    run = wait_for(
        client, headers, dataset["last_run_id"], {"SUCCESS", "FAILURE", "CANCELED"}, timeout=180
    )
    assert run["status"] == "SUCCESS"
    assert run["partition_key"] == str(dataset["id"])
    [dataset] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert dataset["validation_status"] == "valid" and dataset["dataset_usability"] == "100%"
    deleted = client.delete(f"/api/v1/dataset/delete/{dataset['id']}", headers=headers)
    assert deleted.status_code == 200


@pytest.mark.slow
def test_tenant_run_limit_and_run_time_limit_through_the_daemon(dagster_settings: Settings) -> None:
    limited = dagster_settings.model_copy(
        update={"tenant_run_limit": 1, "run_time_limit_seconds": 2}
    )
    with TestClient(create_app(limited)) as client:
        headers = admin_headers(client)
        tenant_id = me(client, headers)["tenant_id"]
        gateway = client.app.state.platform.gateway
        deadline = time.monotonic() + 180
        while gateway.unfinished_runs(tenant_id):  # earlier tests' runs still ending
            assert time.monotonic() < deadline, "earlier runs never finished"
            time.sleep(1)
        held = submit_selfcheck(client, headers, rows=1, hold_seconds=300)
        refused = client.post("/api/v1/utils/self-check", params={"rows": 1}, headers=headers)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "STRATA_TENANT_RUN_LIMIT=1" in refused.json()["detail"]

        # Dagster's run monitoring ends the held run at the limit its tag carries.
        run = wait_for(client, headers, held, {"SUCCESS", "FAILURE", "CANCELED"})
        assert run["tags"]["dagster/max_runtime"] == "2"
        # The daemon fails the run once its worker is told to stop; the worker, stopping, may
        # report it canceled after that, and Dagster keeps the last status reported.
        assert run["status"] in {"FAILURE", "CANCELED"}
        events = client.get(f"/api/v1/runs/{held}/logs", headers=headers).json()["events"]
        reason = "Canceling due to exceeding maximum runtime of 2 seconds."
        assert reason in [e["message"] for e in events]
        # Its worker stopped well before the hold would have ended, and left the run ended.
        deadline = time.monotonic() + 90
        while not any(e["message"].startswith("Process for run exited") for e in events):
            assert time.monotonic() < deadline, "the run's worker never stopped"
            time.sleep(0.5)
            events = client.get(f"/api/v1/runs/{held}/logs", headers=headers).json()["events"]
        assert client.get(f"/api/v1/runs/{held}", headers=headers).json()["status"] in {
            "FAILURE",
            "CANCELED",
        }

        # Its place is free again (the next run, under the same short limit, is only accepted).
        again = submit_selfcheck(client, headers, rows=1)
        client.post(f"/api/v1/runs/{again}/terminate", headers=headers)
        assert wait_for(client, headers, again, {"CANCELED", "FAILURE", "SUCCESS"})["is_finished"]
