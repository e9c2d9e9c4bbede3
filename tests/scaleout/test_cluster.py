"""The API's data and model paths on the cluster: PostgreSQL, S3, Trino and Celery workers."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from lakehouse.errors import ServiceUnavailableError
from lakehouse.lake.catalog import open_catalog
from lakehouse.lake.datalake import Datalake
from lakehouse.lake.naming import Layer, TableRef
from lakehouse.lake.query import EmbeddedEngine
from lakehouse.settings import child_env
from pipelines.instance import open_instance
from tests.api.helpers import admin_headers, me, upload
from tests.conftest import ADMIN_PASSWORD
from tests.pipelines.runs import submit_selfcheck, wait_for
from tests.processes import ROOT, free_port, stop
from tests.scaleout.conftest import Cluster, parent_of, wait_until

pytestmark = pytest.mark.cluster

FINAL = {"SUCCESS", "FAILURE", "CANCELED"}
TEMPLATE = {
    "template_name": "Accounts",
    "template_schema": [
        {"column_name": "account_id", "data_type": "int"},
        {"column_name": "balance", "data_type": "double", "min_value": "0"},
        {"column_name": "segment", "data_type": "String"},
        {"column_name": "opened", "data_type": "Date"},
        {"column_name": "active", "data_type": "bool"},
    ],
}


def accounts_csv(rows: int, bad_every: int = 0, seed: int = 7) -> bytes:
    """Accounts as a messy CSV would bring them: blanks, an N/A marker, and every
    `bad_every`-th balance unreadable."""
    rng = random.Random(seed)
    lines = ["account_id,balance,segment,opened,active"]
    for index in range(1, rows + 1):
        balance = f"{rng.uniform(0, 5000):.2f}"
        if bad_every and index % bad_every == 0:
            balance = "oops"
        elif index % 97 == 0:
            balance = "N/A"
        segment = rng.choice(["retail", "business", "private", ""])
        opened = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        lines.append(f"{index},{balance},{segment},{opened},{rng.choice(['true', 'false'])}")
    return ("\n".join(lines) + "\n").encode()


def call(client: TestClient, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    response = client.request(method, f"/api/v1/{path}", headers=headers, **kw)
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


def dataset_entry(client: TestClient, headers: dict[str, str], dataset_id: int) -> Any:
    listed = call(client, "GET", "dataset/list", headers)["data"]
    return next(d for d in listed if d["id"] == dataset_id)


def run_pids(cluster: Cluster, run_id: str) -> set[int]:
    with open_instance(cluster.settings) as instance:
        events = [entry.dagster_event for entry in instance.all_logs(run_id)]
        return {event.pid for event in events if event is not None and event.pid is not None}


def assert_ran_in_a_celery_worker(cluster: Cluster, run_id: str) -> None:
    pids = run_pids(cluster, run_id)
    assert pids and os.getpid() not in pids
    # A worker runs each task in a pool process of its own.
    executing = {pid for pid in pids if parent_of(pid) in cluster.worker_pids()}
    assert executing, (pids, cluster.worker_pids())


def test_data_path_lands_in_the_bucket_runs_on_workers_and_trino_answers_as_embedded(
    client: TestClient, cluster: Cluster
) -> None:
    settings = cluster.settings
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    template_id = call(client, "POST", "template/", headers, json=TEMPLATE)["id"]
    response = upload(
        client,
        headers,
        [("accounts.csv", accounts_csv(3000, bad_every=150))],
        dataset_name="accounts",
        template_id=template_id,
    )
    assert response.status_code == 201, response.text
    dataset_id = response.json()["dataset_id"]
    run_id = dataset_entry(client, headers, dataset_id)["last_run_id"]
    run = wait_for(client, headers, run_id, FINAL, timeout=300)
    assert run["status"] == "SUCCESS"
    entry = dataset_entry(client, headers, dataset_id)
    assert entry["is_valid"] and entry["validation_status"] == "valid"
    assert_ran_in_a_celery_worker(cluster, run_id)
    assert "dagster-celery/task_id" in run["tags"]

    # Everything the run wrote is in the bucket: the upload, and the tables' files.
    landing = cluster.bucket_keys(settings.landing_url)
    assert [key.rsplit("_", 1)[-1] for key in landing] == ["accounts.csv"]
    warehouse = cluster.bucket_keys(settings.warehouse)
    for layer in ("bronze", "silver"):
        assert any(f".{layer}/accounts/data/" in key for key in warehouse), layer
    assert any(key.endswith(".metadata.json") for key in warehouse)
    assert not (settings.data_dir / "warehouse").exists()
    assert not (settings.data_dir / "landing").exists()

    # Statistics, through a worker too.
    started = call(
        client, "POST", "dataset/generate_statistics", headers, params={"dataset_id": dataset_id}
    )
    stats_run = wait_for(client, headers, started["job_id"], FINAL, timeout=300)
    assert stats_run["status"] == "SUCCESS"
    statistics = call(
        client, "GET", "dataset/statistics", headers, params={"dataset_id": dataset_id}
    )
    by_column = {row["column_name"]: row for row in statistics["statistics"]}
    assert set(by_column) >= {"account_id", "balance", "segment"}

    # Every datalake answer from Trino equals the embedded engine's on the same tables.
    embedded = Datalake(open_catalog(settings), EmbeddedEngine(), tenant_id)
    schemas = call(client, "GET", "datalake/schemas", headers)
    assert schemas == embedded.schemas() and {"bronze", "silver"} <= set(schemas)
    for schema in ("bronze", "silver"):
        tables = call(
            client, "GET", "datalake/schemas/tables", headers, params={"schema_name": schema}
        )
        assert tables == embedded.tables(schema)
        for table in tables:
            where = {"schema_name": schema, "table_name": table}
            columns = call(client, "GET", "datalake/tables/columns", headers, params=where)
            assert columns == [
                {"column_name": c.column_name, "data_type": c.data_type}
                for c in embedded.columns(schema, table)
            ]
            metadata = call(client, "GET", "datalake/table_metadata", headers, params=where)
            assert metadata["row_count"] == embedded.table_metadata(schema, table, None).row_count
    silver = {"schema_name": "silver", "table_name": "accounts"}
    metadata = call(client, "GET", "datalake/table_metadata", headers, params=silver)
    assert metadata["row_count"] == 2980  # 3000 rows, 20 with an unreadable balance
    assert metadata["location"].startswith(settings.warehouse)
    for column in ("balance", "account_id"):
        stats = call(
            client,
            "GET",
            "datalake/numeric_stats",
            headers,
            params={**silver, "column_name": column},
        )
        expected = embedded.numeric_stats("silver", "accounts", column)
        assert stats["count"] == expected.count
        for name in ("mean", "std_dev", "min", "max"):
            assert stats[name] == pytest.approx(getattr(expected, name), rel=1e-9), name
        assert stats["median"] == pytest.approx(expected.median, rel=0.02)  # Trino's is approximate
    for column in ("segment", "active", "opened"):
        short = {"schema": "silver", "table": "accounts", "column": column}
        distinct = call(client, "GET", "datalake/distinct-count", headers, params=short)
        assert distinct["distinct_count"] == embedded.distinct_count("silver", "accounts", column)

    # Read-only SQL answers through Trino as through the embedded engine.
    from lakehouse.lake.sql import SqlLimits, read_only_query

    text = (
        "SELECT segment, count(*) AS n, round(sum(balance), 2) AS total "
        "FROM silver.accounts WHERE active GROUP BY segment ORDER BY segment NULLS LAST"
    )
    answer = call(client, "POST", "datalake/query", headers, json={"sql": text})
    readable = embedded.readable()
    checked = read_only_query(text, readable, SqlLimits(200, 1000, 30.0), "duckdb")
    tables = {
        name: (embedded.catalog.load_table(readable[name].identifier), readable[name])
        for name in checked.tables
    }
    reference = EmbeddedEngine().run_query(checked, tables, 30.0)
    assert answer["rows"] == [list(row) for row in reference.rows] and len(answer["rows"]) >= 2
    assert [c["name"] for c in answer["columns"]] == ["segment", "n", "total"]
    for text, status, named in [
        ("SELECT nope FROM silver.accounts", 400, "The query failed"),
        ("SELECT * FROM system.runtime.nodes", 422, "Unknown table"),
    ]:
        refusal = client.post("/api/v1/datalake/query", json={"sql": text}, headers=headers)
        assert refusal.status_code == status and named in refusal.json()["detail"], refusal.text

    # Identifiers are checked against the tenant's namespace before Trino sees them.
    for path, params, field in [
        ("table_metadata", {"schema_name": "platinum", "table_name": "accounts"}, "schema_name"),
        ("table_metadata", {"schema_name": "silver", "table_name": 'accounts" --'}, "table_name"),
        ("numeric_stats", {**silver, "column_name": "balance) FROM x --"}, "column_name"),
        ("distinct-count", {"schema": "silver", "table": "accounts", "column": "x'"}, "column"),
    ]:
        refused = client.get(f"/api/v1/datalake/{path}", params=params, headers=headers)
        assert refused.status_code == 404 and refused.json()["field"] == field, refused.text


def test_model_path_keeps_artifacts_in_the_bucket(client: TestClient, cluster: Cluster) -> None:
    from sklearn.datasets import load_breast_cancer

    settings = cluster.settings
    headers = admin_headers(client)
    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = ["malignant" if v == 0 else "benign" for v in frame["target"]]
    frame.insert(0, "row_id", range(1, len(frame) + 1))
    response = upload(
        client, headers, [("cancer.csv", frame.to_csv(index=False).encode())], dataset_name="cancer"
    )
    assert response.status_code == 201, response.text
    dataset_id = response.json()["dataset_id"]
    ingestion = dataset_entry(client, headers, dataset_id)["last_run_id"]
    assert wait_for(client, headers, ingestion, FINAL, timeout=300)["status"] == "SUCCESS"

    roles = {"row_id": "Id", "target": "Target"}
    request = {
        "dataset_id": dataset_id,
        "predictor_name": "cancer risk",
        "domain": "Health",
        "problem_type": "Classification",
        "columns": [
            {"column_name": c, "attribute_name": roles.get(c, "Feature")} for c in frame.columns
        ],
        "shap_enabled": True,
    }
    created = call(client, "POST", "train/", headers, json=request)
    run = wait_for(client, headers, created["last_run_id"], FINAL, timeout=600)
    assert run["status"] == "SUCCESS"
    assert_ran_in_a_celery_worker(cluster, created["last_run_id"])
    [entry] = call(client, "GET", "train/list", headers)["data"]
    assert entry["training_status"] == "completed" and entry["accuracy"] >= 0.9

    artifacts = cluster.bucket_keys(settings.mlflow_artifact_root)
    assert any(key.endswith("plots/confusion_matrix.png") for key in artifacts)
    assert any(key.endswith("shap/feature_importance.json") for key in artifacts)
    assert any(key.endswith("MLmodel") for key in artifacts)
    assert not (settings.data_dir / "mlflow" / "artifacts").exists()
    shap = call(
        client, "GET", "train/view-feature-importance", headers, params={"train_id": created["id"]}
    )
    assert shap["status"] == "completed" and len(shap["feature_importance"]) == 30

    features = [c for c in frame.columns if c not in roles]
    row = {name: float(frame.loc[0, name]) for name in features}
    answer = call(
        client, "POST", "inference/", headers, json={"train_id": created["id"], "features": row}
    )
    assert answer["prediction"] == "malignant" and answer["model_version"] == 1

    batch = call(
        client,
        "POST",
        "inference/batch-prediction",
        headers,
        json={"train_id": created["id"], "dataset_id": dataset_id},
    )
    assert wait_for(client, headers, batch["job_id"], FINAL, timeout=300)["status"] == "SUCCESS"
    assert_ran_in_a_celery_worker(cluster, batch["job_id"])
    result = call(
        client, "GET", "inference/result", headers, params={"prediction_id": batch["prediction_id"]}
    )
    assert result["status"] == "completed" and result["no_of_records"] == len(frame)
    download = client.get(
        "/api/v1/files/download", params={"file_path": result["result_path"]}, headers=headers
    )
    assert download.status_code == 200 and len(download.text.splitlines()) == len(frame) + 1
    scored = cluster.bucket_keys(settings.landing_url)
    assert any(key.endswith(result["result_path"]) for key in scored)


def test_two_api_processes_serve_one_tenant(client: TestClient, cluster: Cluster) -> None:
    port = free_port()
    env = child_env(cluster.settings, with_secrets=True)
    second = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v1"
    # The second process's first requests wait for what it still opens in the background
    # (its Dagster instance), on cores the other tests share.
    api = httpx.Client(timeout=60)
    try:
        wait_until(
            lambda: _answers(f"{base}/utils/health-check/"), 120, "the second API never answered"
        )
        headers = admin_headers(client)
        login = api.post(
            f"{base}/login/access-token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        theirs = {"Authorization": f"Bearer {login.json()['access_token']}"}
        mine = api.post(f"{base}/login/test-token", headers=theirs).json()
        assert mine["tenant_id"] == me(client, headers)["tenant_id"]

        made_there = api.post(
            f"{base}/dataset/upload",
            params={"dataset_name": "from second", "usage": "t"},
            files=[("files", ("b.csv", io.BytesIO(accounts_csv(50))))],
            headers=theirs,
        )
        made_here = upload(
            client, headers, [("a.csv", accounts_csv(50, seed=3))], dataset_name="from first"
        )
        assert made_there.status_code == 201 and made_here.status_code == 201
        # One dataset name, claimed from both processes: one of them gets it.
        clash = [
            api.post(
                f"{base}/dataset/upload",
                params={"dataset_name": "from first", "usage": "t"},
                files=[("files", ("c.csv", io.BytesIO(accounts_csv(5))))],
                headers=theirs,
            ).status_code
        ]
        assert clash == [409]
        for made in (made_there.json(), made_here.json()):
            run_id = dataset_entry(client, headers, made["dataset_id"])["last_run_id"]
            assert wait_for(client, headers, run_id, FINAL, timeout=300)["status"] == "SUCCESS"
        names = {
            d["dataset_name"]
            for d in api.get(f"{base}/dataset/list", headers=theirs).json()["data"]
        }
        assert {"from first", "from second"} <= names
    finally:
        stop([second])
        api.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_worker_killed_mid_run_fails_the_run_and_keeps_the_last_snapshot(
    client: TestClient, cluster: Cluster
) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    response = upload(client, headers, [("first.csv", accounts_csv(200))], dataset_name="killed")
    assert response.status_code == 201, response.text
    dataset_id = response.json()["dataset_id"]
    first_run = dataset_entry(client, headers, dataset_id)["last_run_id"]
    assert wait_for(client, headers, first_run, FINAL, timeout=300)["status"] == "SUCCESS"
    catalog = open_catalog(cluster.settings)
    silver = TableRef(tenant_id, Layer.SILVER, "killed")
    before = catalog.load_table(silver.identifier).current_snapshot()
    assert before is not None

    added = client.post(
        "/api/v1/files/add",
        params={"dataset_id": dataset_id},
        files=[("files", ("big.csv", io.BytesIO(accounts_csv(400_000, seed=11))))],
        headers=headers,
    )
    assert added.status_code in (200, 201), added.text
    run_id = dataset_entry(client, headers, dataset_id)["last_run_id"]
    assert run_id != first_run
    wait_for(client, headers, run_id, {"STARTED"} | FINAL, timeout=300)
    wait_until(lambda: run_pids(cluster, run_id), 60, "the run never logged from its process")
    [executing] = {
        pid for pid in run_pids(cluster, run_id) if parent_of(pid) in cluster.worker_pids()
    }
    os.kill(executing, signal.SIGKILL)

    run = wait_for(client, headers, run_id, FINAL, timeout=120)
    assert run["status"] == "FAILURE"
    entry = dataset_entry(client, headers, dataset_id)
    assert entry["validation_status"] == "failed", entry
    after = catalog.load_table(silver.identifier).current_snapshot()
    assert after is not None and after.snapshot_id == before.snapshot_id

    # The worker replaced its pool process; the retry, started by the next change, succeeds.
    retried = client.post(
        "/api/v1/files/add",
        params={"dataset_id": dataset_id},
        files=[("files", ("more.csv", io.BytesIO(accounts_csv(10, seed=5))))],
        headers=headers,
    )
    assert retried.status_code in (200, 201), retried.text
    retry = dataset_entry(client, headers, dataset_id)["last_run_id"]
    assert wait_for(client, headers, retry, FINAL, timeout=600)["status"] == "SUCCESS"
    rows = catalog.load_table(silver.identifier).scan().to_arrow().num_rows
    assert rows > 400_000


def test_cancel_ends_a_celery_run_canceled(client: TestClient, cluster: Cluster) -> None:
    headers = admin_headers(client)
    run_id = submit_selfcheck(client, headers, rows=2, hold_seconds=300)
    wait_for(client, headers, run_id, {"STARTED"}, timeout=300)
    response = client.post(f"/api/v1/runs/{run_id}/terminate", headers=headers)
    assert response.status_code == 200, response.text
    final = wait_for(client, headers, run_id, FINAL, timeout=120)
    events = client.get(f"/api/v1/runs/{run_id}/logs", headers=headers).json()["events"]
    assert final["status"] == "CANCELED", "\n".join(str(e["message"]) for e in events[-12:])
    assert_ran_in_a_celery_worker(cluster, run_id)


def test_runs_show_in_the_dagster_ui_with_their_logs(client: TestClient, cluster: Cluster) -> None:
    headers = admin_headers(client)
    run_id = submit_selfcheck(client, headers, rows=5)
    assert wait_for(client, headers, run_id, FINAL, timeout=300)["status"] == "SUCCESS"
    query = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status
        eventConnection { events { __typename ... on MessageEvent { message } } } } } }"""
    body = httpx.post(
        f"{cluster.settings.dagster_url}/graphql",
        json={"query": query, "variables": {"id": run_id}},
    ).json()
    run = body["data"]["runOrError"]
    assert run["status"] == "SUCCESS"
    messages = [event.get("message") for event in run["eventConnection"]["events"]]
    assert "writing 5 rows to platform.selfcheck" in messages
    assert cluster.bucket_keys(cluster.settings.dagster_compute_logs)


