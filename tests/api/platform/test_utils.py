"""Health endpoints, the OpenAPI page, and the contract of this module set."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.api.helpers import admin_headers

CONTRACT = Path(__file__).resolve().parents[4] / "shared" / "contract" / "dataml-endpoints.tsv"
SERVED_MODULES = {
    "login",
    "users",
    "rbac",
    "utils",
    "auth",
    "ray",
    "template",
    "dataset",
    "files",
    "datalake",
    "train",
    "inference",
}


def test_health_check_matches_reference(client: TestClient) -> None:
    response = client.get("/api/v1/utils/health-check/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "message": "Service is healthy."}


def test_health_reports_every_store(tmp_path: Path) -> None:
    from api.app import create_app
    from tests.conftest import head_revision, make_settings
    from tests.pipelines.runs import wait_for_workers

    with TestClient(create_app(make_settings(tmp_path, workers=1))) as client:
        wait_for_workers(client, ready=1)
        response = client.get("/api/v1/utils/health")
    body = response.json()
    assert set(body["components"]) == {
        "metadata_store",
        "dagster",
        "iceberg_catalog",
        "mlflow_tracking",
    }
    for name, component in body["components"].items():
        assert component["status"] == "ok", (name, component)
    assert body["components"]["metadata_store"]["detail"] == f"migration {head_revision()}"
    assert response.status_code == 200 and body["status"] == "ok"


def test_health_reports_a_broken_store(tmp_path: Path) -> None:
    from api.app import create_app
    from tests.conftest import make_settings

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the catalog directory should be")
    settings = make_settings(tmp_path, catalog_url=f"sqlite:///{blocker}/catalog.db")
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/utils/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["iceberg_catalog"]["status"] == "error"
    assert body["components"]["metadata_store"]["status"] == "ok"


def test_without_workers_runs_are_refused_and_health_says_so(client: TestClient) -> None:
    response = client.post("/api/v1/utils/self-check", headers=admin_headers(client))
    assert response.status_code == 503
    assert response.json()["detail"] == "no run workers: STRATA_WORKERS is 0"
    health = client.get("/api/v1/utils/health")
    assert health.status_code == 503
    assert health.json()["components"]["dagster"] == {
        "status": "error",
        "detail": "ServiceUnavailableError: no run workers: STRATA_WORKERS is 0",
    }


def test_openapi_page_is_served(client: TestClient) -> None:
    spec = client.get("/schema/openapi.json").json()
    assert spec["info"]["title"] == "Strata"
    assert client.get("/schema/swagger").status_code == 200


@pytest.mark.skipif(not CONTRACT.exists(), reason="shared contract table not beside the checkout")
def test_foundation_endpoints_of_the_contract_are_served(client: TestClient) -> None:
    spec = client.get("/schema/openapi.json").json()
    served = {(m.upper(), p.rstrip("/")) for p, ops in spec["paths"].items() for m in ops}
    with CONTRACT.open() as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["module"] in SERVED_MODULES]
    assert len(rows) == 57
    missing = [
        (r["method"], r["path"]) for r in rows if (r["method"], r["path"].rstrip("/")) not in served
    ]
    assert missing == []


def test_unknown_path_is_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here", headers=admin_headers(client))
    assert response.status_code == 404
    assert response.json()["status_code"] == 404
