"""The column limit of uploaded files: refused from the header or schema where there is one."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from lakehouse.data.formats import UnreadableFileError, read_table

LIMIT = 5


def wide_frame(width: int) -> pl.DataFrame:
    return pl.DataFrame({f"c{i}": [str(i), "x"] for i in range(width)})


def written(tmp_path: Path, name: str, width: int) -> Path:
    path = tmp_path / name
    frame = wide_frame(width)
    if name.endswith(".csv"):
        frame.write_csv(path)
    elif name.endswith(".tsv"):
        frame.write_csv(path, separator="\t")
    elif name.endswith(".parquet"):
        frame.write_parquet(path)
    elif name.endswith(".ndjson"):
        frame.write_ndjson(path)
    elif name.endswith(".json"):
        path.write_text(json.dumps(frame.to_dicts()))
    else:
        frame.write_excel(path)
    return path


@pytest.mark.parametrize("name", ["w.csv", "w.tsv", "w.parquet", "w.ndjson", "w.json", "w.xlsx"])
def test_a_file_wider_than_the_limit_is_refused_naming_it_and_the_limit(
    tmp_path: Path, name: str
) -> None:
    path = written(tmp_path, name, LIMIT + 1)
    with pytest.raises(UnreadableFileError) as refused:
        read_table(path, name, max_columns=LIMIT)
    assert refused.value.field == "files"
    assert refused.value.message == f"file '{name}': has 6 columns; a file may have at most 5"


@pytest.mark.parametrize("name", ["w.csv", "w.parquet", "w.ndjson", "w.xlsx"])
def test_a_file_at_the_limit_is_read_whole(tmp_path: Path, name: str) -> None:
    table = read_table(written(tmp_path, name, LIMIT), name, max_columns=LIMIT)
    assert table.column_names == [f"c{i}" for i in range(LIMIT)]
    assert table.column("c4").to_pylist() == ["4", "x"]


def test_a_wide_csv_is_refused_from_its_header_before_its_rows_are_read(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    # Rows that Arrow would refuse as ragged: only the header was read when the width is named.
    path.write_text(",".join(f"c{i}" for i in range(10_001)) + "\n1,2\n3\n")
    with pytest.raises(
        UnreadableFileError, match="has 10001 columns; a file may have at most 1000"
    ):
        read_table(path, "wide.csv", max_columns=1000)
    with pytest.raises(UnreadableFileError, match="line 2 has 2 fields, the header has 10001"):
        read_table(path, "wide.csv")


def test_a_header_field_past_the_csv_field_limit_is_a_clear_refusal(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("a" * 200_000 + ",b\n1,2\n")
    with pytest.raises(UnreadableFileError, match="'long.csv': has an unreadable header"):
        read_table(path, "long.csv", max_columns=1000)
