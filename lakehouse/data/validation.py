"""Silver: bronze rows typed to their template and validated with Great Expectations."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
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
COLUMN_EXISTS = "expect_column_to_exist"
UNAMBIGUOUS = "expect_column_dates_to_be_unambiguous"
# Without a template, a column takes the narrowest type this share of its values casts to;
# the few that do not are bad rows, as with a template.
INFERRED_SHARE = 0.98


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


def typed_name(index: int) -> str:
    """Where the typed values of the `index`th spec sit beside the raw text in the frame
    validated. Template column names hold no control characters, so none is named so."""
    return f"\x1ftyped{index}"


def expectation_suite(specs: Sequence[ColumnSpec]) -> Any:
    """The template's expectations: existence, castability, required and regex on the raw
    text; allowed values and ranges on the typed values (see `typed_name`)."""
    import great_expectations as gx

    expect = gx.expectations
    suite = gx.ExpectationSuite(name="template")
    for index, spec in enumerate(specs):
        column, kind = spec.column_name, spec.data_type
        suite.add_expectation(expect.ExpectColumnToExist(column=column))
        if kind in CASTABLE:
            suite.add_expectation(
                expect.ExpectColumnValuesToMatchRegex(column=column, regex=CASTABLE[kind])
            )
        if spec.required:
            suite.add_expectation(expect.ExpectColumnValuesToNotBeNull(column=column))
        if spec.regex is not None:
            suite.add_expectation(
                expect.ExpectColumnValuesToMatchRegex(column=column, regex=spec.regex)
            )
        if spec.allowed_values is not None:
            allowed = [parse_value(kind, value) for value in spec.allowed_values]
            suite.add_expectation(
                expect.ExpectColumnValuesToBeInSet(column=typed_name(index), value_set=allowed)
            )
        if spec.min_value is not None or spec.max_value is not None:
            low = None if spec.min_value is None else parse_value(kind, spec.min_value)
            high = None if spec.max_value is None else parse_value(kind, spec.max_value)
            suite.add_expectation(
                expect.ExpectColumnValuesToBeBetween(
                    column=typed_name(index), min_value=low, max_value=high
                )
            )
    return suite


def has_typed_rules(spec: ColumnSpec) -> bool:
    return spec.allowed_values is not None or (
        spec.min_value is not None or spec.max_value is not None
    )


def run_suite(frame: pd.DataFrame, specs: Sequence[ColumnSpec]) -> list[Any]:
    """Great Expectations' results of the template's suite on `frame`, every unexpected row
    listed.

    One validation definition runs the whole suite on one batch, so Great Expectations
    reads (and fingerprints) the frame once.
    """
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")  # before the suite, which needs a context
    # Progress bars are for notebooks; in a run they are noise in the logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = expectation_suite(specs)
    batch_definition = (
        context.data_sources.add_pandas("strata")
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all")
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(
            name="template", data=batch_definition, suite=context.suites.add(suite)
        )
    )
    result = definition.run(batch_parameters={"dataframe": frame}, result_format="COMPLETE")
    return list(result.results)


def validate_rows(
    bronze: pa.Table,
    specs: Sequence[ColumnSpec],
    null_markers: Collection[str] | None = None,
) -> ValidationOutcome:
    """Type bronze rows to `specs` with defaults applied, validate, split passing from failing.

    Blank fields and null markers (`markers_for`) are missing values: they fail only a
    `required` rule, and take the column's default when it has one.
    """
    import numpy as np
    import polars as pl

    frame = pl.from_arrow(bronze)
    assert isinstance(frame, pl.DataFrame)
    by_lower = {name.lower(): name for name in frame.columns}
    present = [s for s in specs if s.column_name.lower() in by_lower]
    given_series, raw_series, typed_series = [], [], []
    column_failures: list[Failure] = []
    for spec in present:
        text = frame[by_lower[spec.column_name.lower()]].cast(pl.String).alias(spec.column_name)
        given = missing_as_null(text, markers_for(spec.data_type, null_markers))
        try:
            values = typed_values(given, spec.data_type)
        except AmbiguousDatesError as exc:
            column_failures.append(Failure(spec.column_name, UNAMBIGUOUS, detail=exc.message))
            kind = pl.Date if spec.data_type is ColumnType.DATE else pl.Datetime("us", "UTC")
            values = pl.Series(spec.column_name, [None] * frame.height, dtype=kind)
        filled = given
        if spec.default_value is not None:
            filled = given.fill_null(spec.default_value)
            default = pl.lit(parse_value(spec.data_type, spec.default_value), dtype=values.dtype)
            values = pl.select(
                pl.when(given.is_null()).then(default).otherwise(values).alias(spec.column_name)
            ).to_series()
        given_series.append(given)
        raw_series.append(filled)
        typed_series.append(values)
    raw = pl.DataFrame(raw_series, height=frame.height)
    given_frame = pl.DataFrame(given_series, height=frame.height)
    typed = pl.DataFrame(typed_series, height=frame.height)
    typed_columns = {
        typed_name(index): spec.column_name
        for index, spec in enumerate(specs)
        if spec in present and has_typed_rules(spec)
    }
    checked = raw.with_columns(typed[name].alias(alias) for alias, name in typed_columns.items())
    results = run_suite(checked.to_pandas(), specs)

    def hits(column: str | None, indexes: Sequence[int]) -> list[tuple[int, int, Any]]:
        at = pl.Series(indexes, dtype=pl.UInt32)
        # The samples show the field as the file holds it ("NA", " ", "13/13/2024").
        source = by_lower.get((column or "").lower())
        values = frame[source].gather(at).to_list() if source else [None] * len(at)
        file_ids = frame[FILE_ID].gather(at).to_list()
        return list(zip(file_ids, frame[ROW_NUMBER].gather(at).to_list(), values, strict=True))

    failures: list[Failure] = []
    failing: dict[int, list[str]] = {}  # row index -> failed expectations, for the rejects
    failed_columns: dict[int, set[str | None]] = {}
    for result in results:
        if result.success:
            continue
        column = result.expectation_config.kwargs.get("column")
        column = typed_columns.get(column, column)
        name = result.expectation_config.type
        if result.result.get("unexpected_count") is None:
            column_failures.append(Failure(column, name))
            continue
        indexes = list(result.result.get("unexpected_index_list") or [])
        failures.append(Failure(column, name, hits(column, indexes)))
        for index in indexes:
            failing.setdefault(index, []).append(f"{name}({column})")
            failed_columns.setdefault(index, set()).add(column)
    # A value shaped right that still does not cast (2025-02-30), or a date in no spelling
    # the column's other dates use, fails its row too.
    ambiguous = {f.column for f in column_failures if f.expectation == UNAMBIGUOUS}
    for spec in present:
        if spec.data_type is not ColumnType.STRING and spec.column_name not in ambiguous:
            column = spec.column_name
            unread = (given_frame[column].is_not_null() & typed[column].is_null()).arg_true()
            lost = [i for i in unread.to_list() if column not in failed_columns.get(i, ())]
            if lost:
                failures.append(Failure(column, CAST_FAILED, hits(column, lost)))
                for index in lost:
                    failing.setdefault(index, []).append(f"{CAST_FAILED}({column})")

    passing = np.ones(frame.height, dtype=bool)
    passing[list(failing)] = False
    keep = pl.Series(passing)
    silver = pl.concat([typed, frame.select(FILE_ID, ROW_NUMBER)], how="horizontal").filter(keep)
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


def inferred_specs(
    bronze: pa.Table, null_markers: Collection[str] | None = None
) -> list[ColumnSpec]:
    """Column specs for data without a template: the narrowest type that nearly every given
    value (INFERRED_SHARE) casts to; blank fields and null markers are missing, not text."""
    import polars as pl

    frame = pl.from_arrow(bronze)
    assert isinstance(frame, pl.DataFrame)
    specs = []
    for name in frame.columns:
        if name.startswith("_"):
            continue
        text = frame[name].cast(pl.String)
        specs.append(ColumnSpec(column_name=name, data_type=_inferred_type(text, null_markers)))
    return specs


def _inferred_type(text: pl.Series, null_markers: Collection[str] | None) -> ColumnType:
    given = missing_as_null(text, markers_for(ColumnType.INTEGER, null_markers))
    count = len(given) - given.null_count()
    if not count:
        return ColumnType.STRING
    for candidate in (
        ColumnType.INTEGER,
        ColumnType.FLOAT,
        ColumnType.BOOLEAN,
        ColumnType.DATE,
        ColumnType.DATETIME,
    ):
        try:
            typed = typed_values(given, candidate)
        except AmbiguousDatesError as exc:
            if exc.share >= INFERRED_SHARE:
                return candidate  # dates for sure; the silver step says they are ambiguous
            continue
        if len(typed) - typed.null_count() >= INFERRED_SHARE * count:
            return candidate
    return ColumnType.STRING
