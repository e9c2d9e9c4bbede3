"""The data path end to end through the API: upload, validate, browse, query, per file format."""

from __future__ import annotations

import io
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from litestar.testing import TestClient

from assets.ingestion import ingestion
from lakehouse.lake.catalog import open_catalog
from lakehouse.lake.naming import Layer, TableRef
from lakehouse.runs import DATASET_PARTITIONS
from lakehouse.settings import Settings
from pipelines.instance import open_instance
from resources import LakehouseResource
from tests.api.helpers import admin_headers, me, new_tenant_with_admin, upload
from tests.conftest import make_settings
from tests.pipelines.runs import wait_for

FINAL = {"SUCCESS", "FAILURE", "CANCELED"}
TEMPLATE = {
    "template_name": "Accounts",
    "template_schema": [
        {"column_name": "account_id", "data_type": "int"},
        {"column_name": "balance", "data_type": "double", "min_value": "0"},
        {
            "column_name": "segment",
            "data_type": "String",
            "allowed_values": ["retail", "business"],
        },
        {"column_name": "opened", "data_type": "Date"},
        {"column_name": "active", "data_type": "bool"},
    ],
}
# Six rows as text; row 3's balance does not parse and row 5's segment is not allowed.
ROWS = {
    "account_id": ["1", "2", "3", "4", "5", "6"],
    "balance": ["10.5", "20.0", "oops", "40.0", "50.0", "0.5"],
    "segment": ["retail", "business", "retail", "retail", "wholesale", "business"],
    "opened": ["2024-01-02", "2024-02-03", "2024-03-04", "2024-04-05", "2024-05-06", "2024-06-07"],
    "active": ["true", "false", "true", "true", "false", "true"],
}
GOOD_BALANCES = [10.5, 20.0, 40.0, 0.5]


def as_csv(frame: pl.DataFrame) -> bytes:
    return frame.write_csv().encode()


def as_parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def as_ndjson(frame: pl.DataFrame) -> bytes:
    return frame.write_ndjson().encode()


def as_xlsx(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_excel(buffer)
    return buffer.getvalue()


FORMATS: dict[str, Callable[[pl.DataFrame], bytes]] = {
    "csv": as_csv,
    "parquet": as_parquet,
    "ndjson": as_ndjson,
    "xlsx": as_xlsx,
}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url, workers=1)


def get(client: TestClient, headers: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(f"/api/v1/{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def dataset_by_id(client: TestClient, headers: dict[str, str], dataset_id: int) -> Any:
    listed = get(client, headers, "dataset/list")["data"]
    return next(dataset for dataset in listed if dataset["id"] == dataset_id)


def latest_silver_event(
    settings: Settings, partition: str
) -> tuple[dict[str, Any], dict[str, bool]]:
    """The newest materialization metadata of silver for a partition, and its check verdicts."""
    with open_instance(settings) as instance:
        [record] = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("silver"), asset_partitions=[partition]),
            limit=1,
        ).records
        materialization = record.asset_materialization
        assert materialization is not None
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        checks = {}
        for name in ("rows_pass_template", "template_columns_present"):
            key = dg.AssetCheckKey(dg.AssetKey("silver"), name)
            latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])
            evaluation = latest[key].event
            assert evaluation is not None and evaluation.dagster_event is not None
            checks[name] = evaluation.dagster_event.asset_check_evaluation_data.passed
    return metadata, checks


def silver_rows(settings: Settings, tenant_id: str, table: str) -> list[dict[str, Any]]:
    ref = TableRef(tenant_id, Layer.SILVER, table)
    rows = open_catalog(settings).load_table(ref.identifier).scan().to_arrow()
    return sorted(rows.to_pylist(), key=lambda row: row["account_id"])


