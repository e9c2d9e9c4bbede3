"""Ingestion called directly: bronze holds every file as read, silver the typed rows that pass
with the rest as rejects, and the dataset records its run's state and verdict."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.accounts import users
from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets, templates
from lakehouse.data.formats import UnreadableFileError
from lakehouse.data.ingest import (
    land_bronze,
    land_silver,
    land_statistics,
    mark_failed,
    mark_running,
)
from lakehouse.data.landing import LandingStore
from lakehouse.errors import NotFoundError
from lakehouse.lake.catalog import open_catalog
from lakehouse.lake.lineage import FAILED_EXPECTATIONS
from lakehouse.lake.naming import DatasetTables, TableRef
from lakehouse.settings import Settings
from lakehouse.states import ValidationState
from lakehouse.store import Dataset, MetadataStore
from tests.conftest import make_settings

# Blanks, a null marker, a bad number, a negative amount, a missing id; file b has a column
# file a lacks. Seven rows: 4 pass the template below, 3 fail it.
FILE_A = "id,amount,city\n1,10.5,Oslo\n2,,Bergen\n3,NA,\n4,abc,Tromsø\n".encode()
FILE_B = b"id,amount,city,note\n5,-1,NA,x\n,3,Oslo,\n6,2.25,Bergen,y\n"
SALES_COLUMNS = [
    templates.ColumnInput("id", "int", required=True),
    templates.ColumnInput("amount", "float", min_value="0"),
    templates.ColumnInput("city", "string"),
]
PLATFORM_USABILITY = 0.8


@dataclass
class Lake:
    settings: Settings
    store: MetadataStore
    landing: LandingStore
    catalog: SqlCatalog
    actor: Principal

    def dataset(
        self,
        files: dict[str, bytes],
        columns: list[templates.ColumnInput] | None = None,
        min_usability: float | None = None,
        name: str = "Sales 2025",
    ) -> int:
        with self.store.session() as session:
            template_id = None
            if columns is not None:
                new = templates.TemplateInput(f"{name} template", columns, None, min_usability)
                template_id = templates.create_template(session, self.actor, new).id
            dataset = datasets.create_dataset(
                session,
                self.actor,
                self.landing,
                datasets.NewDataset(name, "t", template_id=template_id),
                [datasets.Upload(file, io.BytesIO(data)) for file, data in files.items()],
                max_bytes=10**6,
            )
            return dataset.id

    def sales(self) -> int:
        return self.dataset({"a.csv": FILE_A, "b.csv": FILE_B}, SALES_COLUMNS)

    def tables(self, dataset_id: int) -> DatasetTables:
        return self.record(dataset_id).tables

    def rows(self, ref: TableRef) -> pa.Table:
        rows = self.catalog.load_table(ref.identifier).scan().to_arrow()
        return rows.sort_by([("_file_id", "ascending"), ("_row_number", "ascending")])

    def current_snapshot(self, ref: TableRef) -> int:
        snapshot = self.catalog.load_table(ref.identifier).current_snapshot()
        assert snapshot is not None
        return snapshot.snapshot_id

    def record(self, dataset_id: int) -> Dataset:
        with self.store.session(writes=False) as session:
            dataset = session.get(Dataset, dataset_id)
            assert dataset is not None
            session.expunge_all()
            return dataset

    def file_ids(self, dataset_id: int) -> list[int]:
        return [data_file.id for data_file in self.record(dataset_id).files]


@pytest.fixture
def lake(tmp_path: Path, database_url: str) -> Iterator[Lake]:
    settings = make_settings(tmp_path, database_url=database_url)
    store = MetadataStore(settings.database_url)
    store.migrate()
    with store.session() as session:
        tenant = users.create_tenant(session, "acme")
        actor = Principal(
            user_id=1,
            tenant_id=tenant.id,
            username="ana",
            is_platform_admin=False,
            permissions=frozenset(),
        )
    yield Lake(settings, store, LandingStore(settings.landing_dir), open_catalog(settings), actor)
    store.dispose()


def is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def rows_by_id(table: pa.Table) -> dict[object, dict[str, object]]:
    return {row["id"]: row for row in table.to_pylist()}


# Bronze


def test_bronze_keeps_every_field_as_text_beside_the_lineage_columns(lake: Lake) -> None:
    dataset_id = lake.sales()
    result = land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    bronze = lake.tables(dataset_id).bronze
    rows = lake.rows(bronze)

    types = {field.name: field.type for field in rows.schema}
    assert types == {
        "id": pa.string(),
        "amount": pa.string(),
        "city": pa.string(),
        "note": pa.string(),
        "_file_id": pa.int64(),
        "_row_number": pa.int64(),
        "_ingested_at": pa.timestamp("us", tz="UTC"),
    }
    assert rows["id"].to_pylist() == ["1", "2", "3", "4", "5", "", "6"]
    assert rows["amount"].to_pylist() == ["10.5", "", "NA", "abc", "-1", "3", "2.25"]
    assert rows["city"].to_pylist() == ["Oslo", "Bergen", "", "Tromsø", "NA", "Oslo", "Bergen"]
    # A column only file b has is null for file a's rows, and as read for b's.
    assert rows["note"].to_pylist() == [None, None, None, None, "x", "", "y"]
    assert (result.table, result.row_count) == ("bronze.sales_2025", 7)
    assert result.snapshot_id == lake.current_snapshot(bronze)


def test_bronze_tags_each_row_with_its_file_and_row_number(lake: Lake) -> None:
    dataset_id = lake.sales()
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    rows = lake.rows(lake.tables(dataset_id).bronze)
    file_a, file_b = lake.file_ids(dataset_id)

    assert rows["_file_id"].to_pylist() == [file_a] * 4 + [file_b] * 3
    assert rows["_row_number"].to_pylist() == [1, 2, 3, 4, 1, 2, 3]
    counts = Counter(rows["_file_id"].to_pylist())
    recorded = {f.id: f.total_records for f in lake.record(dataset_id).files}
    assert counts == {file_a: 4, file_b: 3} == recorded
    # One run, one ingestion time for all its rows.
    assert len(set(rows["_ingested_at"].to_pylist())) == 1


def test_rerunning_bronze_replaces_its_rows_never_duplicates_them(lake: Lake) -> None:
    dataset_id = lake.sales()
    first = land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    first_time = lake.rows(lake.tables(dataset_id).bronze)["_ingested_at"][0].as_py()
    second = land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    bronze = lake.tables(dataset_id).bronze
    rows = lake.rows(bronze)

    assert rows.num_rows == second.row_count == first.row_count == 7
    lineage = zip(rows["_file_id"].to_pylist(), rows["_row_number"].to_pylist(), strict=True)
    assert len(set(lineage)) == 7
    assert second.snapshot_id != first.snapshot_id
    assert second.snapshot_id == lake.current_snapshot(bronze)
    assert set(rows["_ingested_at"].to_pylist()) == {rows["_ingested_at"][0].as_py()}
    assert rows["_ingested_at"][0].as_py() > first_time


def test_rerunning_bronze_after_a_file_is_removed_drops_that_files_rows(lake: Lake) -> None:
    dataset_id = lake.sales()
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    file_a, file_b = lake.file_ids(dataset_id)
    with lake.store.session() as session:
        datasets.delete_file(session, lake.actor, lake.landing, file_b)
    result = land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    rows = lake.rows(lake.tables(dataset_id).bronze)

    assert result.row_count == rows.num_rows == 4
    assert set(rows["_file_id"].to_pylist()) == {file_a}
    assert rows["id"].to_pylist() == ["1", "2", "3", "4"]


def test_ingesting_an_unknown_dataset_is_not_found_naming_dataset_id(lake: Lake) -> None:
    missing = lake.sales() + 1000
    calls = [
        lambda: land_bronze(lake.store, lake.landing, lake.catalog, missing),
        lambda: land_silver(lake.store, lake.catalog, missing, PLATFORM_USABILITY),
        lambda: land_statistics(lake.store, lake.catalog, missing),
        lambda: mark_running(lake.store, missing, "run-1"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError, match=f"dataset {missing} not found") as raised:
            call()
        assert raised.value.field == "dataset_id"


# Silver


def test_silver_holds_the_passing_rows_typed_to_the_template(lake: Lake) -> None:
    dataset_id = lake.sales()
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    result = land_silver(lake.store, lake.catalog, dataset_id, PLATFORM_USABILITY)
    silver = lake.tables(dataset_id).silver
    rows = lake.rows(silver)
    file_a, file_b = lake.file_ids(dataset_id)

    # Template columns only (file b's `note` is not one), typed, with the lineage kept.
    assert rows.column_names == ["id", "amount", "city", "_file_id", "_row_number"]
    assert rows.schema.field("id").type == pa.int64()
    assert rows.schema.field("amount").type == pa.float64()
    assert is_text(rows.schema.field("city").type)
    assert rows.to_pylist() == [
        {"id": 1, "amount": 10.5, "city": "Oslo", "_file_id": file_a, "_row_number": 1},
        # A blank field and the NA marker are missing values, not failures; a blank text is too.
        {"id": 2, "amount": None, "city": "Bergen", "_file_id": file_a, "_row_number": 2},
        {"id": 3, "amount": None, "city": None, "_file_id": file_a, "_row_number": 3},
        {"id": 6, "amount": 2.25, "city": "Bergen", "_file_id": file_b, "_row_number": 3},
    ]
    assert (result.table, result.row_count) == ("silver.sales_2025", 4)
    assert result.snapshot_id == lake.current_snapshot(silver)


def test_silver_rejects_hold_the_failed_rows_as_read_with_their_reasons(lake: Lake) -> None:
    dataset_id = lake.sales()
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    result = land_silver(lake.store, lake.catalog, dataset_id, PLATFORM_USABILITY)
    rejects = lake.rows(lake.tables(dataset_id).rejects)
    file_a, file_b = lake.file_ids(dataset_id)

    assert (result.rejects_table, result.reject_count) == ("silver.sales_2025__rejects", 3)
    assert rejects.num_rows == 3
    assert is_text(rejects.schema.field("amount").type)  # as read, not typed
    reasons = {
        (row["_file_id"], row["_row_number"]): (row["id"], row["amount"], row[FAILED_EXPECTATIONS])
        for row in rejects.to_pylist()
    }
    assert reasons == {
        (file_a, 4): ("4", "abc", "expect_column_values_to_match_regex(amount)"),
        (file_b, 1): ("5", "-1", "expect_column_values_to_be_between(amount)"),
        (file_b, 2): ("", "3", "expect_column_values_to_not_be_null(id)"),
    }
    # Every bronze row is in exactly one of silver and rejects.
    silver = lake.rows(lake.tables(dataset_id).silver)
    assert silver.num_rows + rejects.num_rows == 7


def test_silver_records_the_verdict_usability_and_row_counts(lake: Lake) -> None:
    dataset_id = lake.sales()
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    result = land_silver(lake.store, lake.catalog, dataset_id, PLATFORM_USABILITY)
    dataset = lake.record(dataset_id)

    assert result.usability == pytest.approx(4 / 7)
    assert not result.is_valid
    assert result.missing_columns == []
    assert dataset.validation_status == ValidationState.INVALID
    assert dataset.dataset_usability == pytest.approx(4 / 7)
    assert (dataset.total_rows, dataset.passed_rows) == (7, 4)
    assert dataset.usability_threshold == PLATFORM_USABILITY
    assert dataset.validation_error == (
        "its usability 57% (4 of 7 rows passed) is below the 80% a valid dataset needs"
    )
    report_a, report_b = (f.error_report for f in dataset.files)
    assert report_a is not None and report_b is not None
    assert (report_a["failed_rows"], report_b["failed_rows"]) == (1, 2)
    assert report_a["failed_expectations"] == [
        {
            "column": "amount",
            "expectation": "expect_column_values_to_match_regex",
            "failed_count": 1,
            "samples": [{"row_number": 4, "value": "abc"}],
        }
    ]


def test_silver_is_valid_when_usability_reaches_the_platform_threshold(lake: Lake) -> None:
    dataset_id = lake.sales()
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    with lake.store.session() as session:
        record = session.get(Dataset, dataset_id)
        assert record is not None
        record.validation_error = "an earlier run's problem"
    result = land_silver(lake.store, lake.catalog, dataset_id, 0.5)
    dataset = lake.record(dataset_id)

    assert result.is_valid
    assert dataset.validation_status == ValidationState.VALID
    assert dataset.validation_error is None
    assert dataset.usability_threshold == 0.5


def test_a_templates_min_usability_overrides_the_platform_threshold(lake: Lake) -> None:
    dataset_id = lake.dataset({"a.csv": FILE_A, "b.csv": FILE_B}, SALES_COLUMNS, 0.5)
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    result = land_silver(lake.store, lake.catalog, dataset_id, 0.9)
    dataset = lake.record(dataset_id)

    assert result.is_valid
    assert dataset.validation_status == ValidationState.VALID
    assert dataset.usability_threshold == 0.5


def test_a_template_column_the_files_lack_makes_the_dataset_invalid_naming_it_once(
    lake: Lake,
) -> None:
    dataset_id = lake.sales()
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    # The template gains a column after the files were checked against it at upload.
    with lake.store.session() as session:
        template_id = lake.record(dataset_id).template_id
        assert template_id is not None
        wider = [*SALES_COLUMNS, templates.ColumnInput("region", "int", required=True)]
        change = templates.TemplateInput("Sales 2025 template", wider)
        templates.update_template(session, lake.actor, template_id, change)
    result = land_silver(lake.store, lake.catalog, dataset_id, 0.0)
    dataset = lake.record(dataset_id)

    assert result.missing_columns == ["region"]
    assert not result.is_valid
    assert dataset.validation_status == ValidationState.INVALID
    assert dataset.validation_error == "column 'region' is missing"
    report = dataset.files[0].error_report
    assert report is not None
    assert {e["column"] for e in report["column_expectations"]} == {"region"}


def test_without_a_template_types_are_inferred_and_a_bad_number_is_rejected(
    lake: Lake,
) -> None:
    lines = ["id,amount,plan,active"]
    for n in range(1, 101):
        amount = {7: "", 13: "NA", 42: "oops"}.get(n, f"{n * 1.5}")
        lines.append(f"{n},{amount},{'pro' if n % 3 else 'basic'},{'yes' if n % 2 else 'no'}")
    dataset_id = lake.dataset({"usage.csv": ("\n".join(lines) + "\n").encode()}, name="Usage")
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    result = land_silver(lake.store, lake.catalog, dataset_id, PLATFORM_USABILITY)
    tables = lake.tables(dataset_id)
    silver = lake.rows(tables.silver)
    rejects = lake.rows(tables.rejects)

    assert silver.schema.field("id").type == pa.int64()
    assert silver.schema.field("amount").type == pa.float64()
    assert silver.schema.field("active").type == pa.bool_()
    assert (result.row_count, result.reject_count, result.is_valid) == (99, 1, True)
    assert rejects["id"].to_pylist() == ["42"]
    assert rejects[FAILED_EXPECTATIONS].to_pylist() == [
        "expect_column_values_to_match_regex(amount)"
    ]
    by_id = rows_by_id(silver)
    assert by_id[7]["amount"] is None and by_id[13]["amount"] is None
    assert by_id[8] == {
        "id": 8,
        "amount": 12.0,
        "plan": "pro",
        "active": False,
        "_file_id": lake.file_ids(dataset_id)[0],
        "_row_number": 8,
    }
    assert lake.record(dataset_id).validation_status == ValidationState.VALID


def test_rerunning_silver_replaces_silver_and_rejects(lake: Lake) -> None:
    dataset_id = lake.sales()
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    land_silver(lake.store, lake.catalog, dataset_id, PLATFORM_USABILITY)
    again = land_silver(lake.store, lake.catalog, dataset_id, PLATFORM_USABILITY)
    tables = lake.tables(dataset_id)
    assert (lake.rows(tables.silver).num_rows, lake.rows(tables.rejects).num_rows) == (4, 3)
    assert again.snapshot_id == lake.current_snapshot(tables.silver)

    # File b goes: bronze, then silver, hold file a's rows alone.
    with lake.store.session() as session:
        datasets.delete_file(session, lake.actor, lake.landing, lake.file_ids(dataset_id)[1])
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    result = land_silver(lake.store, lake.catalog, dataset_id, PLATFORM_USABILITY)
    assert lake.rows(tables.silver)["id"].to_pylist() == [1, 2, 3]
    assert lake.rows(tables.rejects)["id"].to_pylist() == ["4"]
    assert (result.row_count, result.reject_count) == (3, 1)
    dataset = lake.record(dataset_id)
    assert (dataset.total_rows, dataset.passed_rows) == (4, 3)
    assert dataset.validation_status == ValidationState.INVALID  # 75% < 80%


# Run state


def test_mark_running_records_the_run_and_clears_the_last_error(lake: Lake) -> None:
    dataset_id = lake.sales()
    mark_failed(lake.store, dataset_id, "the last run broke")
    mark_running(lake.store, dataset_id, "run-42")
    dataset = lake.record(dataset_id)
    assert dataset.validation_status == ValidationState.RUNNING
    assert dataset.validation_error is None
    assert dataset.last_run_id == "run-42"


def test_mark_failed_records_the_error_cut_to_4000_characters(lake: Lake) -> None:
    dataset_id = lake.sales()
    mark_running(lake.store, dataset_id, "run-7")
    before = lake.record(dataset_id).modified_at
    mark_failed(lake.store, dataset_id, "x" * 3999 + "yz" + "!" * 1000)
    dataset = lake.record(dataset_id)
    assert dataset.validation_status == ValidationState.FAILED
    assert dataset.validation_error == "x" * 3999 + "y"
    assert dataset.last_run_id == "run-7"
    assert dataset.modified_at != before


def test_mark_failed_of_an_unknown_dataset_records_nothing(lake: Lake) -> None:
    dataset_id = lake.sales()
    mark_failed(lake.store, dataset_id + 1000, "gone")
    dataset = lake.record(dataset_id)
    assert (dataset.validation_status, dataset.validation_error) == (ValidationState.PENDING, None)


# Statistics


def test_statistics_describe_each_silver_column_in_gold(lake: Lake) -> None:
    dataset_id = lake.sales()
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    land_silver(lake.store, lake.catalog, dataset_id, PLATFORM_USABILITY)
    result = land_statistics(lake.store, lake.catalog, dataset_id)
    target = lake.tables(dataset_id).statistics
    stats = {
        row["column_name"]: row
        for row in lake.catalog.load_table(target.identifier).scan().to_arrow().to_pylist()
    }

    assert (result.table, result.row_count) == ("gold.sales_2025__stats", 3)
    assert result.snapshot_id == lake.current_snapshot(target)
    assert set(stats) == {"id", "amount", "city"}  # no lineage columns
    amount = stats["amount"]
    assert (amount["count"], amount["nulls"], amount["distinct"]) == (2, 2, 2)
    assert (amount["min"], amount["max"], amount["mean"]) == ("2.25", "10.5", 6.375)
    city = stats["city"]
    assert (city["count"], city["nulls"], city["distinct"], city["mean"]) == (3, 1, 2, None)
    assert stats["id"]["count"] == 4 and stats["id"]["median"] == 2.5


def test_files_spelling_a_column_in_other_cases_land_it_as_one_column(lake: Lake) -> None:
    dataset_id = lake.dataset(
        {"a.csv": b"id,Amount\n1,10\n2,20\n", "b.csv": b"id,amount\n3,30\n4,40\n"},
        [templates.ColumnInput("id", "int"), templates.ColumnInput("amount", "int", required=True)],
    )
    land_bronze(lake.store, lake.landing, lake.catalog, dataset_id)
    bronze = lake.rows(lake.tables(dataset_id).bronze)
    assert [c for c in bronze.column_names if not c.startswith("_")] == ["id", "Amount"]
    assert bronze["Amount"].to_pylist() == ["10", "20", "30", "40"]
    result = land_silver(lake.store, lake.catalog, dataset_id, PLATFORM_USABILITY)
    assert (result.row_count, result.reject_count, result.is_valid) == (4, 0, True)
    silver = lake.rows(lake.tables(dataset_id).silver)  # named as the template spells it
    assert silver["amount"].to_pylist() == [10, 20, 30, 40]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"id,_row_number\n1,a\n", "has a column named '_row_number', a name Strata keeps"),
        (b"id,_File_ID\n1,a\n", "has a column named '_File_ID', a name Strata keeps"),
        (b"ID,value,id\n1,2,3\n", "has two columns with the same name"),
    ],
)
def test_a_file_whose_columns_the_tables_cannot_keep_apart_is_refused_at_upload(
    lake: Lake, content: bytes, problem: str
) -> None:
    with pytest.raises(UnreadableFileError) as refused:
        lake.dataset({"odd.csv": content})
    assert refused.value.field == "files"
    assert refused.value.message.startswith(f"file 'odd.csv': {problem}")
    with lake.store.session(writes=False) as session:
        assert datasets.dataset_named(session, lake.actor.tenant_id, "Sales 2025") is None
    assert not any((lake.settings.landing_dir / lake.actor.tenant_id).rglob("*odd.csv*"))
