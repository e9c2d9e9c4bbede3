"""Silver: bronze rows typed to their template and validated with Great Expectations."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse.data.dates import AmbiguousDatesError, read_dates
from lakehouse.data.templates import NULL_MARKERS, TRUE_WORDS, ColumnSpec, ColumnType, parse_value
from lakehouse.lake.lineage import FAILED_EXPECTATIONS, FILE_ID, ROW_NUMBER

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa


SAMPLES = 5
BOOLEAN_WORDS = r"true|false|t|f|yes|no|y|n|1|0"
# What a raw text must look like to be cast to each type; checked by Great Expectations.
# Spelled for RE2 (no \s, \d or $ before a newline), so pandas hands the match to pyarrow.
# Dates have too many spellings for a pattern: a date that does not read fails CAST_FAILED.
BLANK = r"[ \t\r\n\f\v\xa0]*"
CASTABLE: dict[ColumnType, str] = {
    ColumnType.INTEGER: rf"^{BLANK}[+-]?[0-9]+{BLANK}$",
    ColumnType.FLOAT: rf"^{BLANK}[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?{BLANK}$",
    ColumnType.BOOLEAN: rf"^{BLANK}(?i:{BOOLEAN_WORDS}){BLANK}$",
}
CAST_FAILED = "expect_column_values_to_be_castable"
# What a castability failure of a value not even shaped like its type is reported as.
SHAPE_FAILED = "expect_column_values_to_match_regex"
COLUMN_EXISTS = "expect_column_to_exist"
TABLE_COLUMNS = "expect_table_columns_to_match_set"
UNAMBIGUOUS = "expect_column_dates_to_be_unambiguous"


@dataclass
class Failure:
    """One failed expectation and every row it failed: (file id, row number, raw value)."""

    column: str | None
    expectation: str
    hits: list[tuple[int, int, Any]] = field(default_factory=list)
    detail: str | None = None


@dataclass(frozen=True)
class ValidationOutcome:
    silver: pa.Table
    rejects: pa.Table
    failures: list[Failure]
    column_failures: list[Failure]
    total_rows: int

    @property
    def passed_rows(self) -> int:
        return self.silver.num_rows

    @property
    def usability(self) -> float:
        return self.passed_rows / self.total_rows if self.total_rows else 0.0

    @property
    def missing_columns(self) -> list[str]:
        return [f.column or "" for f in self.column_failures if f.expectation == COLUMN_EXISTS]

    def file_report(self, file_id: int) -> dict[str, Any]:
        """A file's error report: per failed expectation, its count and a few sample rows."""
        failed = []
        for failure in self.failures:
            hits = [hit for hit in failure.hits if hit[0] == file_id]
            if hits:
                failed.append(
                    {
                        "column": failure.column,
                        "expectation": failure.expectation,
                        "failed_count": len(hits),
                        "samples": [{"row_number": r, "value": v} for _, r, v in hits[:SAMPLES]],
                    }
                )
        return {
            "failed_rows": len(
                {r for f in self.failures for fid, r, _ in f.hits if fid == file_id}
            ),
            "failed_expectations": failed,
            "column_expectations": [
                {"column": f.column, "expectation": f.expectation, "detail": f.detail}
                for f in self.column_failures
            ],
        }


def missing_as_null(values: pl.Series, markers: Collection[str]) -> pl.Series:
    """`values` with blank fields, and fields that are one of `markers`, as nulls."""
    import polars as pl

    stripped = values.str.strip_chars()
    missing = (stripped == "") | stripped.is_in(list(markers))
    return pl.select(pl.when(missing).then(None).otherwise(values)).to_series().alias(values.name)


def markers_for(kind: ColumnType, template_markers: Collection[str] | None) -> Collection[str]:
    """The fields that mean no value in a column of `kind`: a template's own list in every
    column, else the usual markers in typed columns (text keeps them as text)."""
    if template_markers is not None:
        return template_markers
    return () if kind is ColumnType.STRING else NULL_MARKERS


