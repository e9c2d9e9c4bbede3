"""Reading uploaded files (CSV, TSV, Parquet, JSON, NDJSON, XLSX, pickled arrays) into Arrow
tables of strings.

Every column comes back as text, exactly as the file holds it, so that the bronze layer keeps
rows as read and typing is the silver layer's job.
"""

from __future__ import annotations

import contextlib
import csv
import io
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any

from lakehouse.data import safe_pickle
from lakehouse.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa


class FileFormat(StrEnum):
    CSV = "csv"
    TSV = "tsv"
    PARQUET = "parquet"
    JSON = "json"
    NDJSON = "ndjson"
    XLSX = "xlsx"
    PICKLE = "pickle"


EXTENSIONS: dict[str, FileFormat] = {
    ".csv": FileFormat.CSV,
    ".txt": FileFormat.CSV,
    ".tsv": FileFormat.TSV,
    ".tab": FileFormat.TSV,
    ".parquet": FileFormat.PARQUET,
    ".pq": FileFormat.PARQUET,
    ".json": FileFormat.JSON,
    ".ndjson": FileFormat.NDJSON,
    ".jsonl": FileFormat.NDJSON,
    ".xlsx": FileFormat.XLSX,
    ".pkl": FileFormat.PICKLE,
    ".pickle": FileFormat.PICKLE,
}
SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
# Characters no text file of ours holds: C0 controls but tab and newlines, and C1 controls.
CONTROL = {chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), *range(0x7F, 0xA0))}


class UnreadableFileError(InvalidInputError):
    """An uploaded file cannot be read as a table."""

    def __init__(self, file_name: str, problem: str) -> None:
        super().__init__(f"file '{file_name}': {problem}", field="files")


def format_of(file_name: str) -> FileFormat:
    """The format a file name's extension announces."""
    suffix = PurePath(file_name).suffix.lower()
    if suffix not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        found = f"unsupported extension '{suffix}'" if suffix else "has no extension"
        raise UnreadableFileError(file_name, f"{found}; expected {known}")
    return EXTENSIONS[suffix]


def check_width(file_name: str, count: int, max_columns: int | None) -> None:
    """Refuse a file with more columns than `max_columns` (no limit when None)."""
    if max_columns is not None and count > max_columns:
        raise UnreadableFileError(
            file_name, f"has {count} columns; a file may have at most {max_columns}"
        )


@dataclass(frozen=True)
class TextDialect:
    encoding: str
    delimiter: str


