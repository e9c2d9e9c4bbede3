"""A forecast's time: Timestamp columns in any spelling, the series' own frequency, and the
dates it forecasts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse.errors import InvalidInputError
from lakehouse.ml.forecasting import check_forecast, forecast, moments
from lakehouse.ml.spec import Algorithm, Attribute, ColumnRole, ProblemType, TrainingSpec
from lakehouse.ml.training import train

SPEC = TrainingSpec(
    ProblemType.FORECAST,
    [ColumnRole("when", Attribute.TIMESTAMP), ColumnRole("value", Attribute.TARGET)],
    Algorithm.LINEAR,
)


def series(when: list[Any]) -> pa.Table:
    values = 50 + np.arange(len(when)) * 1.5 + np.sin(np.arange(len(when)))
    return pa.table({"when": when, "value": values})


def test_integer_timestamps_are_years_compact_dates_or_epoch_seconds() -> None:
    def read(values: list[int]) -> list[Any]:
        return [pd.Timestamp(v) for v in moments(pa.array(values), "when").to_pylist()]

    assert read([2019, 2020]) == [pd.Timestamp("2019-01-01"), pd.Timestamp("2020-01-01")]
    assert read([20240301, 20240302]) == [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-02")]
    assert read([1709251200]) == [pd.Timestamp("2024-03-01")]
    with pytest.raises(InvalidInputError, match="'when' holds '1'"):
        moments(pa.array([1, 2, 3]), "when")


def test_a_gappy_weekly_series_forecasts_on_its_own_weekday() -> None:
    mondays = list(pd.date_range("2023-01-02", periods=60, freq="W-MON"))
    del mondays[20], mondays[40]  # gaps: pandas cannot infer the frequency
    model = train(series([m.date() for m in mondays]), SPEC)
    assert model.forecast is not None and model.forecast.frequency == "W-MON"
    points = forecast(model, None, 3, None)
    dates = [pd.Timestamp(p.date) for p in points]
    assert dates == [mondays[-1] + pd.Timedelta(weeks=k) for k in (1, 2, 3)]
    # A monthly series on the 15th steps a month at a time from its last date.
    fifteenths = [
        d + pd.Timedelta(days=14) for d in pd.date_range("2020-01-01", periods=40, freq="MS")
    ]
    del fifteenths[10]
    model = train(series([d.date() for d in fifteenths]), SPEC)
    dates = [pd.Timestamp(p.date) for p in forecast(model, None, 2, "Month")]
    assert dates == [pd.Timestamp("2023-05-15"), pd.Timestamp("2023-06-15")]


def test_frequencies_that_cannot_step_are_refused_not_raised() -> None:
    model = train(series(list(pd.date_range("2020-01-01", periods=30, freq="MS").date)), SPEC)
    for frequency in ("99999999YS", "999999999D", "0D", "Day"):
        with pytest.raises(InvalidInputError) as raised:
            forecast(model, None, 2, frequency)
        assert raised.value.field == "frequency"


def test_a_series_too_short_to_split_is_refused_with_what_it_needs() -> None:
    table = series(list(pd.date_range("2020-01-01", periods=6, freq="MS").date))
    with pytest.raises(InvalidInputError, match="needs at least 6"):
        check_forecast(table, SPEC)
    with pytest.raises(InvalidInputError, match="at least 5 per series"):
        check_forecast(series(["2024 Q1", "2024 Q2", "2024 Q3"]), SPEC)
    # An incremental training checks the columns only: it learns from older rows too.
    check_forecast(series(["2024 Q1", "2024 Q2", "2024 Q3"]), SPEC, counted=False)
