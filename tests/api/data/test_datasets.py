"""Dataset upload and file management through the API (validation runs come with the assets)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from litestar.testing import TestClient

from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, me, new_tenant_with_admin, upload
from tests.conftest import make_settings
from tests.pipelines.runs import submit_selfcheck, wait_for


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Uploads start ingestion runs, so these tests need a run worker."""
    return make_settings(tmp_path, database_url=database_url, workers=1)


CSV = b"CustomerID,DataUsageGB\nC1,1.5\nC2,2.0\nC3,oops\n"
TEMPLATE = {
    "template_name": "Usage",
    "template_schema": [
        {"column_name": "CustomerID", "data_type": "String"},
        {"column_name": "DataUsageGB", "data_type": "Float"},
    ],
}


def test_upload_measures_every_file(client: TestClient) -> None:
    headers = admin_headers(client)
    template_id = client.post("/api/v1/template/", json=TEMPLATE, headers=headers).json()["id"]
    parquet = io.BytesIO()
    pl.DataFrame({"CustomerID": ["C4"], "DataUsageGB": [4.0], "Extra": [1]}).write_parquet(parquet)
    response = upload(
        client,
        headers,
        [("usage.csv", CSV), ("more.parquet", parquet.getvalue())],
        dataset_name="Telecom usage",
        template_id=template_id,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["dataset_name"] == "Telecom usage"
    assert body["data_source"] == "csv"
    assert [
        (f["file_name"], f["total_fields"], f["total_records"], f["error_report"])
        for f in body["files"]
    ] == [
        ("usage.csv", 2, 3, None),
        ("more.parquet", 3, 1, None),
    ]
    # every file has a uuid of its own, the same wherever the file is shown
    uuids = [f["uuid"] for f in body["files"]]
    assert len(set(uuids)) == 2 and all(len(u) == 36 for u in uuids)
    files = client.get(
        "/api/v1/files/list", params={"dataset_id": body["dataset_id"]}, headers=headers
    ).json()["data"]
    assert [f["uuid"] for f in files] == uuids

    [listed] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert listed["iceberg_table_name"] == "telecom_usage"
    assert listed["template_name"] == "Usage"
    assert listed["file_count"] == 2
    assert listed["usage"] == "t" and listed["dataset_usage"] == "Training"

    # The upload started an ingestion run; its verdict lands on the dataset and its files.
    wait_for(client, headers, listed_run(client, headers), {"SUCCESS", "FAILURE", "CANCELED"})
    [listed] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert listed["validation_status"] == "invalid", listed
    assert listed["is_valid"] is False
    assert listed["dataset_usability"] == "75%"
    assert client.get("/api/v1/dataset/list_validated", headers=headers).json() == []
    files = client.get(
        "/api/v1/files/list", params={"dataset_id": body["dataset_id"]}, headers=headers
    ).json()
    reports = {f["file_name"]: f["error_report"] for f in files["data"]}
    assert reports["more.parquet"]["failed_expectations"] == []
    preview = client.get(
        "/api/v1/dataset/view", params={"dataset_id": body["dataset_id"]}, headers=headers
    )
    assert sorted(preview.json()["preview"], key=lambda r: r["CustomerID"]) == [
        {"CustomerID": "C1", "DataUsageGB": 1.5},
        {"CustomerID": "C2", "DataUsageGB": 2.0},
        {"CustomerID": "C4", "DataUsageGB": 4.0},
    ]
    # Statistics come from a run of their own over the validated rows.
    submitted = client.post(
        "/api/v1/dataset/generate_statistics",
        params={"dataset_id": body["dataset_id"]},
        headers=headers,
    )
    assert submitted.status_code == 200
    assert submitted.json()["message"] == "Statistics generation job submitted successfully."
    stats_run = wait_for(
        client, headers, submitted.json()["job_id"], {"SUCCESS", "FAILURE", "CANCELED"}
    )
    assert stats_run["status"] == "SUCCESS" and stats_run["job_name"] == "dataset_statistics_job"
    stats = client.get(
        "/api/v1/dataset/statistics", params={"dataset_id": body["dataset_id"]}, headers=headers
    ).json()
    assert stats["table"] == "gold.telecom_usage__stats"
    by_column = {row["column_name"]: row for row in stats["statistics"]}
    usage_stats = by_column["DataUsageGB"]
    assert (usage_stats["count"], usage_stats["nulls"], usage_stats["min"], usage_stats["max"]) == (
        3,
        0,
        "1.5",
        "4.0",
    )
    assert usage_stats["mean"] == 2.5 and by_column["CustomerID"]["distinct"] == 3

    # Deleting a file takes its rows out of the tables: the dataset is validated again.
    csv_id = next(f["id"] for f in files["data"] if f["file_name"] == "usage.csv")
    removed = client.delete(f"/api/v1/files/delete/{csv_id}", headers=headers)
    assert removed.json() == {"status_code": 200, "message": "File deleted successfully"}
    wait_for(client, headers, listed_run(client, headers), {"SUCCESS", "FAILURE", "CANCELED"})
    [listed] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert (listed["validation_status"], listed["dataset_usability"], listed["file_count"]) == (
        "valid",
        "100%",
        1,
    )
    preview = client.get(
        "/api/v1/dataset/view", params={"dataset_id": body["dataset_id"]}, headers=headers
    )
    assert preview.json()["preview"] == [{"CustomerID": "C4", "DataUsageGB": 4.0}]
    last = client.delete(
        f"/api/v1/files/delete/{listed_files(client, headers, body['dataset_id'])[0]}",
        headers=headers,
    )
    assert last.status_code == 409
    one = client.get(
        "/api/v1/dataset/view",
        params={"dataset_id": body["dataset_id"], "limit": 1},
        headers=headers,
    )
    assert len(one.json()["preview"]) == 1
    too_many = client.get(
        "/api/v1/dataset/view",
        params={"dataset_id": body["dataset_id"], "limit": 5000},
        headers=headers,
    )
    assert too_many.status_code == 422
    [failure] = reports["usage.csv"]["failed_expectations"]
    assert failure == {
        "column": "DataUsageGB",
        "expectation": "expect_column_values_to_match_regex",
        "failed_count": 1,
        "samples": [{"row_number": 3, "value": "oops"}],
    }

    location = client.get(
        "/api/v1/dataset/get_dataset_by_id",
        params={"dataset_id": body["dataset_id"]},
        headers=headers,
    ).json()
    assert location["validated_path"] == "silver.telecom_usage"

    # A template in use cannot be deleted.
    assert client.delete(f"/api/v1/template/{template_id}", headers=headers).status_code == 409


def listed_run(client: TestClient, headers: dict[str, str]) -> str:
    runs = [
        d["last_run_id"] for d in client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    ]
    assert runs and runs[0]
    return str(runs[0])


def listed_files(client: TestClient, headers: dict[str, str], dataset_id: int) -> list[int]:
    files = client.get(
        "/api/v1/files/list", params={"dataset_id": dataset_id}, headers=headers
    ).json()
    return [f["id"] for f in files["data"]]


def test_file_endpoints(client: TestClient) -> None:
    headers = admin_headers(client)
    dataset = upload(client, headers, [("usage.csv", CSV)], dataset_name="files").json()
    file_id = dataset["files"][0]["id"]
    # A dataset changes only between runs.
    wait_for(client, headers, listed_run(client, headers), {"SUCCESS", "FAILURE", "CANCELED"})
    added = client.post(
        "/api/v1/files/add",
        params={"dataset_id": dataset["dataset_id"]},
        files=[
            ("files", ("second.ndjson", io.BytesIO(b'{"CustomerID": "C9", "DataUsageGB": 9}\n')))
        ],
        headers=headers,
    )
    assert added.status_code == 201
    assert [f["total_records"] for f in added.json()["files"]] == [1]
    listed = client.get(
        "/api/v1/files/list", params={"dataset_id": dataset["dataset_id"]}, headers=headers
    ).json()
    assert listed["total"] == 2

    detail = client.get(
        "/api/v1/files/get_file_by_id/", params={"file_id": file_id}, headers=headers
    ).json()
    assert detail["file_name"] == "usage.csv" and detail["hdf_file_path"] is None
    view = client.get("/api/v1/files/view", params={"file_id": file_id}, headers=headers).json()
    assert view["content_preview"] == ["CustomerID,DataUsageGB", "C1,1.5", "C2,2.0", "C3,oops"]

    by_id = client.get("/api/v1/files/download/", params={"file_id": file_id}, headers=headers)
    assert by_id.content == CSV
    assert "usage.csv" in by_id.headers["content-disposition"]
    by_path = client.get(
        "/api/v1/files/download/", params={"file_path": detail["csv_file_path"]}, headers=headers
    )
    assert by_path.content == CSV
    for escape in (
        "../../secret_key",
        "/etc/passwd",
        f"../{dataset['dataset_id']}/../../strata.db",
    ):
        assert (
            client.get(
                "/api/v1/files/download/", params={"file_path": escape}, headers=headers
            ).status_code
            == 404
        )

    wait_for(client, headers, listed_run(client, headers), {"SUCCESS", "FAILURE", "CANCELED"})
    deleted = client.delete(f"/api/v1/dataset/delete/{dataset['dataset_id']}", headers=headers)
    assert deleted.json() == {"status_code": 200, "message": "Dataset deleted successfully"}
    assert (
        client.get(
            "/api/v1/files/download/", params={"file_id": file_id}, headers=headers
        ).status_code
        == 404
    )
    assert (
        client.get(
            "/api/v1/files/download/",
            params={"file_path": detail["csv_file_path"]},
            headers=headers,
        ).status_code
        == 404
    )


def test_bad_uploads_leave_nothing(client: TestClient) -> None:
    headers = admin_headers(client)
    template_id = client.post("/api/v1/template/", json=TEMPLATE, headers=headers).json()["id"]
    cases = [
        ([("empty.csv", b"")], {}, 422, "is empty"),
        ([("header.csv", b"a,b\n")], {}, 422, "no data rows"),
        ([("ragged.csv", b"a,b\n1,2\n3,4,5\n")], {}, 422, "line 3 has 3 fields"),
        ([("bin.csv", bytes(range(256)) * 8)], {}, 422, "not text in UTF-8 or Latin-1"),
        ([("data.doc", b"x")], {}, 422, "unsupported extension"),
        ([("fake.xlsx", b"a,b\n1,2\n")], {}, 422, "not an XLSX workbook"),
        ([("ok.csv", CSV), ("bad.csv", b"")], {}, 422, "'bad.csv': is empty"),
        (
            [("cols.csv", b"CustomerID\nC1\n")],
            {"template_id": template_id},
            422,
            "lacks template column 'DataUsageGB'",
        ),
        ([("ok.csv", CSV)], {"template_id": 999999}, 404, "template 999999 not found"),
        ([("ok.csv", CSV)], {"usage": "zz"}, 422, "usage must be one of"),
    ]
    for files, params, status, message in cases:
        response = upload(client, headers, files, dataset_name="bad", **params)
        assert response.status_code == status, (files[0][0], response.text)
        assert message in response.json()["detail"]
    assert client.get("/api/v1/dataset/list", headers=headers).json()["total"] == 0
    missing = client.post(
        "/api/v1/dataset/upload", params={"dataset_name": "x", "usage": "t"}, headers=headers
    )
    assert missing.status_code == 422

    assert upload(client, headers, [("ok.csv", CSV)], dataset_name="taken").status_code == 201
    again = upload(client, headers, [("ok.csv", CSV)], dataset_name="taken")
    assert again.status_code == 409
    same_table = upload(
        client, headers, [("ok.csv", CSV)], dataset_name="other", iceberg_table_name="Taken"
    )
    assert same_table.status_code == 409
    assert client.get("/api/v1/dataset/list", headers=headers).json()["total"] == 1


def test_datasets_of_another_tenant_are_404(client: TestClient) -> None:
    headers = admin_headers(client)
    _, acme = new_tenant_with_admin(client, headers, "acme")
    _, globex = new_tenant_with_admin(client, headers, "globex")
    mine = upload(client, acme, [("usage.csv", CSV)], dataset_name="shared name").json()
    # The same dataset name is free in another tenant.
    assert (
        upload(client, globex, [("usage.csv", CSV)], dataset_name="shared name").status_code == 201
    )
    file_id = mine["files"][0]["id"]
    path = client.get(
        "/api/v1/files/get_file_by_id/", params={"file_id": file_id}, headers=acme
    ).json()["csv_file_path"]
    for url, params in [
        ("/api/v1/dataset/get_dataset_by_id", {"dataset_id": mine["dataset_id"]}),
        ("/api/v1/dataset/view", {"dataset_id": mine["dataset_id"]}),
        ("/api/v1/dataset/statistics", {"dataset_id": mine["dataset_id"]}),
        ("/api/v1/files/list", {"dataset_id": mine["dataset_id"]}),
        ("/api/v1/files/get_file_by_id/", {"file_id": file_id}),
        ("/api/v1/files/view", {"file_id": file_id}),
        ("/api/v1/files/download/", {"file_id": file_id}),
        ("/api/v1/files/download/", {"file_path": path}),
    ]:
        assert client.get(url, params=params, headers=globex).status_code == 404, url
    assert (
        client.delete(f"/api/v1/dataset/delete/{mine['dataset_id']}", headers=globex).status_code
        == 404
    )
    assert client.delete(f"/api/v1/files/delete/{file_id}", headers=globex).status_code == 404
    added = client.post(
        "/api/v1/files/add",
        params={"dataset_id": mine["dataset_id"]},
        files=[("files", ("more.csv", io.BytesIO(CSV)))],
        headers=globex,
    )
    assert added.status_code == 404
    # Nor can another tenant's template shape an upload.
    acme_template = client.post("/api/v1/template/", json=TEMPLATE, headers=acme).json()["id"]
    borrowed = upload(
        client,
        globex,
        [("usage.csv", CSV)],
        dataset_name="borrowed",
        template_id=acme_template,
    )
    assert (borrowed.status_code, borrowed.json()["field"]) == (404, "template_id")
    stats = client.post(
        "/api/v1/dataset/generate_statistics",
        params={"dataset_id": mine["dataset_id"]},
        headers=globex,
    )
    assert stats.status_code == 404
    assert [
        d["dataset_name"] for d in client.get("/api/v1/dataset/list", headers=globex).json()["data"]
    ] == ["shared name"]
    assert (
        client.get(
            "/api/v1/files/list", params={"dataset_id": mine["dataset_id"]}, headers=acme
        ).json()["total"]
        == 1
    )


def test_upload_without_run_workers_fails_the_dataset_visibly(tmp_path: Path) -> None:
    from api.app import create_app

    with TestClient(create_app(make_settings(tmp_path, workers=0))) as client:
        headers = admin_headers(client)
        response = upload(client, headers, [("usage.csv", CSV)], dataset_name="stuck")
        assert response.status_code == 503
        [listed] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
        not_yet = client.get(
            "/api/v1/dataset/view", params={"dataset_id": listed["id"]}, headers=headers
        )
        assert not_yet.status_code == 409
        assert "no validated rows yet" in not_yet.json()["detail"]
    assert listed["validation_status"] == "failed"
    assert (
        listed["validation_error"]
        == "validation could not start: no run workers: STRATA_WORKERS is 0"
    )


def test_dataset_is_not_changed_while_its_run_is_active(client: TestClient) -> None:
    headers = admin_headers(client)
    # The one worker is busy, so the dataset's ingestion run waits in the queue.
    blocker = submit_selfcheck(client, headers, rows=1, hold_seconds=120)
    wait_for(client, headers, blocker, {"STARTED"})
    body = upload(client, headers, [("usage.csv", CSV)], dataset_name="Usage").json()
    dataset_id = body["dataset_id"]
    file_id = body["files"][0]["id"]
    queued = listed_run(client, headers)
    assert client.get(f"/api/v1/runs/{queued}", headers=headers).json()["status"] == "NOT_STARTED"

    added = client.post(
        "/api/v1/files/add",
        params={"dataset_id": dataset_id},
        files=[("files", ("more.csv", io.BytesIO(CSV)))],
        headers=headers,
    )
    removed = client.delete(f"/api/v1/files/delete/{file_id}", headers=headers)
    dropped = client.delete(f"/api/v1/dataset/delete/{dataset_id}", headers=headers)
    for refused in (added, removed, dropped):
        assert refused.status_code == 409, refused.text
        assert refused.json()["field"] == "dataset_id"
        assert queued in refused.json()["detail"]
    assert listed_files(client, headers, dataset_id) == [file_id]

    # Once the run is over, the dataset can change again.
    client.post(f"/api/v1/runs/{queued}/terminate", headers=headers)
    client.post(f"/api/v1/runs/{blocker}/terminate", headers=headers)
    wait_for(client, headers, queued, {"CANCELED"}, timeout=30)
    dropped = client.delete(f"/api/v1/dataset/delete/{dataset_id}", headers=headers)
    assert dropped.status_code == 200, dropped.text
    wait_for(client, headers, blocker, {"CANCELED"}, timeout=30)


def ingestion_runs(client: TestClient, dataset_id: int) -> list[str]:
    """Every Dagster run that ingests the dataset, newest first."""
    from dagster import RunsFilter

    from lakehouse.runs import DATASET_INGESTION_JOB

    instance = client.app.state.platform.gateway.instance
    runs = instance.get_runs(RunsFilter(job_name=DATASET_INGESTION_JOB))
    return [r.run_id for r in runs if r.tags.get("dagster/partition") == str(dataset_id)]


def stored_names(folder: Path) -> list[str]:
    """The files landed in a dataset's folder, by the names they were uploaded under."""
    return sorted(path.name.split("_", 1)[1] for path in folder.iterdir())


def test_concurrent_changes_to_one_dataset_start_one_run(
    client: TestClient, settings: Settings
) -> None:
    headers = admin_headers(client)
    body = upload(client, headers, [("usage.csv", CSV)], dataset_name="Usage").json()
    dataset_id = body["dataset_id"]
    wait_for(client, headers, listed_run(client, headers), {"SUCCESS", "FAILURE"})
    [first_run] = ingestion_runs(client, dataset_id)

    def add(index: int) -> Any:
        return client.post(
            "/api/v1/files/add",
            params={"dataset_id": dataset_id},
            files=[("files", (f"more-{index}.csv", io.BytesIO(CSV)))],
            headers=headers,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(add, range(4)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409], [
        r.text for r in responses
    ]
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["field"] == "dataset_id"
    [winner] = [r.json() for r in responses if r.status_code == 201]
    [added] = [f["file_name"] for f in winner["files"]]

    # One new run, and of the refused requests nothing kept: no record, no landed file.
    runs = ingestion_runs(client, dataset_id)
    assert len(runs) == 2 and runs[1] == first_run
    assert listed_run(client, headers) == runs[0]
    files = client.get(
        "/api/v1/files/list", params={"dataset_id": dataset_id}, headers=headers
    ).json()
    assert sorted(f["file_name"] for f in files["data"]) == sorted(["usage.csv", added])
    folder = settings.landing_dir / me(client, headers)["tenant_id"] / str(dataset_id)
    assert stored_names(folder) == sorted(["usage.csv", added])
    wait_for(client, headers, runs[0], {"SUCCESS", "FAILURE"})


def test_a_dataset_deleted_while_a_change_starts_its_run_is_one_or_the_other(
    client: TestClient, settings: Settings
) -> None:
    headers = admin_headers(client)
    body = upload(client, headers, [("usage.csv", CSV)], dataset_name="Usage").json()
    dataset_id, [only] = body["dataset_id"], body["files"]
    first_run = listed_run(client, headers)
    wait_for(client, headers, first_run, {"SUCCESS", "FAILURE"})

    # The last file is not deleted, and the refusal leaves the dataset as it was.
    [before] = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    last = client.delete(f"/api/v1/files/delete/{only['id']}", headers=headers)
    assert last.status_code == 409 and last.json()["field"] == "file_id"
    assert client.get("/api/v1/dataset/list", headers=headers).json()["data"] == [before]

    def add() -> Any:
        return client.post(
            "/api/v1/files/add",
            params={"dataset_id": dataset_id},
            files=[("files", ("more.csv", io.BytesIO(CSV)))],
            headers=headers,
        )

    def drop() -> Any:
        return client.delete(f"/api/v1/dataset/delete/{dataset_id}", headers=headers)

    with ThreadPoolExecutor(max_workers=2) as pool:
        added, dropped = (f.result() for f in [pool.submit(add), pool.submit(drop)])
    folder = settings.landing_dir / me(client, headers)["tenant_id"] / str(dataset_id)
    listed = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    if dropped.status_code == 200:
        assert added.status_code in (404, 409), added.text
        assert listed == [] and not folder.exists()
        assert ingestion_runs(client, dataset_id) == [first_run]
    else:
        assert (added.status_code, dropped.status_code) == (201, 409), (added.text, dropped.text)
        assert [d["file_count"] for d in listed] == [2]
        assert stored_names(folder) == ["more.csv", "usage.csv"]
        wait_for(client, headers, listed_run(client, headers), {"SUCCESS", "FAILURE"})
