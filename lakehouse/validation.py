"""Silver: bronze rows typed to their template and validated with Great Expectations."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse.ingest import FILE_ID, ROW_NUMBER
from lakehouse.templates import TRUE_WORDS, ColumnSpec, ColumnType, parse_value

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

FAILED = "_failed_expectations"
SAMPLES = 5
BOOLEAN_WORDS = r"true|false|t|f|yes|no|y|n|1|0"
# What a raw text must look like to be cast to each type; checked by Great Expectations.
# Spelled for RE2 (no \s, \d or $ before a newline), so pandas hands the match to pyarrow.
BLANK = r"[ \t\r\n\f\v\xa0]*"
CASTABLE: dict[ColumnType, str] = {
    ColumnType.INTEGER: rf"^{BLANK}[+-]?[0-9]+{BLANK}$",
    ColumnType.FLOAT: rf"^{BLANK}[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?{BLANK}$",
    ColumnType.BOOLEAN: rf"^{BLANK}(?i:{BOOLEAN_WORDS}){BLANK}$",
    ColumnType.DATE: rf"^{BLANK}[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}{BLANK}$",
    ColumnType.DATETIME: (
        rf"^{BLANK}[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}"
        rf"(?:[T ][0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}}(?:\.[0-9]+)?)?)?"
        rf"(?:Z|[+-][0-9]{{2}}:?[0-9]{{2}})?{BLANK}$"
    ),
}
CAST_FAILED = "expect_column_values_to_be_castable"


@dataclass
class Failure:
    """One failed expectation and every row it failed: (file id, row number, raw value)."""

    column: str | None
    expectation: str
    hits: list[tuple[int, int, Any]] = field(default_factory=list)


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
                {"column": f.column, "expectation": f.expectation} for f in self.column_failures
            ],
        }


def typed_values(raw: pl.Series, kind: ColumnType) -> pl.Series:
    """`raw` text cast to `kind`; what does not cast becomes null."""
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
    if kind is ColumnType.DATE:
        return text.str.to_date("%Y-%m-%d", strict=False)
    return text.str.to_datetime(strict=False, time_zone="UTC", time_unit="us")


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
    context = gx.get_context(mode="ephemeral")  # before the suite, which needs a context
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


def validate_rows(bronze: pa.Table, specs: Sequence[ColumnSpec]) -> ValidationOutcome:
    """Type bronze rows to `specs` with defaults applied, validate, split passing from failing."""
    import numpy as np
    import polars as pl

    frame = pl.from_arrow(bronze)
    assert isinstance(frame, pl.DataFrame)
    by_lower = {name.lower(): name for name in frame.columns}
    present = [s for s in specs if s.column_name.lower() in by_lower]
    raw_series = []
    for spec in present:
        values = frame[by_lower[spec.column_name.lower()]].cast(pl.String).alias(spec.column_name)
        if spec.data_type is not ColumnType.STRING:
            values = values.replace("", None)
        if spec.default_value is not None:
            values = values.fill_null(spec.default_value)
        raw_series.append(values)
    raw = pl.DataFrame(raw_series, height=frame.height)
    typed = pl.DataFrame(
        [typed_values(raw[s.column_name], s.data_type) for s in present], height=frame.height
    )
    typed_columns = {
        typed_name(index): spec.column_name
        for index, spec in enumerate(specs)
        if spec in present and has_typed_rules(spec)
    }
    checked = raw.with_columns(typed[name].alias(alias) for alias, name in typed_columns.items())
    results = run_suite(checked.to_pandas(), specs)

    def hits(column: str | None, indexes: Sequence[int]) -> list[tuple[int, int, Any]]:
        at = pl.Series(indexes, dtype=pl.UInt32)
        values = raw[column].gather(at).to_list() if column in raw.columns else [None] * len(at)
        file_ids = frame[FILE_ID].gather(at).to_list()
        return list(zip(file_ids, frame[ROW_NUMBER].gather(at).to_list(), values, strict=True))

    failures: list[Failure] = []
    column_failures: list[Failure] = []
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
    # A value shaped right that still does not cast (2025-02-30) fails its row too.
    for spec in present:
        if spec.data_type in CASTABLE:
            column = spec.column_name
            lost = (raw[column].is_not_null() & typed[column].is_null()).arg_true().to_list()
            lost = [i for i in lost if column not in failed_columns.get(i, ())]
            if lost:
                failures.append(Failure(column, CAST_FAILED, hits(column, lost)))
                for index in lost:
                    failing.setdefault(index, []).append(f"{CAST_FAILED}({column})")

    passing = np.ones(frame.height, dtype=bool)
    passing[list(failing)] = False
    keep = pl.Series(passing)
    silver = pl.concat([typed, frame.select(FILE_ID, ROW_NUMBER)], how="horizontal").filter(keep)
    reasons = pl.Series(FAILED, ["; ".join(failing[i]) for i in sorted(failing)], dtype=pl.String)
    rejects = frame.filter(~keep).with_columns(reasons)
    return ValidationOutcome(
        silver=silver.to_arrow(),
        rejects=rejects.to_arrow(),
        failures=failures,
        column_failures=column_failures,
        total_rows=frame.height,
    )


def inferred_specs(bronze: pa.Table) -> list[ColumnSpec]:
    """Column specs for data without a template: the narrowest type every value casts to."""
    import polars as pl

    frame = pl.from_arrow(bronze)
    assert isinstance(frame, pl.DataFrame)
    specs = []
    for name in frame.columns:
        if name.startswith("_"):
            continue
        raw = frame[name].cast(pl.String).replace("", None)
        kind = ColumnType.STRING
        for candidate in (
            ColumnType.INTEGER,
            ColumnType.FLOAT,
            ColumnType.BOOLEAN,
            ColumnType.DATE,
            ColumnType.DATETIME,
        ):
            if (
                raw.null_count() < len(raw)
                and typed_values(raw, candidate).null_count() == raw.null_count()
            ):
                kind = candidate
                break
        specs.append(ColumnSpec(column_name=name, data_type=kind))
    return specs
