"""Dates and periods in the spellings real files use, one spelling per column."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from lakehouse.data.dates import AmbiguousDatesError, read_dates


def dates(*values: str | None) -> list[date | None]:
    read: list[date | None] = read_dates(pl.Series("d", values), with_time=False).to_list()
    return read


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("2024-03-01", "2024/03/02"), [date(2024, 3, 1), date(2024, 3, 2)]),
        (("2024-03", "2024-11"), [date(2024, 3, 1), date(2024, 11, 1)]),
        (
            ("2024 Q1", "2024Q2", "2024-Q3", "q4 2024"),
            [date(2024, 1, 1), date(2024, 4, 1), date(2024, 7, 1), date(2024, 10, 1)],
        ),
        (
            ("Mar 2024", "March 2024", "Sep-2024"),
            [date(2024, 3, 1), date(2024, 3, 1), date(2024, 9, 1)],
        ),
        (("03/04/2024", "13/04/2024"), [date(2024, 4, 3), date(2024, 4, 13)]),
        (("03/04/2024", "04/13/2024"), [date(2024, 3, 4), date(2024, 4, 13)]),
        (("01.02.2024", "25.12.2024"), [date(2024, 2, 1), date(2024, 12, 25)]),
        (("20240301",), [date(2024, 3, 1)]),
        (("1709251200",), [date(2024, 3, 1)]),
        ((" 2024-03-01 ", None), [date(2024, 3, 1), None]),
    ],
)
def test_each_spelling_reads(values: tuple[str, ...], expected: list[date | None]) -> None:
    assert dates(*values) == expected


def test_a_column_is_read_in_the_spelling_most_of_it_uses() -> None:
    # A value in another spelling, or one that is no date at all, does not read.
    assert dates("2024 Q1", "2024 Q2", "2024 Q3", "2024-05-01", "soon") == [
        date(2024, 1, 1),
        date(2024, 4, 1),
        date(2024, 7, 1),
        None,
        None,
    ]
    assert dates("2024-02-30", "2024-02-28", "0024-01-01") == [None, date(2024, 2, 28), None]


def test_date_times_with_and_without_zones_are_utc() -> None:
    read = read_dates(
        pl.Series(
            "t",
            [
                "2024-03-01T10:00:00Z",
                "2024-03-01 10:00",
                "2024-03-01T10:00:00+02:00",
                "2024-03-01T10:00:00.250",
                "2024-03-01",
            ],
        ),
        with_time=True,
    ).to_list()
    assert read == [
        datetime(2024, 3, 1, 10, tzinfo=UTC),
        datetime(2024, 3, 1, 10, tzinfo=UTC),
        datetime(2024, 3, 1, 8, tzinfo=UTC),
        datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC),
        datetime(2024, 3, 1, tzinfo=UTC),
    ]
    # A Date column does not take a time of day.
    assert dates("2024-03-01T10:00:00", "2024-03-02") == [None, date(2024, 3, 2)]


def test_a_column_that_never_says_day_or_month_first_is_ambiguous() -> None:
    with pytest.raises(AmbiguousDatesError) as raised:
        dates("01/02/2024", "03/04/2024", None)
    assert raised.value.column == "d" and raised.value.sample == "01/02/2024"
    assert "day-first and month-first" in raised.value.message
    # Dates that read the same either way are not ambiguous.
    assert dates("01/01/2024", "02/02/2024") == [date(2024, 1, 1), date(2024, 2, 2)]


def test_a_large_column_is_read_through_its_distinct_values() -> None:
    values = [f"2024-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)] * 500
    read = read_dates(pl.Series("d", values), with_time=False)
    assert read.null_count() == 0 and read[0] == date(2024, 1, 1) and read[-1] == date(2024, 12, 28)