@pytest.mark.parametrize("file_format", list(FORMATS))
def test_upload_validates_and_every_datalake_endpoint_reads_the_tables(
    client: TestClient,
    settings: Settings,
    file_format: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    template = client.post("/api/v1/template/", json=TEMPLATE, headers=headers)
    assert template.status_code == 201, template.text
    data = FORMATS[file_format](pl.DataFrame(ROWS))
    uploaded = upload(
        client,
        headers,
        [(f"accounts.{file_format}", data)],
        dataset_name="Accounts 2024",
        template_id=template.json()["id"],
    )
    assert uploaded.status_code == 201, uploaded.text
    dataset_id = uploaded.json()["dataset_id"]
    [landed] = uploaded.json()["files"]
    assert (landed["total_fields"], landed["total_records"]) == (5, 6)

    run_id = dataset_by_id(client, headers, dataset_id)["last_run_id"]
    assert wait_for(client, headers, run_id, FINAL)["status"] == "SUCCESS"
    dataset = dataset_by_id(client, headers, dataset_id)
    assert (dataset["validation_status"], dataset["is_valid"], dataset["dataset_usability"]) == (
        "invalid",
        False,
        "66%",
    )

    # The file's error report names each failed expectation with samples and row numbers.
    [file] = get(client, headers, "files/list", dataset_id=dataset_id)["data"]
    report = file["error_report"]
    assert report["failed_rows"] == 2
    failed = {(f["column"], f["expectation"]): f for f in report["failed_expectations"]}
    assert failed[("balance", "expect_column_values_to_match_regex")]["samples"] == [
        {"row_number": 3, "value": "oops"}
    ]
    assert failed[("segment", "expect_column_values_to_be_in_set")]["samples"] == [
        {"row_number": 5, "value": "wholesale"}
    ]
    assert all(f["failed_count"] == 1 for f in failed.values())

    # Dagster recorded the materialization and the checks of this partition.
    metadata, checks = latest_silver_event(settings, str(dataset_id))
    assert (metadata["row_count"], metadata["reject_count"]) == (4, 2)
    assert checks == {"rows_pass_template": False, "template_columns_present": True}

    preview = get(client, headers, "dataset/view", dataset_id=dataset_id)["preview"]
    assert sorted(row["balance"] for row in preview) == sorted(GOOD_BALANCES)

    # The datalake endpoints see the tenant's bronze and silver tables.
    assert get(client, headers, "datalake/schemas") == ["bronze", "silver"]
    assert get(client, headers, "datalake/schemas/tables", schema_name="silver") == [
        "accounts_2024",
        "accounts_2024__rejects",
    ]
    columns = get(
        client, headers, "datalake/tables/columns", schema_name="silver", table_name="accounts_2024"
    )
    assert {c["column_name"]: c["data_type"] for c in columns} == {
        "account_id": "bigint",
        "balance": "double",
        "segment": "varchar",
        "opened": "date",
        "active": "boolean",
        "_file_id": "bigint",
        "_row_number": "bigint",
    }
    table_metadata = get(
        client, headers, "datalake/table_metadata", schema_name="silver", table_name="accounts_2024"
    )
    assert table_metadata["schema"] == "silver" and table_metadata["table"] == "accounts_2024"
    assert (table_metadata["row_count"], table_metadata["format"]) == (4, "iceberg")
    assert table_metadata["file_count"] >= 1 and table_metadata["owner"] == "admin"
    assert str(table_metadata["snapshot_id"]) == metadata["snapshot_id"]
    assert table_metadata["location"].endswith("silver/accounts_2024")
    rejects = get(
        client,
        headers,
        "datalake/table_metadata",
        schema_name="silver",
        table_name="accounts_2024__rejects",
    )
    assert rejects["row_count"] == 2

    stats = get(
        client,
        headers,
        "datalake/numeric_stats",
        schema_name="silver",
        table_name="accounts_2024",
        column_name="balance",
    )
    assert stats == {
        "column": "balance",
        "count": 4,
        "mean": pytest.approx(sum(GOOD_BALANCES) / 4),
        "std_dev": pytest.approx(statistics.stdev(GOOD_BALANCES)),
        "min": 0.5,
        "max": 40.0,
        "median": pytest.approx(15.25),
    }
    not_numeric = client.get(
        "/api/v1/datalake/numeric_stats",
        params={"schema_name": "silver", "table_name": "accounts_2024", "column_name": "segment"},
        headers=headers,
    )
    assert not_numeric.status_code == 400
    assert not_numeric.json()["field"] == "column_name"
    assert "not numeric" in not_numeric.json()["detail"]
    assert get(
        client, headers, "datalake/distinct-count", schema="silver", table="accounts_2024",
        column="segment",
    ) == {"column": "segment", "distinct_count": 2}  # fmt: skip

    # Statistics land in gold, which then shows as a schema of its own.
    submitted = client.post(
        "/api/v1/dataset/generate_statistics", params={"dataset_id": dataset_id}, headers=headers
    )
    assert wait_for(client, headers, submitted.json()["job_id"], FINAL)["status"] == "SUCCESS"
    by_column = {
        row["column_name"]: row
        for row in get(client, headers, "dataset/statistics", dataset_id=dataset_id)["statistics"]
    }
    assert (by_column["balance"]["count"], by_column["segment"]["distinct"]) == (4, 2)
    assert get(client, headers, "datalake/schemas") == ["bronze", "silver", "gold"]
    assert get(client, headers, "datalake/schemas/tables", schema_name="gold") == [
        "accounts_2024__stats"
    ]

    # Materializing the same partition through Dagster's own API, as the UI does, gives
    # the same silver table, replaced rather than appended to.
    before = silver_rows(settings, tenant_id, "accounts_2024")
    for name, value in settings.as_env(with_secrets=True).items():
        monkeypatch.setenv(name, value)
    with open_instance(settings) as instance:
        result = dg.materialize(
            [ingestion],
            instance=instance,
            partition_key=str(dataset_id),
            resources={"lakehouse": LakehouseResource()},
        )
        assert instance.get_dynamic_partitions(DATASET_PARTITIONS) == [str(dataset_id)]
    assert result.success
    assert silver_rows(settings, tenant_id, "accounts_2024") == before
    assert [row["balance"] for row in before] == [10.5, 20.0, 40.0, 0.5]


def test_datalake_names_are_checked_against_the_callers_catalog(client: TestClient) -> None:
    headers = admin_headers(client)
    template_id = client.post("/api/v1/template/", json=TEMPLATE, headers=headers).json()["id"]
    uploaded = upload(
        client,
        headers,
        [("accounts.csv", as_csv(pl.DataFrame(ROWS)))],
        dataset_name="Accounts 2024",
        template_id=template_id,
    ).json()
    run_id = dataset_by_id(client, headers, uploaded["dataset_id"])["last_run_id"]
    assert wait_for(client, headers, run_id, FINAL)["status"] == "SUCCESS"

    def status_and_field(path: str, **params: Any) -> tuple[int, str | None]:
        response = client.get(f"/api/v1/datalake/{path}", params=params, headers=headers)
        return response.status_code, response.json().get("field")

    table = {"schema_name": "silver", "table_name": "accounts_2024"}
    assert status_and_field("schemas/tables", schema_name="platinum") == (404, "schema_name")
    assert status_and_field("tables/columns", schema_name="silver", table_name="nope") == (
        404,
        "table_name",
    )
    assert status_and_field("table_metadata", schema_name="silver", table_name='x"; drop') == (
        404,
        "table_name",
    )
    assert status_and_field("numeric_stats", **table, column_name="Balance") == (
        404,
        "column_name",
    )
    assert status_and_field(
        "distinct-count", schema="silver", table="accounts_2024", column='segment" --'
    ) == (404, "column")
    assert status_and_field("numeric_stats", **table) == (422, "column_name")

    # Another tenant sees none of it, and its own table of the same name is its own.
    _, other = new_tenant_with_admin(client, headers, "acme")
    assert get(client, other, "datalake/schemas") == []
    for path, params in [
        ("schemas/tables", {"schema_name": "silver"}),
        ("tables/columns", table),
        ("table_metadata", table),
        ("numeric_stats", {**table, "column_name": "balance"}),
        ("distinct-count", {"schema": "silver", "table": "accounts_2024", "column": "segment"}),
    ]:
        response = client.get(f"/api/v1/datalake/{path}", params=params, headers=other)
        assert response.status_code == 404, (path, response.text)
    other_template = client.post("/api/v1/template/", json=TEMPLATE, headers=other).json()["id"]
    theirs = upload(
        client,
        other,
        [("accounts.csv", as_csv(pl.DataFrame(ROWS).head(2)))],
        dataset_name="Accounts 2024",
        template_id=other_template,
    ).json()
    run_id = dataset_by_id(client, other, theirs["dataset_id"])["last_run_id"]
    assert wait_for(client, other, run_id, FINAL)["status"] == "SUCCESS"
    mine = get(client, headers, "datalake/table_metadata", **table)
    their_metadata = get(client, other, "datalake/table_metadata", **table)
    assert (mine["row_count"], their_metadata["row_count"]) == (4, 2)
    assert mine["location"] != their_metadata["location"]

    # SQL over the tenant's tables reads each tenant's own, by `<schema>.<table>`.
    def sql(headers: dict[str, str], text: str) -> Any:
        return client.post("/api/v1/datalake/query", json={"sql": text}, headers=headers)

    count = "SELECT count(*) AS n, sum(balance) AS total FROM silver.accounts_2024"
    mine_answer, their_answer = sql(headers, count).json(), sql(other, count).json()
    assert mine_answer["rows"] == [[4, 71.0]] and their_answer["rows"] == [[2, 30.5]]
    assert [c["name"] for c in mine_answer["columns"]] == ["n", "total"]
    assert mine_answer["sql"].endswith("LIMIT 200") and mine_answer["row_count"] == 1
    grouped = sql(
        headers,
        "SELECT segment, count(*) AS n FROM Silver.Accounts_2024 GROUP BY segment ORDER BY 1",
    ).json()
    assert grouped["rows"] == [["business", 2], ["retail", 2]]
    for text, named in [
        ("SELECT * FROM accounts_2024", "Unknown table accounts_2024"),
        ("SELECT * FROM bronze.nope", "Unknown table bronze.nope"),
        ("DELETE FROM silver.accounts_2024", "DELETE"),
        ("SELECT * FROM read_parquet('/etc/passwd')", "read_parquet"),
    ]:
        refusal = sql(headers, text)
        assert refusal.status_code == 422, refusal.text
        assert named in refusal.json()["detail"] and refusal.json()["field"] == "sql"
