"""The bronze asset materialized through Dagster's own API: rows as read, never duplicated."""

from __future__ import annotations

import io
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pytest
from sqlalchemy import select

from assets.ingestion import ingestion
from lakehouse.accounts import rbac, users
from lakehouse.accounts.bootstrap import bootstrap
from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets, templates
from lakehouse.data.landing import LandingStore
from lakehouse.lake.catalog import open_catalog
from lakehouse.lake.naming import Layer, TableRef
from lakehouse.runs import DATASET_PARTITIONS
from lakehouse.settings import Settings
from lakehouse.store import Dataset, MetadataStore, User
from pipelines.instance import open_instance
from resources import LakehouseResource


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("STRATA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STRATA_ADMIN_PASSWORD", "admin-password-1")
    return Settings()


def tenant_admin(
    store: MetadataStore, settings: Settings, tenant_name: str | None = None
) -> Principal:
    bootstrap(store, settings)
    with store.session() as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        if tenant_name is None:
            return rbac.principal_for(admin)
        tenant = users.create_tenant(session, tenant_name)
        user = users.create_user(
            session,
            None,
            users.NewUser(
                tenant.id, f"{tenant_name}-admin", f"{tenant_name}@example.com", "password-123"
            ),
        )
        user.roles.append(rbac.admin_role(session, tenant.id))
        session.flush()
        return rbac.principal_for(user)


def new_dataset(
    store: MetadataStore,
    settings: Settings,
    actor: Principal,
    files: dict[str, bytes],
    columns: list[templates.ColumnInput] | None = None,
) -> int:
    with store.session() as session:
        template_id = None
        if columns is not None:
            new = templates.TemplateInput("sales", columns)
            template_id = templates.create_template(session, actor, new).id
        dataset = datasets.create_dataset(
            session,
            actor,
            LandingStore(settings.landing_dir),
            datasets.NewDataset("Sales 2025", "t", template_id=template_id),
            [datasets.Upload(name, io.BytesIO(data)) for name, data in files.items()],
            max_bytes=10**6,
        )
        return dataset.id


def materialize(
    instance: dg.DagsterInstance, dataset_id: int, selection: list[str] | None = None
) -> dg.ExecuteInJobResult:
    instance.add_dynamic_partitions(DATASET_PARTITIONS, [str(dataset_id)])
    result = dg.materialize(
        [ingestion],
        instance=instance,
        partition_key=str(dataset_id),
        resources={"lakehouse": LakehouseResource()},
        selection=selection,
    )
    assert result.success
    return result


def materializations(result: dg.ExecuteInJobResult, asset: str) -> list[dg.AssetMaterialization]:
    return [
        m
        for m in result.asset_materializations_for_node("ingestion")
        if m.asset_key == dg.AssetKey(asset)
    ]


def test_bronze_holds_every_file_as_read(settings: Settings) -> None:
    store = MetadataStore(settings.database_url)
    actor = tenant_admin(store, settings)
    dataset_id = new_dataset(
        store,
        settings,
        actor,
        {
            "a.csv": b"id,amount\n1,10\n2,oops\n",
            "b.ndjson": b'{"id": 3, "amount": 7, "note": "x"}\n',
        },
    )
    with open_instance(settings) as instance:
        first = materialize(instance, dataset_id)
        second = materialize(instance, dataset_id)

    ref = TableRef(actor.tenant_id, Layer.BRONZE, "sales_2025")
    table = open_catalog(settings).load_table(ref.identifier)
    rows = (
        table.scan().to_arrow().sort_by([("_file_id", "ascending"), ("_row_number", "ascending")])
    )
    assert rows.num_rows == 3  # materialized twice, stored once
    assert rows["id"].to_pylist() == ["1", "2", "3"]
    assert rows["amount"].to_pylist() == ["10", "oops", "7"]
    assert rows["note"].to_pylist() == [None, None, "x"]
    assert rows["_row_number"].to_pylist() == [1, 2, 1]
    assert pc.min(rows["_ingested_at"]).as_py() is not None
    [materialization] = materializations(second, "bronze")
    assert materialization.metadata["row_count"].value == 3
    assert materialization.metadata["table"].value == "bronze.sales_2025"
    snapshot = table.current_snapshot()
    assert snapshot is not None
    assert materialization.metadata["snapshot_id"].value == str(snapshot.snapshot_id)
    assert materializations(first, "bronze")[0].metadata["row_count"].value == 3
    store.dispose()


