"""The query engines: the SQL each one sends, and how it reads the answers back."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.errors import ServiceUnavailableError
from lakehouse.lake.catalog import open_catalog, replace_table
from lakehouse.lake.naming import Layer, TableRef
from lakehouse.lake.query import EmbeddedEngine, TrinoEngine, open_engine
from lakehouse.settings import Settings
from tests.conftest import make_settings

REF = TableRef("0f3a9c1e-77aa-4b1c-9d0e-123456789abc", Layer.SILVER, "usage")


def test_settings_choose_the_engine(tmp_path: Path) -> None:
    assert isinstance(open_engine(make_settings(tmp_path)), EmbeddedEngine)
    trino = make_settings(
        tmp_path, query_engine="trino", trino_url="https://analyst@trino.internal:8443/lake"
    )
    assert isinstance(open_engine(trino), TrinoEngine)
    with pytest.raises(ValueError, match="STRATA_TRINO_URL"):
        make_settings(tmp_path, query_engine="trino")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def test_embedded_engine_reads_evolved_tables_through_pyiceberg(settings: Settings) -> None:
    catalog = open_catalog(settings)
    replace_table(catalog, REF, pa.table({"gb": [1.0, 2.0, 2.0]}))
    engine = EmbeddedEngine()
    table = catalog.load_table(REF.identifier)
    stats = engine.numeric_stats(table, REF, "gb")
    assert (stats.count, stats.mean, stats.min, stats.max, stats.median) == (3, 5 / 3, 1, 2, 2)
    # A second column arrives: older data files lack it, so PyIceberg plans the read.
    replace_table(catalog, REF, pa.table({"gb": [4.0], "minutes": [7]}))
    table = catalog.load_table(REF.identifier)
    assert len(table.metadata.schemas) == 2
    assert engine.distinct_count(table, REF, "minutes") == 1
    assert engine.numeric_stats(table, REF, "gb").count == 1


def test_embedded_engine_reads_columns_parquet_holds_under_another_name(
    settings: Settings,
) -> None:
    catalog = open_catalog(settings)
    replace_table(catalog, REF, pa.table({"Unit Price": [1.0, 3.0], 'q"uote': ["a", "b"]}))
    table = catalog.load_table(REF.identifier)
    engine = EmbeddedEngine()
    assert engine.numeric_stats(table, REF, "Unit Price").mean == 2.0
    assert engine.distinct_count(table, REF, 'q"uote') == 2


def test_lost_data_files_are_a_service_error(settings: Settings) -> None:
    catalog = open_catalog(settings)
    replace_table(catalog, REF, pa.table({"gb": [1.0, 2.0]}))
    table = catalog.load_table(REF.identifier)
    for task in table.scan().plan_files():
        Path(task.file.file_path.removeprefix("file://")).unlink()
    with pytest.raises(ServiceUnavailableError, match="could not be read"):
        EmbeddedEngine().numeric_stats(table, REF, "gb")