def typed_values(raw: pl.Series, kind: ColumnType) -> pl.Series:
    """`raw` text cast to `kind`; what does not cast becomes null. Dates read in the spelling
    most of the column uses (AmbiguousDatesError when day and month cannot be told apart)."""
    import polars as pl

    text = raw.str.strip_chars()
    if kind is ColumnType.STRING:
        return raw
    if kind is ColumnType.INTEGER:
        return text.cast(pl.Int64, strict=False)
    if kind is ColumnType.FLOAT:
        return text.cast(pl.Float64, strict=False)
    if kind is ColumnType.BOOLEAN:
        lowered = text.str.to_lowercase()
        known = lowered.is_in(BOOLEAN_WORDS.split("|"))
        return (
            pl.select(pl.when(known).then(lowered.is_in(sorted(TRUE_WORDS))).otherwise(None))
            .to_series()
            .alias(raw.name)
        )
    return read_dates(raw, with_time=kind is ColumnType.DATETIME)


@dataclass(frozen=True)
class TypedColumn:
    """A column's text read as one type: `given` is the text with missing values as nulls,
    `values` the typed values, null where a value is missing or does not cast."""

    given: pl.Series
    values: pl.Series


def typed_column(text: pl.Series, kind: ColumnType, markers: Collection[str]) -> TypedColumn:
    """`text` read as `kind`, `markers` and blank fields meaning no value (AmbiguousDatesError
    when its dates cannot be told day-first or month-first)."""
    given = missing_as_null(text, markers)
    return TypedColumn(given, typed_values(given, kind))


# The frame Great Expectations validates holds no raw text: under each template column's name
# a mask of its given values (null where missing), and beside it, named with a control
# character no template column name holds, what the column's rules need: a mask of the values
# that cast, the typed values, the text for a `regex` rule.
CASTABLE_MASK, TYPED, TEXT = "\x1fcastable", "\x1ftyped", "\x1ftext"


def expectation_suite(specs: Sequence[ColumnSpec], cast_checked: Collection[int]) -> Any:
    """The template's expectations on the frame `checked_frame` builds: existence and
    `required` on the given-values masks, castability (for the columns in `cast_checked`) on
    the castable masks, `regex` on the text, allowed values and ranges on the typed values."""
    import great_expectations as gx

    expect = gx.expectations
    # Every template column exists: one table-level expectation names the missing ones.
    expectations: list[Any] = [
        expect.ExpectTableColumnsToMatchSet(
            column_set=[spec.column_name for spec in specs], exact_match=False
        )
    ]
    for index, spec in enumerate(specs):
        column, kind = spec.column_name, spec.data_type
        if index in cast_checked:
            expectations.append(
                expect.ExpectColumnValuesToBeInSet(
                    column=f"{CASTABLE_MASK}{index}", value_set=[True]
                )
            )
        if spec.required:
            expectations.append(expect.ExpectColumnValuesToNotBeNull(column=column))
        if spec.regex is not None:
            expectations.append(
                expect.ExpectColumnValuesToMatchRegex(column=f"{TEXT}{index}", regex=spec.regex)
            )
        if spec.allowed_values is not None:
            allowed = [parse_value(kind, value) for value in spec.allowed_values]
            expectations.append(
                expect.ExpectColumnValuesToBeInSet(column=f"{TYPED}{index}", value_set=allowed)
            )
        if spec.min_value is not None or spec.max_value is not None:
            low = None if spec.min_value is None else parse_value(kind, spec.min_value)
            high = None if spec.max_value is None else parse_value(kind, spec.max_value)
            expectations.append(
                expect.ExpectColumnValuesToBeBetween(
                    column=f"{TYPED}{index}", min_value=low, max_value=high
                )
            )
    # Given at once, not added one by one: `add_expectation` compares each with the others.
    return gx.ExpectationSuite(name="template", expectations=expectations)


def has_typed_rules(spec: ColumnSpec) -> bool:
    return spec.allowed_values is not None or (
        spec.min_value is not None or spec.max_value is not None
    )


