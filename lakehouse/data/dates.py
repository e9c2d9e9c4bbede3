"""Dates and periods as real files spell them, read into typed columns.

A column is read with one spelling, the one that reads most of its values: ISO dates and
date-times (with or without a zone), `YYYY-MM`, quarters (`2024 Q1`, `2024Q1`, `2024-Q1`),
month names (`Mar 2024`, `March 2024`), day-first or month-first dates, compact `YYYYMMDD`
and epoch seconds. Whether `03/04/2024` is day-first or month-first is decided by the
column's other values; a column that never says is ambiguous, and is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse.errors import InvalidInputError

if TYPE_CHECKING:
    import polars as pl

# Values a spelling is chosen on; the whole column is then read with the winner.
SAMPLE_VALUES = 2000
DAY_FIRST = "day-first"
MONTH_FIRST = "month-first"
_CLOCK = ("", " %H:%M", " %H:%M:%S%.f")


class AmbiguousDatesError(InvalidInputError):
    """Every date of a column reads as day-first and as month-first, to different dates."""

    def __init__(self, column: str, sample: str, share: float = 1.0) -> None:
        super().__init__(
            f"column '{column}': dates such as '{sample}' read both day-first and month-first, "
            "and no value in the column tells which; write them as YYYY-MM-DD, or give the "
            "column the type String",
            field=column,
        )
        self.column = column
        self.sample = sample
        self.share = share
        """The share of the column's given values that read as dates at all."""


@dataclass(frozen=True)
class Spelling:
    name: str
    read: Callable[[pl.Series], pl.Series]
    """Text (stripped, never null) to UTC date-times; what it cannot read is null."""


def _formats(*formats: str) -> Callable[[pl.Series], pl.Series]:
    def read(text: pl.Series) -> pl.Series:
        # Each format reads only what the ones before it could not: most columns need one.
        result = text.str.to_datetime(formats[0], strict=False, time_unit="us", time_zone="UTC")
        for spelled in formats[1:]:
            unread = (result.is_null() & text.is_not_null()).arg_true()
            if unread.is_empty():
                break
            attempt = text.gather(unread).str.to_datetime(
                spelled, strict=False, time_unit="us", time_zone="UTC"
            )
            result = result.scatter(unread, attempt)
        return result

    return read


def _epoch(text: pl.Series) -> pl.Series:
    import polars as pl

    seconds = text.str.extract(r"^([+-]?[0-9]{9,11})(?:\.0*)?$").cast(pl.Int64, strict=False)
    return pl.from_epoch(seconds, time_unit="s").dt.replace_time_zone("UTC").dt.cast_time_unit("us")


_QUARTER = (
    r"(?i)^(?:(?P<year>[0-9]{4})\s*[-/ ]?\s*Q(?P<quarter>[1-4])"
    r"|Q(?P<q>[1-4])\s*[-/ ]?\s*(?P<y>[0-9]{4}))$"
)


def _quarter(text: pl.Series) -> pl.Series:
    import polars as pl

    parts = text.str.extract_groups(_QUARTER)
    year = pl.coalesce(parts.struct.field("year"), parts.struct.field("y")).cast(pl.Int32)
    quarter = pl.coalesce(parts.struct.field("quarter"), parts.struct.field("q")).cast(pl.Int32)
    return pl.select(
        pl.datetime(year, quarter * 3 - 2, 1, time_unit="us", time_zone="UTC")
    ).to_series()


def _month_name(text: pl.Series) -> pl.Series:
    import polars as pl

    # "Mar 2024", "March 2024", "Mar-2024", "Sept 2024": read as the first of the month.
    spaced = text.str.replace(r"^([A-Za-z]{3,9})[ ./-]*([0-9]{4})$", "1 $1 $2")
    spaced = spaced.str.replace(r"(?i) sept ", " Sep ")
    return pl.select(
        pl.coalesce(
            spaced.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC")
            for f in ("%d %b %Y", "%d %B %Y")
        )
    ).to_series()


def _year_month(text: pl.Series) -> pl.Series:
    import polars as pl

    pattern = r"^([0-9]{4})[-/]([0-9]{1,2})$"
    first_of_month = pl.select(
        pl.when(text.str.contains(pattern)).then(text.str.replace(pattern, "$1-$2-01"))
    ).to_series()
    return _formats("%Y-%m-%d")(first_of_month)


