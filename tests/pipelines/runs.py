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
        assert time.monotonic() < deadline, f"run {run_id} stuck in {body['status']}"
        time.sleep(0.05)


def wait_for_workers(client: TestClient, ready: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (
        f"{ready}/"
        not in client.get("/api/v1/utils/health").json()["components"]["dagster"]["detail"]
    ):
        assert time.monotonic() < deadline, "workers never became ready"
        time.sleep(0.1)