def as_pandas(values: pl.Series) -> Any:
    """A column for the validated frame; text as categories, so that Great Expectations
    hashes and compares each distinct value once."""
    import polars as pl

    if values.dtype == pl.String:
        values = values.cast(pl.Categorical)
    return values.to_pandas()


def mask(present: pl.Series) -> Any:
    """True where `present`, else null: what `expect_column_values_to_not_be_null` reads."""
    import numpy as np
    import pandas as pd

    return pd.arrays.BooleanArray(
        np.ones(len(present), dtype=bool), (~present).to_numpy(), copy=False
    )


def checked_frame(
    specs: Sequence[ColumnSpec],
    columns: Mapping[int, TypedColumn],
    filled: Mapping[int, pl.Series],
    cast_checked: Collection[int],
    height: int,
) -> pd.DataFrame:
    """The frame `expectation_suite`'s expectations run on, for the present columns:
    `columns` by spec index, their values with defaults in `filled` (text) and in `columns`'
    values (typed)."""
    import pandas as pd

    data: dict[str, Any] = {}
    for index, column in columns.items():
        spec = specs[index]
        data[spec.column_name] = mask(filled[index].is_not_null())
        if index in cast_checked:
            data[f"{CASTABLE_MASK}{index}"] = castable(column, spec.data_type).to_numpy()
        if spec.regex is not None:
            data[f"{TEXT}{index}"] = as_pandas(filled[index])
        if has_typed_rules(spec):
            data[f"{TYPED}{index}"] = as_pandas(column.values)
    return pd.DataFrame(data, index=pd.RangeIndex(height))


def castable(column: TypedColumn, kind: ColumnType) -> pl.Series:
    """True where a value is missing or was read as `kind`: text that reads as infinity or
    not-a-number is not a number a file means."""
    read = column.values.is_not_null()
    if kind is ColumnType.FLOAT:
        read = read & column.values.is_finite()
    return column.given.is_null() | read


def run_suite(
    frame: pd.DataFrame, specs: Sequence[ColumnSpec], cast_checked: Collection[int]
) -> list[Any]:
    """Great Expectations' results of `expectation_suite` on `frame`, every unexpected row
    of a failed expectation listed.

    The suite runs on one batch, first for success alone; the expectations that failed run
    again for their unexpected rows, which cost far more to list than to count.
    """
    import great_expectations as gx

    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    try:
        suite = expectation_suite(specs, cast_checked)
        verdicts = batch.validate(suite, result_format="BOOLEAN_ONLY")
        failed = [result.expectation_config for result in verdicts.results if not result.success]
        if not failed:
            return list(verdicts.results)
        again = gx.ExpectationSuite(
            name="failed", expectations=[config.to_domain_obj() for config in failed]
        )
        return list(batch.validate(again, result_format="COMPLETE").results)
    finally:
        # The thread's execution engine keeps every metric it computed, frame-long masks
        # among them, and the last batch: a long-lived worker thread keeps neither.
        engine = batch.data.execution_engine
        engine._metric_cache.clear()
        engine.batch_manager.reset_batch_cache()


_contexts = threading.local()


def _batch_definition() -> Any:
    """This thread's Great Expectations batch definition of a whole in-memory frame, in an
    ephemeral context made on first use: validations run on batches of it, and keep nothing
    in the context's stores."""
    definition = getattr(_contexts, "batch_definition", None)
    if definition is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        # The pandas engine fingerprints every frame under this many bytes for its batch
        # markers, which no validation here reads: 0.3 s of a million rows' 0.6.
        pandas_execution_engine.HASH_THRESHOLD = 0
        context = gx.get_context(mode="ephemeral")
        # Progress bars are for notebooks; in a run they are noise in the logs.
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        definition = (
            context.data_sources.add_pandas("strata")
            .add_dataframe_asset("rows")
            .add_batch_definition_whole_dataframe("all")
        )
        _contexts.batch_definition = definition
    return definition


