"""Column types for data without a template: the narrowest type nearly every value casts to."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from lakehouse.data.dates import AmbiguousDatesError
from lakehouse.data.templates import ColumnSpec, ColumnType
from lakehouse.data.validation import TypedColumn, markers_for, missing_as_null, typed_values

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

# Without a template, a column takes the narrowest type this share of its values casts to;
# the few that do not are bad rows, as with a template.
INFERRED_SHARE = 0.98
# Types are first tried on this many of a column's values, and ruled out when less than
# PROBE_SHARE of them cast.
PROBE_VALUES, PROBE_SHARE = 200, 0.9


def inferred_specs(
    bronze: pa.Table, null_markers: Collection[str] | None = None
) -> list[ColumnSpec]:
    """Column specs for data without a template (see `infer_columns`)."""
    return infer_columns(bronze, null_markers)[0]


def infer_columns(
    bronze: pa.Table, null_markers: Collection[str] | None = None
) -> tuple[list[ColumnSpec], dict[str, TypedColumn]]:
    """Column specs for data without a template: the narrowest type that nearly every given
    value (INFERRED_SHARE) casts to; blank fields and null markers are missing, not text.
    With them, the columns of other types than String as read, for `validate_rows`."""
    from concurrent.futures import ThreadPoolExecutor

    import polars as pl

    frame = pl.from_arrow(bronze)
    assert isinstance(frame, pl.DataFrame)
    names = [name for name in frame.columns if not name.startswith("_")]

    def infer(name: str) -> tuple[ColumnType, TypedColumn | None]:
        return _inferred_type(frame[name].cast(pl.String), null_markers)

    # Polars computes each column's casts on one thread, without the GIL: columns at once
    # use every core.
    with ThreadPoolExecutor(thread_name_prefix="infer") as pool:
        inferred = list(pool.map(infer, names))
    specs, typed = [], {}
    for name, (kind, column) in zip(names, inferred, strict=True):
        specs.append(ColumnSpec(column_name=name, data_type=kind))
        if column is not None:
            typed[name] = column
    return specs, typed


def _inferred_type(
    text: pl.Series, null_markers: Collection[str] | None
) -> tuple[ColumnType, TypedColumn | None]:
    given = missing_as_null(text, markers_for(ColumnType.INTEGER, null_markers))
    count = len(given) - given.null_count()
    if not count:
        return ColumnType.STRING, None
    # drawn at random (always the same draw), so rows that recur every so many lines, such
    # as subtotals, are not what the sample is made of
    probe = given.drop_nulls()
    if count > PROBE_VALUES:
        probe = probe.sample(PROBE_VALUES, seed=0)
    for candidate in (
        ColumnType.INTEGER,
        ColumnType.FLOAT,
        ColumnType.BOOLEAN,
        ColumnType.DATE,
        ColumnType.DATETIME,
    ):
        if not _may_be(probe, candidate):
            continue
        try:
            typed = typed_values(given, candidate)
        except AmbiguousDatesError as exc:
            if exc.share >= INFERRED_SHARE:
                # dates for sure; the silver step says they are ambiguous
                return candidate, None
            continue
        if len(typed) - typed.null_count() >= INFERRED_SHARE * count:
            return candidate, TypedColumn(given, typed)
    return ColumnType.STRING, None


def _may_be(probe: pl.Series, kind: ColumnType) -> bool:
    """Whether a sample of a column's values (`probe`) leaves `kind` possible: when nearly all
    of a column casts, far more than PROBE_SHARE of such a sample does, so a type the sample
    rules out is not tried on the whole column."""
    try:
        typed = typed_values(probe, kind)
    except AmbiguousDatesError:
        return True
    return len(typed) - typed.null_count() >= PROBE_SHARE * len(probe)