def test_trino_quotes_every_identifier_it_is_given(client: TestClient, cluster: Cluster) -> None:
    import pyarrow as pa

    from lakehouse.lake.catalog import replace_table
    from lakehouse.lake.query import TrinoEngine

    tenant_id = me(client, admin_headers(client))["tenant_id"]
    ref = TableRef(tenant_id, Layer.GOLD, "odd_names")
    catalog = open_catalog(cluster.settings)
    data = pa.table({'usage "GB"': [1.5, 2.5, 4.0, None], "Plan Name": ["a", "b", "a", None]})
    replace_table(catalog, ref, data)
    table = catalog.load_table(ref.identifier)
    trino, embedded = TrinoEngine.from_settings(cluster.settings), EmbeddedEngine()
    assert trino.row_count(table, ref) == 4 == embedded.row_count(table, ref)
    assert trino.distinct_count(table, ref, "Plan Name") == 2
    stats = trino.numeric_stats(table, ref, 'usage "GB"')
    assert (stats.count, stats.min, stats.max) == (3, 1.5, 4.0)
    assert stats.mean == pytest.approx(8 / 3)
    assert trino.columns(table, ref) == embedded.columns(table, ref)
    with pytest.raises(ServiceUnavailableError, match="Trino query engine failed"):
        trino.distinct_count(table, TableRef(tenant_id, Layer.GOLD, "never_written"), "x")
