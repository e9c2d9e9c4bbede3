"""Helpers for tests that start runs through the API and wait for them."""

from __future__ import annotations

import time
from typing import Any

from litestar.testing import TestClient


def submit_selfcheck(client: TestClient, headers: dict[str, str], **params: Any) -> str:
    response = client.post("/api/v1/utils/self-check", params=params, headers=headers)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def wait_for(
    client: TestClient,
    headers: dict[str, str],
    run_id: str,
    statuses: set[str],
    timeout: float = 120,
) -> dict[str, Any]:
    """Poll the run until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}", headers=headers).json()
        if body["status"] in statuses:
            return body
        if time.monotonic() >= deadline:
            logs = client.get(f"/api/v1/runs/{run_id}/logs", headers=headers).json()
            last = [event.get("message") for event in logs.get("events", [])[-15:]]
            raise AssertionError(f"run {run_id} stuck in {body['status']}; its last events: {last}")
        time.sleep(0.05)


def wait_for_workers(client: TestClient, ready: int, timeout: float = 120) -> None:
    """Wait until `ready` workers take runs and have loaded every library they preload."""
    deadline = time.monotonic() + timeout
    wanted = f", {ready}/"
    while True:
        detail = client.get("/api/v1/utils/health").json()["components"]["dagster"]["detail"]
        ready_part, _, warm_part = detail.partition(" workers ready")
        if wanted in ready_part and wanted in warm_part:
            return
        assert time.monotonic() < deadline, f"workers never became ready: {detail}"
        time.sleep(0.1)