def validate_rows(
    bronze: pa.Table,
    specs: Sequence[ColumnSpec],
    null_markers: Collection[str] | None = None,
    typed: Mapping[str, TypedColumn] | None = None,
) -> ValidationOutcome:
    """Type bronze rows to `specs` with defaults applied, validate, split passing from failing.

    Blank fields and null markers (`markers_for`) are missing values: they fail only a
    `required` rule, and take the column's default when it has one. `typed` holds columns
    already read as their spec's type (by `infer_columns`), by name.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import polars as pl

    frame = pl.from_arrow(bronze)
    assert isinstance(frame, pl.DataFrame)
    by_lower = {name.lower(): name for name in frame.columns}
    columns: dict[int, TypedColumn] = {}  # by spec index, the present columns as typed
    filled: dict[int, pl.Series] = {}  # their given values with defaults, as text
    column_failures: list[Failure] = []
    ambiguous: set[int] = set()
    present = {  # spec index -> the bronze column it reads
        index: by_lower[spec.column_name.lower()]
        for index, spec in enumerate(specs)
        if spec.column_name.lower() in by_lower
    }

    def text_of(index: int) -> pl.Series:
        return frame[present[index]].cast(pl.String).alias(specs[index].column_name)

    def read_column(index: int) -> TypedColumn | AmbiguousDatesError:
        kind = specs[index].data_type
        try:
            return typed_column(text_of(index), kind, markers_for(kind, null_markers))
        except AmbiguousDatesError as exc:
            return exc

    # Columns not typed yet are read at once, each by Polars on a core of its own.
    reads: dict[int, TypedColumn | AmbiguousDatesError] = {
        index: typed[specs[index].column_name]
        for index in present
        if typed is not None and specs[index].column_name in typed
    }
    unread = [index for index in present if index not in reads]
    with ThreadPoolExecutor(thread_name_prefix="typing") as pool:
        reads.update(zip(unread, pool.map(read_column, unread), strict=True))
    for index, spec in enumerate(specs):
        if index not in present:
            continue
        read = reads[index]
        if isinstance(read, AmbiguousDatesError):
            column_failures.append(Failure(spec.column_name, UNAMBIGUOUS, detail=read.message))
            dtype = pl.Date if spec.data_type is ColumnType.DATE else pl.Datetime("us", "UTC")
            nulls = pl.Series(spec.column_name, [None] * frame.height, dtype=dtype)
            markers = markers_for(spec.data_type, null_markers)
            read = TypedColumn(missing_as_null(text_of(index), markers), nulls)
            ambiguous.add(index)
        columns[index] = read
        filled[index] = read.given
        if spec.default_value is not None:
            filled[index] = read.given.fill_null(spec.default_value)
    cast_checked = {
        index
        for index, spec in enumerate(specs)
        if spec.data_type is not ColumnType.STRING
        and index not in ambiguous
        and (index in columns or spec.data_type in CASTABLE)
    }
    # Rules read the values with defaults in; castability reads them as given.
    with_defaults: dict[int, TypedColumn] = {}
    for index, read in columns.items():
        spec = specs[index]
        values = read.values.alias(spec.column_name)
        if spec.default_value is not None:
            default = pl.lit(parse_value(spec.data_type, spec.default_value), dtype=values.dtype)
            values = (
                pl.select(pl.when(read.given.is_null()).then(default).otherwise(values))
                .to_series()
                .alias(spec.column_name)
            )
        with_defaults[index] = TypedColumn(read.given, values)
    checked = checked_frame(specs, with_defaults, filled, cast_checked, frame.height)
    results = run_suite(checked, specs, cast_checked)

    def hits(column: str | None, indexes: Sequence[int]) -> list[tuple[int, int, Any]]:
        at = pl.Series(indexes, dtype=pl.UInt32)
        # The samples show the field as the file holds it ("NA", " ", "13/13/2024").
        source = by_lower.get((column or "").lower())
        values = frame[source].gather(at).to_list() if source else [None] * len(at)
        file_ids = frame[FILE_ID].gather(at).to_list()
        return list(zip(file_ids, frame[ROW_NUMBER].gather(at).to_list(), values, strict=True))

    owner = {spec.column_name: index for index, spec in enumerate(specs)}
    for index in range(len(specs)):
        for prefix in (CASTABLE_MASK, TYPED, TEXT):
            owner[f"{prefix}{index}"] = index
    failures: list[Failure] = []
    failing: dict[int, list[str]] = {}  # row index -> failed expectations, for the rejects
    failed_columns: dict[int, set[str | None]] = {}
    uncast: dict[int, list[int]] = {}  # spec index -> rows whose values did not cast

    def fail(column: str, name: str, indexes: list[int]) -> None:
        failures.append(Failure(column, name, hits(column, indexes)))
        for row in indexes:
            failing.setdefault(row, []).append(f"{name}({column})")
            failed_columns.setdefault(row, set()).add(column)

    whole_column_failures: list[tuple[int, Failure]] = []  # by spec index, for their order
    for result in results:
        if result.success:
            continue
        if result.expectation_config.type == TABLE_COLUMNS:
            # the columns the frame lacks, which are those the files lack
            whole_column_failures.extend(
                (index, Failure(spec.column_name, COLUMN_EXISTS))
                for index, spec in enumerate(specs)
                if index not in columns
            )
            continue
        checked_column = result.expectation_config.kwargs.get("column")
        index = owner[checked_column]
        column, kind = specs[index].column_name, specs[index].data_type
        name = result.expectation_config.type
        is_cast = checked_column == f"{CASTABLE_MASK}{index}"
        if is_cast:
            name = SHAPE_FAILED
        if result.result.get("unexpected_count") is None:
            whole_column_failures.append((index, Failure(column, name)))
            continue
        indexes = list(result.result.get("unexpected_index_list") or [])
        if is_cast and kind in CASTABLE:
            # A value shaped right that still does not cast fails CAST_FAILED, after the rest.
            text = filled[index].gather(pl.Series(indexes, dtype=pl.UInt32))
            shaped = text.str.contains(CASTABLE[kind]).to_list()
            uncast[index] = [row for row, ok in zip(indexes, shaped, strict=True) if ok]
            indexes = [row for row, ok in zip(indexes, shaped, strict=True) if not ok]
            if indexes:
                fail(column, name, indexes)
        elif is_cast:
            uncast[index] = indexes
        else:
            fail(column, name, indexes)
    # A column's whole-column failures are listed together, a missing one's existence first.
    whole_column_failures.sort(key=lambda item: (item[0], item[1].expectation != COLUMN_EXISTS))
    column_failures.extend(failure for _, failure in whole_column_failures)
    # A value that does not cast though shaped right (2025-02-30), or a date in no spelling
    # the column's other dates use, fails its row, unless its column failed there already.
    for index in sorted(uncast):
        column = specs[index].column_name
        lost = [row for row in uncast[index] if column not in failed_columns.get(row, ())]
        if lost:
            failures.append(Failure(column, CAST_FAILED, hits(column, lost)))
            for row in lost:
                failing.setdefault(row, []).append(f"{CAST_FAILED}({column})")

    passing = np.ones(frame.height, dtype=bool)
    passing[list(failing)] = False
    keep = pl.Series(passing)
    typed_frame = pl.DataFrame(
        [with_defaults[index].values for index in sorted(with_defaults)], height=frame.height
    )
    silver = pl.concat([typed_frame, frame.select(FILE_ID, ROW_NUMBER)], how="horizontal")
    silver = silver.filter(keep)
    reasons = pl.Series(
        FAILED_EXPECTATIONS, ["; ".join(failing[i]) for i in sorted(failing)], dtype=pl.String
    )
    rejects = frame.filter(~keep).with_columns(reasons)
    return ValidationOutcome(
        silver=silver.to_arrow(),
        rejects=rejects.to_arrow(),
        failures=failures,
        column_failures=column_failures,
        total_rows=frame.height,
    )