def test_tenants_with_the_same_dataset_name_get_separate_tables(settings: Settings) -> None:
    store = MetadataStore(settings.database_url)
    home = tenant_admin(store, settings)
    acme = tenant_admin(store, settings, "acme")
    home_id = new_dataset(store, settings, home, {"a.csv": b"id\n1\n"})
    acme_id = new_dataset(store, settings, acme, {"a.csv": b"id\n1\n2\n"})
    with open_instance(settings) as instance:
        materialize(instance, home_id)
        materialize(instance, acme_id)
    catalog = open_catalog(settings)
    for actor, count in ((home, 1), (acme, 2)):
        ref = TableRef(actor.tenant_id, Layer.BRONZE, "sales_2025")
        assert catalog.load_table(ref.identifier).scan().to_arrow().num_rows == count
    store.dispose()


def test_silver_validates_against_the_template(settings: Settings) -> None:
    store = MetadataStore(settings.database_url)
    actor = tenant_admin(store, settings)
    columns = [
        templates.ColumnInput("id", "int", required=True),
        templates.ColumnInput("amount", "float", min_value="0"),
    ]
    dataset_id = new_dataset(
        store,
        settings,
        actor,
        {"a.csv": b"id,amount\n1,10\n2,oops\n3,-1\n4,2.5\n"},
        columns,
    )
    with open_instance(settings) as instance:
        result = materialize(instance, dataset_id)
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"rows_pass_template": False, "template_columns_present": True}
    [materialization] = materializations(result, "silver")
    assert materialization.metadata["row_count"].value == 2
    assert materialization.metadata["reject_count"].value == 2

    catalog = open_catalog(settings)
    silver_rows = catalog.load_table(
        TableRef(actor.tenant_id, Layer.SILVER, "sales_2025").identifier
    )
    assert sorted(silver_rows.scan().to_arrow()["amount"].to_pylist()) == [2.5, 10.0]
    rejects = catalog.load_table(
        TableRef(actor.tenant_id, Layer.SILVER, "sales_2025__rejects").identifier
    )
    reasons = {r["id"]: r["_failed_expectations"] for r in rejects.scan().to_arrow().to_pylist()}
    assert reasons == {
        "2": "expect_column_values_to_match_regex(amount)",
        "3": "expect_column_values_to_be_between(amount)",
    }
    with store.session() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        assert dataset.validation_status == "invalid"
        assert dataset.dataset_usability == 0.5
        assert dataset.last_run_id == result.run_id
        report = dataset.files[0].error_report
    assert report is not None and report["failed_rows"] == 2
    assert {f["expectation"]: f["samples"] for f in report["failed_expectations"]} == {
        "expect_column_values_to_match_regex": [{"row_number": 2, "value": "oops"}],
        "expect_column_values_to_be_between": [{"row_number": 3, "value": "-1"}],
    }
    store.dispose()


def test_each_layer_materializes_alone(settings: Settings) -> None:
    """As the Dagster UI can: bronze alone from the files, then silver alone from bronze."""
    store = MetadataStore(settings.database_url)
    actor = tenant_admin(store, settings)
    columns = [templates.ColumnInput("id", "int"), templates.ColumnInput("amount", "float")]
    dataset_id = new_dataset(
        store, settings, actor, {"a.csv": b"id,amount\n1,10\n2,oops\n3,2.5\n"}, columns
    )
    with open_instance(settings) as instance:
        bronze_only = materialize(instance, dataset_id, ["bronze"])
        assert [m.metadata["row_count"].value for m in materializations(bronze_only, "bronze")] == [
            3
        ]
        assert materializations(bronze_only, "silver") == []
        silver_only = materialize(instance, dataset_id, ["silver"])
    assert materializations(silver_only, "bronze") == []
    [silver] = materializations(silver_only, "silver")
    assert (silver.metadata["row_count"].value, silver.metadata["reject_count"].value) == (2, 1)
    rows = (
        open_catalog(settings)
        .load_table(TableRef(actor.tenant_id, Layer.SILVER, "sales_2025").identifier)
        .scan()
        .to_arrow()
    )
    assert sorted(rows["amount"].to_pylist()) == [2.5, 10.0]
    store.dispose()
