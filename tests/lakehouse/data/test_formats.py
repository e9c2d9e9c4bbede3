"""Reading uploaded files: every supported format, sniffed dialects, and clear refusals."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from lakehouse.data.formats import UnreadableFileError, read_table, sniff_text, write_csv

ROWS = [
    {"id": "1", "name": "Zoë", "amount": "10.5"},
    {"id": "2", "name": "Ana", "amount": "7"},
    {"id": "3", "name": "Łukasz", "amount": ""},
]


def as_rows(path: Path, name: str) -> list[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = read_table(path, name).to_pylist()
    return rows


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_csv_utf8_with_and_without_bom(tmp_path: Path) -> None:
    text = "id,name,amount\n1,Zoë,10.5\n2,Ana,7\n3,Łukasz,\n"
    plain = write(tmp_path, "plain.csv", text.encode())
    bom = write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + text.encode())
    assert as_rows(plain, "plain.csv") == ROWS
    assert as_rows(bom, "bom.csv") == ROWS


def test_csv_latin1_semicolons_and_quotes(tmp_path: Path) -> None:
    text = 'id;name;amount\n1;"Zoë";10,5\n2;"Ana; Jr.";7\n'
    path = write(tmp_path, "latin.csv", text.encode("latin-1"))
    assert sniff_text(path, "latin.csv", ",").encoding == "latin-1"
    assert as_rows(path, "latin.csv") == [
        {"id": "1", "name": "Zoë", "amount": "10,5"},
        {"id": "2", "name": "Ana; Jr.", "amount": "7"},
    ]


def test_tsv(tmp_path: Path) -> None:
    path = write(tmp_path, "data.tsv", "id\tname\tamount\n1\tZoë\t10.5\n".encode())
    assert as_rows(path, "data.tsv") == [ROWS[0]]


def test_parquet_json_ndjson_xlsx(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2], "name": ["Zoë", "Ana"], "ok": [True, None]})
    expected = [{"id": "1", "name": "Zoë", "ok": "true"}, {"id": "2", "name": "Ana", "ok": None}]
    frame.write_parquet(tmp_path / "d.parquet")
    frame.write_ndjson(tmp_path / "d.ndjson")
    (tmp_path / "d.json").write_text(json.dumps(frame.to_dicts()))
    frame.write_excel(tmp_path / "d.xlsx")
    for name in ("d.parquet", "d.ndjson", "d.json"):
        assert as_rows(tmp_path / name, name) == expected, name
    xlsx = as_rows(tmp_path / "d.xlsx", "d.xlsx")
    assert [row["name"] for row in xlsx] == ["Zoë", "Ana"]
    assert [row["id"] for row in xlsx] == ["1", "2"]


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n  \n", "is empty"),
        ("header.csv", b"id,name\n", "has a header but no data rows"),
        ("ragged.csv", b"id,name\n1,a\n2,b,extra\n3,c\n", "line 3 has 3 fields, the header has 2"),
        ("binary.csv", bytes(range(256)) * 4, "is not text in UTF-8 or Latin-1"),
        ("data.exe", b"MZ", "unsupported extension '.exe'"),
        ("fake.xlsx", b"id,name\n1,a\n", "is not an XLSX workbook"),
        ("bad.json", b"{not json", "cannot be read as json"),
        ("bad.parquet", b"PAR1 nonsense", "cannot be read as parquet"),
        ("dupes.csv", b"id,ID\n1,2\n", "two columns with the same name"),
        ("noname.csv", b"id,\n1,2\n", "column 2 has no name"),
    ],
)
def test_bad_files_are_refused_with_the_reason(
    tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(UnreadableFileError) as raised:
        read_table(path, name)
    assert problem in raised.value.message
    assert raised.value.message.startswith(f"file '{name}'")
    assert raised.value.field == "files"


def test_nested_json_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "nested.json", json.dumps([{"id": 1, "tags": {"a": 1}}]).encode())
    with pytest.raises(UnreadableFileError, match="column 'tags' holds nested values"):
        read_table(path, "nested.json")


def test_written_csv_reads_back_with_its_nulls_quotes_and_timestamps(tmp_path: Path) -> None:
    import pyarrow as pa

    scored_at = datetime(2026, 12, 3, 17, 4, 5, 123456, tzinfo=UTC)
    table = pa.table(
        {
            "row_id": pa.array([1, 2], pa.int64()),
            "name": ['Ana; Jr., "the second"', None],
            "probability": [0.25, None],
            "scored_at": pa.array([scored_at, scored_at], pa.timestamp("us", tz="UTC")),
        }
    )
    path = tmp_path / "scored.csv"
    write_csv(table, path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    written = "2026-12-03T17:04:05.123456+0000"
    assert rows == [
        {
            "row_id": "1",
            "name": 'Ana; Jr., "the second"',
            "probability": "0.25",
            "scored_at": written,
        },
        {"row_id": "2", "name": "", "probability": "", "scored_at": written},
    ]
    assert datetime.fromisoformat(written) == scored_at
