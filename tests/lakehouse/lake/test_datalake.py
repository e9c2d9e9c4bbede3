"""A tenant's datalake: only its own schemas and tables, their columns and metadata, and
aggregates through the embedded engine; every unknown name is a 404 naming its parameter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.errors import BadRequestError, NotFoundError, ServiceUnavailableError
from lakehouse.lake.catalog import open_catalog, replace_table
from lakehouse.lake.datalake import ColumnInfo, Datalake, Field, from_millis
from lakehouse.lake.naming import Layer, TableRef, tenant_namespace
from lakehouse.lake.query import EmbeddedEngine, QueryEngine, open_engine
from lakehouse.settings import Settings
from tests.conftest import make_settings

HOME = str(uuid.uuid4())
OTHER = str(uuid.uuid4())


@dataclass
class Lake:
    settings: Settings
    catalog: SqlCatalog
    engine: QueryEngine

    def of(self, tenant_id: str) -> Datalake:
        return Datalake(self.catalog, self.engine, tenant_id)

    def write(self, tenant_id: str, layer: Layer, name: str, data: pa.Table) -> int:
        return replace_table(self.catalog, TableRef(tenant_id, layer, name), data)


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    settings = make_settings(tmp_path)
    engine = open_engine(settings)
    yield Lake(settings, open_catalog(settings), engine)
    engine.close()


def usage_rows() -> pa.Table:
    """A table of every kind of column, with nulls and repeats."""
    return pa.table(
        {
            "gb": pa.array([1.0, 2.0, 4.0, None], pa.float64()),
            "price": pa.array(
                [Decimal("1.50"), Decimal("2.25"), None, Decimal("3.00")], pa.decimal128(10, 2)
            ),
            "minutes": pa.array([10, 20, 30, 40], pa.int32()),
            "calls": pa.array([3, 3, 5, None], pa.int64()),
            "plan": ["basic", "pro", "basic", None],
            "active": [True, False, None, True],
            "seen_at": pa.array([None] * 4, pa.timestamp("us", tz="UTC")),
            "tags": pa.array([[1], [2, 3], [], None], pa.list_(pa.int64())),
        }
    )


# Schemas


def test_a_tenant_that_wrote_nothing_has_no_schemas(lake: Lake) -> None:
    lake.write(OTHER, Layer.SILVER, "usage", usage_rows())
    assert lake.of(HOME).schemas() == []


def test_schemas_are_the_layers_the_tenant_wrote_in_layer_order(lake: Lake) -> None:
    lake.write(HOME, Layer.GOLD, "usage__stats", pa.table({"n": [1]}))
    lake.write(HOME, Layer.BRONZE, "usage", pa.table({"n": ["1"]}))
    lake.write(OTHER, Layer.SILVER, "usage", pa.table({"n": [1]}))
    assert lake.of(HOME).schemas() == ["bronze", "gold"]
    assert lake.of(OTHER).schemas() == ["silver"]


def test_a_namespace_that_is_no_layer_is_not_a_schema(lake: Lake) -> None:
    lake.write(HOME, Layer.BRONZE, "usage", pa.table({"n": ["1"]}))
    lake.catalog.create_namespace((tenant_namespace(HOME), "scratch"))
    assert lake.of(HOME).schemas() == ["bronze"]
    with pytest.raises(NotFoundError) as raised:
        lake.of(HOME).tables("scratch")
    assert raised.value.field == "schema_name"


# Tables


def test_tables_of_a_schema_are_the_tenants_own_sorted(lake: Lake) -> None:
    for name in ("zeta", "alpha", "mid"):
        lake.write(HOME, Layer.BRONZE, name, pa.table({"n": ["1"]}))
    lake.write(HOME, Layer.SILVER, "only_silver", pa.table({"n": [1]}))
    lake.write(OTHER, Layer.BRONZE, "beta", pa.table({"n": ["1"]}))
    assert lake.of(HOME).tables("bronze") == ["alpha", "mid", "zeta"]
    assert lake.of(HOME).tables("silver") == ["only_silver"]
    assert lake.of(OTHER).tables("bronze") == ["beta"]


def test_a_schema_only_another_tenant_wrote_is_not_found_naming_the_schema_field(
    lake: Lake,
) -> None:
    lake.write(HOME, Layer.BRONZE, "usage", pa.table({"n": ["1"]}))
    lake.write(OTHER, Layer.SILVER, "usage", pa.table({"n": [1]}))
    home = lake.of(HOME)
    with pytest.raises(NotFoundError, match="schema 'silver' not found") as raised:
        home.tables("silver")
    assert raised.value.field == "schema_name"
    with pytest.raises(NotFoundError) as raised:
        home.columns("silver", "usage", Field(schema="layer"))
    assert raised.value.field == "layer"


@pytest.mark.parametrize("schema", ["platinum", "Bronze", "", "t_bronze"])
def test_an_unknown_schema_is_not_found_naming_the_schema_field(lake: Lake, schema: str) -> None:
    lake.write(HOME, Layer.BRONZE, "usage", pa.table({"n": ["1"]}))
    with pytest.raises(NotFoundError) as raised:
        lake.of(HOME).tables(schema)
    assert raised.value.field == "schema_name"
    assert f"schema '{schema}'" in raised.value.message


def test_a_table_of_another_tenant_is_not_found_naming_the_table_field(lake: Lake) -> None:
    lake.write(HOME, Layer.BRONZE, "mine", pa.table({"n": ["1"]}))
    lake.write(OTHER, Layer.BRONZE, "theirs", usage_rows())
    home = lake.of(HOME)
    with pytest.raises(NotFoundError, match="table 'theirs' not found in schema 'bronze'") as e:
        home.resolve("bronze", "theirs")
    assert e.value.field == "table_name"
    with pytest.raises(NotFoundError) as e:
        home.columns("bronze", "theirs", Field(table="table"))
    assert e.value.field == "table"


def test_an_unknown_table_is_not_found_in_every_operation(lake: Lake) -> None:
    lake.write(HOME, Layer.SILVER, "usage", usage_rows())
    home = lake.of(HOME)
    calls = [
        lambda: home.columns("silver", "nope"),
        lambda: home.table_metadata("silver", "nope", "ana"),
        lambda: home.numeric_stats("silver", "nope", "gb"),
        lambda: home.distinct_count("silver", "nope", "plan"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as raised:
            call()
        assert raised.value.field == "table_name"


def test_a_table_whose_metadata_the_warehouse_lost_is_a_service_error(lake: Lake) -> None:
    lake.write(HOME, Layer.SILVER, "usage", usage_rows())
    table = lake.catalog.load_table(TableRef(HOME, Layer.SILVER, "usage").identifier)
    Path(urlparse(table.metadata_location).path).unlink()
    with pytest.raises(ServiceUnavailableError, match="table 'usage' cannot be read"):
        lake.of(HOME).columns("silver", "usage")


# Columns and metadata


def test_columns_carry_their_sql_types(lake: Lake) -> None:
    lake.write(HOME, Layer.SILVER, "usage", usage_rows())
    assert lake.of(HOME).columns("silver", "usage") == [
        ColumnInfo("gb", "double"),
        ColumnInfo("price", "decimal(10, 2)"),
        ColumnInfo("minutes", "integer"),
        ColumnInfo("calls", "bigint"),
        ColumnInfo("plan", "varchar"),
        ColumnInfo("active", "boolean"),
        ColumnInfo("seen_at", "timestamp(6) with time zone"),
        ColumnInfo("tags", "array(bigint)"),
    ]


def test_table_metadata_reports_the_current_snapshot_and_its_row_count(lake: Lake) -> None:
    lake.write(HOME, Layer.BRONZE, "usage", pa.table({"n": ["1", "2", "3"]}))
    current = lake.write(HOME, Layer.BRONZE, "usage", pa.table({"n": ["1", "2", "3", "4", "5"]}))
    metadata = lake.of(HOME).table_metadata("bronze", "usage", "ana")
    table = lake.catalog.load_table(TableRef(HOME, Layer.BRONZE, "usage").identifier)
    first = min(snapshot.timestamp_ms for snapshot in table.metadata.snapshots)

    assert metadata.snapshot_id == current
    assert metadata.row_count == 5  # the replacing write's rows, not both writes'
    assert metadata.file_count == 1
    assert (metadata.schema, metadata.table, metadata.owner) == ("bronze", "usage", "ana")
    assert metadata.format == "iceberg"
    assert metadata.location.startswith(lake.settings.warehouse)
    assert metadata.location.endswith(f"{tenant_namespace(HOME)}.bronze/usage")
    assert metadata.created_time == from_millis(first)
    assert metadata.last_updated == from_millis(table.metadata.last_updated_ms)
    assert metadata.created_time is not None and metadata.created_time < metadata.last_updated
    assert metadata.last_access_time == metadata.last_updated


def test_table_metadata_of_a_table_written_empty_counts_no_rows_or_files(lake: Lake) -> None:
    snapshot = lake.write(HOME, Layer.GOLD, "empty", pa.table({"x": pa.array([], pa.float64())}))
    metadata = lake.of(HOME).table_metadata("gold", "empty", None)
    assert metadata.snapshot_id == snapshot
    assert (metadata.row_count, metadata.file_count, metadata.owner) == (0, 0, None)


# Aggregates through the embedded engine


def test_numeric_stats_of_double_decimal_and_integer_columns(lake: Lake) -> None:
    assert isinstance(lake.engine, EmbeddedEngine)  # what the default settings choose
    lake.write(HOME, Layer.SILVER, "usage", usage_rows())
    home = lake.of(HOME)

    gb = home.numeric_stats("silver", "usage", "gb")
    assert (gb.column, gb.count, gb.min, gb.max, gb.median) == ("gb", 3, 1.0, 4.0, 2.0)
    assert gb.mean == pytest.approx(7 / 3)
    assert gb.std_dev == pytest.approx(1.5275252316519465)

    price = home.numeric_stats("silver", "usage", "price")
    assert (price.count, price.mean, price.min, price.max, price.median) == (
        3,
        2.25,
        1.5,
        3.0,
        2.25,
    )
    assert price.std_dev == pytest.approx(0.75)

    minutes = home.numeric_stats("silver", "usage", "minutes")
    assert (minutes.count, minutes.mean, minutes.min, minutes.max, minutes.median) == (
        4,
        25.0,
        10.0,
        40.0,
        25.0,
    )


def test_numeric_stats_read_only_the_current_snapshot(lake: Lake) -> None:
    lake.write(HOME, Layer.SILVER, "usage", pa.table({"gb": [100.0, 200.0]}))
    lake.write(HOME, Layer.SILVER, "usage", pa.table({"gb": [1.0, 3.0]}))
    stats = lake.of(HOME).numeric_stats("silver", "usage", "gb")
    assert (stats.count, stats.mean, stats.max) == (2, 2.0, 3.0)


def test_numeric_stats_of_an_empty_table_count_nothing(lake: Lake) -> None:
    lake.write(HOME, Layer.GOLD, "empty", pa.table({"x": pa.array([], pa.float64())}))
    stats = lake.of(HOME).numeric_stats("gold", "empty", "x")
    assert (stats.count, stats.mean, stats.std_dev, stats.min, stats.max, stats.median) == (
        0,
        None,
        None,
        None,
        None,
        None,
    )


def test_distinct_count_counts_distinct_values_without_nulls(lake: Lake) -> None:
    lake.write(HOME, Layer.SILVER, "usage", usage_rows())
    home = lake.of(HOME)
    assert home.distinct_count("silver", "usage", "plan") == 2
    assert home.distinct_count("silver", "usage", "calls") == 2
    assert home.distinct_count("silver", "usage", "minutes") == 4
    assert home.distinct_count("silver", "usage", "active") == 2


@pytest.mark.parametrize(
    ("column", "sql"),
    [
        ("plan", "varchar"),
        ("active", "boolean"),
        ("seen_at", "timestamp(6) with time zone"),
        ("tags", "array(bigint)"),
    ],
)
def test_numeric_stats_of_a_non_numeric_column_is_a_bad_request_naming_the_column(
    lake: Lake, column: str, sql: str
) -> None:
    lake.write(HOME, Layer.SILVER, "usage", usage_rows())
    home = lake.of(HOME)
    with pytest.raises(BadRequestError) as raised:
        home.numeric_stats("silver", "usage", column)
    assert raised.value.field == "column_name"
    assert raised.value.message.startswith(
        f"column '{column}' of silver.usage is {sql}, not numeric"
    )
    with pytest.raises(BadRequestError) as raised:
        home.numeric_stats("silver", "usage", column, Field(column="col"))
    assert raised.value.field == "col"


def test_an_unknown_column_is_not_found_naming_the_column_field(lake: Lake) -> None:
    lake.write(HOME, Layer.SILVER, "usage", usage_rows())
    home = lake.of(HOME)
    with pytest.raises(NotFoundError, match="column 'GB' not found in table 'usage'") as raised:
        home.numeric_stats("silver", "usage", "GB")  # names match exactly, case included
    assert raised.value.field == "column_name"
    with pytest.raises(NotFoundError) as raised:
        home.distinct_count("silver", "usage", "nope", Field(column="column"))
    assert raised.value.field == "column"