def sniff_text(path: Path, file_name: str, default_delimiter: str) -> TextDialect:
    """Encoding (UTF-8, UTF-8 with BOM, Latin-1) and delimiter of a delimited text file."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise UnreadableFileError(file_name, "is empty")
    if sample.startswith(b"\xef\xbb\xbf"):
        encoding, text = "utf-8-sig", sample[3:].decode("utf-8", errors="ignore")
    else:
        try:
            # A multi-byte character may be cut at the end of the sample.
            encoding, text = "utf-8", sample.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 3:
                encoding, text = "latin-1", sample.decode("latin-1")
            else:
                encoding, text = "utf-8", sample[: exc.start].decode("utf-8")
    if CONTROL.intersection(text):
        raise UnreadableFileError(file_name, "is not text in UTF-8 or Latin-1")
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = default_delimiter
    return TextDialect(encoding=encoding, delimiter=delimiter)


def _read_delimited(
    path: Path, file_name: str, default_delimiter: str, max_columns: int | None
) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    dialect = sniff_text(path, file_name, default_delimiter)
    with path.open("r", encoding=dialect.encoding, newline="") as handle:
        try:
            header = next(csv.reader(handle, delimiter=dialect.delimiter), [])
        except csv.Error as exc:  # a header field longer than the csv module's field limit
            raise UnreadableFileError(file_name, f"has an unreadable header: {exc}") from exc
    # The header alone says how wide the file is: a file too wide is refused unread.
    check_width(file_name, len(header), max_columns)
    names = [name.strip() for name in header]

    def read(use_threads: bool, on_invalid: Any = None) -> pa.Table:
        return pacsv.read_csv(
            path,
            # Arrow reads UTF-8 natively and skips a BOM itself; other encodings it transcodes.
            read_options=pacsv.ReadOptions(
                encoding="utf8" if dialect.encoding.startswith("utf-8") else dialect.encoding,
                use_threads=use_threads,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=dialect.delimiter,
                newlines_in_values=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        table = read(use_threads=True)
    except pa.ArrowInvalid as exc:
        # Only a single-threaded read knows line numbers: read again to say where it breaks.
        ragged: list[str] = []

        def refuse(row: Any) -> str:
            ragged.append(
                f"line {row.number} has {row.actual_columns} fields, the header has "
                f"{row.expected_columns}"
            )
            return "error"

        with contextlib.suppress(pa.ArrowInvalid):
            read(use_threads=False, on_invalid=refuse)
        problem = ragged[0] if ragged else str(exc).splitlines()[0]
        raise UnreadableFileError(file_name, problem) from exc
    return table.rename_columns(names)


def _read_typed(path: Path, file_name: str, fmt: FileFormat, max_columns: int | None) -> pa.Table:
    import polars as pl

    try:
        if fmt is FileFormat.PARQUET:
            # The schema alone says how wide the file is: a file too wide is refused unread.
            check_width(file_name, len(pl.read_parquet_schema(path)), max_columns)
            frame = pl.read_parquet(path)
        elif fmt is FileFormat.NDJSON:
            frame = pl.read_ndjson(path, infer_schema_length=None)
        elif fmt is FileFormat.JSON:
            frame = pl.read_json(path, infer_schema_length=None)
        elif fmt is FileFormat.PICKLE:
            with path.open("rb") as handle:
                frame = pl.DataFrame(pickled_columns(safe_pickle.load(handle)))
        else:
            if not zipfile.is_zipfile(path):
                raise UnreadableFileError(file_name, "is not an XLSX workbook (not a zip archive)")
            frame = pl.read_excel(path, engine="calamine", infer_schema_length=0)
    except UnreadableFileError:
        raise
    except InvalidInputError as exc:  # a pickle that is not data, or not a table
        raise UnreadableFileError(file_name, exc.message) from exc
    except Exception as exc:  # each reader raises its own family of errors
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableFileError(file_name, f"cannot be read as {fmt.value}: {problem}") from exc
    nested = [name for name, kind in frame.schema.items() if kind.is_nested()]
    if nested:
        raise UnreadableFileError(
            file_name, f"column '{nested[0]}' holds nested values; expected flat columns"
        )
    return frame.select(pl.all().cast(pl.String)).to_arrow()


def pickled_columns(data: Any) -> dict[str, Any]:
    """The columns of a pickled dataset: {"X": (n, k) array, "y": (n,) array, "metadata":
    {"feature_names": [...], "target_name": ...}}, or a mapping of column names to 1-D arrays."""
    import numpy as np

    if not isinstance(data, dict):
        raise InvalidInputError(
            f"the pickle holds a {type(data).__name__}; expected a dict of arrays", field="file"
        )
    if "X" in data and "y" in data:
        try:
            features, target = np.asarray(data["X"]), np.asarray(data["y"])
        except (ValueError, TypeError) as exc:  # ragged lists
            raise InvalidInputError(f"X and y must be arrays: {exc}", field="file") from exc
        if features.ndim != 2 or target.ndim != 1 or len(features) != len(target):
            raise InvalidInputError(
                f"X must be a 2-D array (n, k) and y a 1-D array (n,) of the same n; "
                f"got X {features.shape} and y {target.shape}",
                field="file",
            )
        given = data.get("metadata")
        metadata: dict[Any, Any] = given if isinstance(given, dict) else {}
        names = metadata.get("feature_names")
        width = features.shape[1]
        if not (
            isinstance(names, list | tuple)
            and len(names) == width
            and all(isinstance(n, str) and n.strip() for n in names)
            and len({n.lower() for n in names}) == width
        ):
            names = [f"x{i + 1}" for i in range(width)]
        target_name = metadata.get("target_name")
        if not isinstance(target_name, str) or not target_name.strip() or target_name in names:
            target_name = "y"
        columns = {name: features[:, i] for i, name in enumerate(names)}
        return {**columns, target_name: target}
    try:
        columns = {str(name): np.asarray(values) for name, values in data.items()}
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"columns must be arrays: {exc}", field="file") from exc
    lengths = {len(values) if values.ndim == 1 else -1 for values in columns.values()}
    if not columns or len(lengths) != 1 or -1 in lengths:
        raise InvalidInputError(
            "expected {'X': array, 'y': array, 'metadata': {...}} or a dict of "
            "equally long 1-D arrays",
            field="file",
        )
    return columns


def read_table(path: Path, file_name: str, max_columns: int | None = None) -> pa.Table:
    """The file as a table of strings; UnreadableFileError says what is wrong with it.

    A file with more than `max_columns` columns is refused, from its header or schema alone
    where the format has one (CSV, TSV, Parquet), else once read.
    """
    fmt = format_of(file_name)
    if path.stat().st_size == 0:
        raise UnreadableFileError(file_name, "is empty")
    if fmt in (FileFormat.CSV, FileFormat.TSV):
        delimiter = "\t" if fmt is FileFormat.TSV else ","
        table = _read_delimited(path, file_name, delimiter, max_columns)
    else:
        table = _read_typed(path, file_name, fmt, max_columns)
    check_width(file_name, table.num_columns, max_columns)
    names = table.column_names
    if not names or all(not name for name in names):
        raise UnreadableFileError(file_name, "has no header row")
    blank = [i for i, name in enumerate(names) if not name]
    if blank:
        raise UnreadableFileError(file_name, f"column {blank[0] + 1} has no name in the header")
    if len({name.lower() for name in names}) != len(names):
        raise UnreadableFileError(file_name, "has two columns with the same name")
    if table.num_rows == 0:
        raise UnreadableFileError(file_name, "has a header but no data rows")
    return table


def write_csv(table: pa.Table, target: Path | IO[bytes]) -> None:
    """A flat table as CSV, formatted on every core: fields quoted only where they need it,
    nulls empty, timestamps in ISO 8601."""
    import polars as pl

    pl.DataFrame(table).write_csv(target)


def preview_lines(path: Path, file_name: str, count: int) -> list[str]:
    """The first `count` lines of a file: raw for text formats, rendered as CSV for the rest."""
    fmt = format_of(file_name)
    if fmt in (FileFormat.PARQUET, FileFormat.XLSX, FileFormat.PICKLE):
        sink = io.BytesIO()
        write_csv(read_table(path, file_name).slice(0, count - 1), sink)
        return sink.getvalue().decode().splitlines()[:count]
    encoding = (
        sniff_text(path, file_name, ",").encoding
        if fmt in (FileFormat.CSV, FileFormat.TSV)
        else "utf-8"
    )
    lines = []
    with path.open("r", encoding=encoding, errors="replace", newline="") as handle:
        for line in handle:
            lines.append(line.rstrip("\r\n"))
            if len(lines) == count:
                break
    return lines