def _numeric(order: str, clocks: tuple[str, ...] = ("",)) -> Callable[[pl.Series], pl.Series]:
    day, month = ("%d", "%m") if order == DAY_FIRST else ("%m", "%d")
    return _formats(*(f"{day}{sep}{month}{sep}%Y{clock}" for sep in "/-." for clock in clocks))


_ISO_DATE = ("%Y-%m-%d", "%Y/%m/%d")
DATE_SPELLINGS = (
    Spelling("ISO date", _formats(*_ISO_DATE)),
    Spelling("YYYY-MM", _year_month),
    Spelling("quarter", _quarter),
    Spelling("month name", _month_name),
    Spelling(DAY_FIRST, _numeric(DAY_FIRST)),
    Spelling(MONTH_FIRST, _numeric(MONTH_FIRST)),
    Spelling("YYYYMMDD", _formats("%Y%m%d")),
    Spelling("epoch seconds", _epoch),
)
DATETIME_SPELLINGS = (
    Spelling(
        "ISO date-time",
        _formats(
            *(
                f"%Y-%m-%d{sep}{clock}{zone}"
                for sep in "T "
                for clock in ("%H:%M:%S%.f", "%H:%M")
                for zone in ("", "%#z")
            ),
            *_ISO_DATE,
        ),
    ),
    *(
        Spelling(s.name, _numeric(s.name, _CLOCK)) if s.name in (DAY_FIRST, MONTH_FIRST) else s
        for s in DATE_SPELLINGS[1:]
    ),
)


def _read_with(spelling: Spelling, text: pl.Series) -> pl.Series:
    import polars as pl

    read = spelling.read(text)
    # A two-digit year or a year past 9999 is not what anyone meant.
    plausible = read.dt.year().is_between(1000, 9999)
    return pl.select(pl.when(plausible).then(read).otherwise(None)).to_series()


def read_dates(raw: pl.Series, *, with_time: bool) -> pl.Series:
    """`raw` text as UTC date-times (`with_time`) or dates; what does not read is null.

    AmbiguousDatesError when the column's dates read both day-first and month-first.
    """
    import polars as pl

    text = raw.cast(pl.String).str.strip_chars()
    given = text.drop_nulls()
    sample = given.head(SAMPLE_VALUES).unique(maintain_order=True)
    spellings = DATETIME_SPELLINGS if with_time else DATE_SPELLINGS
    # Every spelling holds a four-digit year (or the ten digits of epoch seconds).
    dated = sample.filter(sample.str.contains("[0-9]{4}"))
    counts = {s.name: _read_with(s, dated).count() if len(dated) else 0 for s in spellings}
    best = max(counts.values(), default=0)
    if not best:
        typed = pl.Series(raw.name, [None] * len(raw), dtype=pl.Datetime("us", "UTC"))
    else:
        winners = [s for s in spellings if counts[s.name] == best]
        chosen = winners[0]
        if {DAY_FIRST, MONTH_FIRST} <= {s.name for s in winners}:
            try:
                chosen = _day_or_month_first(raw.name, given.unique(maintain_order=True), spellings)
            except AmbiguousDatesError as exc:
                day_first = next(s for s in spellings if s.name == DAY_FIRST)
                share = _read_with(day_first, given).count() / len(given)
                raise AmbiguousDatesError(exc.column, exc.sample, share) from None
        if len(sample) > min(len(given), SAMPLE_VALUES) // 2:
            typed = _read_with(chosen, text)  # mostly distinct values: read them all
        else:
            distinct = given.unique()
            typed = text.replace_strict(
                distinct,
                _read_with(chosen, distinct),
                default=None,
                return_dtype=pl.Datetime("us", "UTC"),
            )
    if not with_time:
        typed = typed.dt.date()
    return typed.alias(raw.name)


def _day_or_month_first(
    column: str, distinct: pl.Series, spellings: tuple[Spelling, ...]
) -> Spelling:
    by_name = {s.name: s for s in spellings}
    day_first = _read_with(by_name[DAY_FIRST], distinct)
    month_first = _read_with(by_name[MONTH_FIRST], distinct)
    if day_first.count() > month_first.count():
        return by_name[DAY_FIRST]
    if month_first.count() > day_first.count():
        return by_name[MONTH_FIRST]
    differ = (day_first != month_first).fill_null(False)
    if not differ.any():  # 01/01/2024, 02/02/2024...: both readings agree
        return by_name[DAY_FIRST]
    raise AmbiguousDatesError(column, str(distinct.filter(differ)[0]))
