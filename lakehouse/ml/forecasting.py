"""Forecasting: a regression on each series' previous values and the calendar, the series'
time read in any spelling, its own frequency learned, and the dates it forecasts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.errors import InvalidInputError
from lakehouse.ml.spec import Attribute, ForecastSetup, Report, TrainedModel, TrainingSpec
from lakehouse.ml.training import check_target, fit_and_evaluate, split_rows

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from sklearn.pipeline import Pipeline

# Forecast models see this many previous values of the series, plus calendar features.
FORECAST_LAGS = 12
MIN_SERIES_ROWS = 5
CALENDAR = ("month", "day_of_year", "day_of_week")
INTERVAL_Z = 1.96  # a 95% prediction interval


def calendar_features(timestamps: pd.Series) -> pd.DataFrame:
    import pandas as pd

    moments = pd.to_datetime(timestamps)
    return pd.DataFrame(
        {
            "month": moments.dt.month.astype("float64"),
            "day_of_year": moments.dt.dayofyear.astype("float64"),
            "day_of_week": moments.dt.dayofweek.astype("float64"),
        },
        index=timestamps.index,
    )


def lag_names(lags: int) -> list[str]:
    return [f"lag_{k}" for k in range(1, lags + 1)]


def forecast_rows(values: np.ndarray, timestamps: pd.Series, lags: int) -> pd.DataFrame:
    """One row per observation after the first `lags`: the previous values and the calendar."""
    import numpy as np
    import pandas as pd

    windows = np.lib.stride_tricks.sliding_window_view(values, lags + 1)
    frame = pd.DataFrame(windows[:, :-1][:, ::-1], columns=lag_names(lags))
    calendar = calendar_features(timestamps.iloc[lags:].reset_index(drop=True))
    return pd.concat([frame, calendar], axis=1)


# Calendar periods by their length in days, and their pandas offsets (start, end of period).
PERIODS = (
    ("Hour", 1 / 24, "h", "h"),
    ("Day", 1.0, "D", "D"),
    ("Week", 7.0, "W", "W"),
    ("Month", 30.44, "MS", "ME"),
    ("Quarter", 91.31, "QS", "QE"),
    ("Year", 365.25, "YS", "YE"),
)


def infer_frequency(timestamps: pd.Series) -> str | None:
    """The series' own frequency as a pandas alias; gaps allowed (the usual step wins)."""
    import pandas as pd

    moments = pd.DatetimeIndex(pd.to_datetime(timestamps)).unique().sort_values()
    if len(moments) < 3:
        return None
    inferred = pd.infer_freq(moments)
    if inferred is not None:
        return str(inferred)
    step = pd.Series(moments[1:] - moments[:-1]).mode().iloc[0]
    days = step / pd.Timedelta(days=1)
    for _, length, start, end in PERIODS:
        if abs(days - length) <= length * 0.1:
            if start == "W":  # weeks on the series' own weekday
                return f"W-{moments[-1].day_name()[:3].upper()}"
            if start == end:
                return start
            return end if bool(moments.is_month_end.all()) else start
    return str(pd.tseries.frequencies.to_offset(step).freqstr)


def period_days(offset: Any) -> float:
    """An offset's usual step in days (a month is about 30.4)."""
    import pandas as pd

    start = pd.Timestamp("2001-01-01")
    return float((start + 12 * offset - start) / pd.Timedelta(days=1)) / 12


def same_period(asked: Any, learned: Any) -> bool:
    """Whether two offsets step by about the same time; one too large to step says no."""
    try:
        return abs(period_days(asked) / period_days(learned) - 1) <= 0.1
    except (ValueError, OverflowError, ZeroDivisionError):  # out of pandas' date range
        return False


def stepping(offset: Any, last: Any) -> Any:
    """The offset a forecast steps by from `last`: an anchored one (month starts, Sundays)
    when `last` is on its anchor, else the same length of time from `last` itself, so that
    no step is skipped or shortened."""
    import pandas as pd

    if offset.is_on_offset(last):
        return offset
    n = offset.n
    months = {"MonthBegin": 1, "MonthEnd": 1, "QuarterBegin": 3, "QuarterEnd": 3}
    months |= {"YearBegin": 12, "YearEnd": 12}
    name = type(offset).__name__
    if name in months:
        return pd.DateOffset(months=months[name] * n)
    if name == "Week":
        return pd.DateOffset(weeks=n)
    return offset


def frequency_name(alias: str) -> str:
    """A pandas alias as clients name frequencies (QS-JAN: Quarter), else the alias."""
    import pandas as pd

    days = period_days(pd.tseries.frequencies.to_offset(alias))
    for name, length, _, _ in PERIODS:
        if abs(days - length) <= length * 0.1:
            return name
    return alias


def moments(column: pa.ChunkedArray | pa.Array, name: str) -> pa.Array:
    """A Timestamp column as UTC date-times, whatever it holds: dates, date-times, text in any
    spelling `lakehouse.data.dates` reads, whole years (2019) or epoch seconds. A value that is
    none of these is refused, naming the column and the value."""
    import polars as pl
    import pyarrow as pa

    from lakehouse.data.dates import AmbiguousDatesError, read_dates

    values = pl.Series(name, column)
    if values.dtype == pl.Date or isinstance(values.dtype, pl.Datetime):
        read = values.cast(pl.Datetime("us")).dt.replace_time_zone(None)
    elif values.dtype.is_integer():
        # Whole years (2019), YYYYMMDD (20190301) or epoch seconds, by their digits.
        given = values.drop_nulls()
        if len(given) and given.is_between(1000, 9999).all():
            read = pl.select(pl.datetime(values, 1, 1, time_unit="us")).to_series()
        else:
            read = read_dates(values.cast(pl.String), with_time=True).dt.replace_time_zone(None)
    else:
        text = values.cast(pl.String).str.strip_chars().replace("", None)
        try:
            read = read_dates(text, with_time=True).dt.replace_time_zone(None)
        except AmbiguousDatesError as exc:
            raise InvalidInputError(exc.message, field="columns") from None
    unread = values.is_not_null() & read.is_null()
    if unread.any():
        sample = values.filter(unread)[0]
        raise InvalidInputError(
            f"Timestamp column '{name}' holds '{sample}', which is not a date or time; "
            "expected ISO dates or date-times, YYYY-MM, quarters (2024 Q1), month names "
            "(Mar 2024), day- or month-first dates, years or epoch seconds",
            field="columns",
        )
    return pa.array(read.to_arrow())


def forecast_series(
    table: pa.Table, spec: TrainingSpec
) -> tuple[pd.DataFrame, str, str | None, list[tuple[Any, pd.DataFrame]]]:
    """The rows a forecast learns from (target and time given, oldest first), its Timestamp
    and Series columns, and the rows of each series."""
    timestamp = spec.single(Attribute.TIMESTAMP)
    series = spec.single(Attribute.SERIES, required=False)
    assert timestamp is not None
    names = set(table.column_names)
    for column in (spec.target, timestamp, series):
        if column is not None and column not in names:
            raise InvalidInputError(
                f"column '{column}' is not in the dataset's validated table", field="columns"
            )
    rows = table.select([c for c in (spec.target, timestamp, series) if c])
    rows = rows.set_column(
        rows.column_names.index(timestamp), timestamp, moments(rows[timestamp], timestamp)
    )
    frame = rows.to_pandas()
    frame = frame[frame[spec.target].notna() & frame[timestamp].notna()]
    if frame.empty:
        raise InvalidInputError(
            f"no row has both a target '{spec.target}' and a time '{timestamp}'", field="columns"
        )
    check_target(frame[spec.target], spec)
    frame = frame.sort_values([timestamp], kind="stable").reset_index(drop=True)
    groups = [("", frame)] if series is None else list(frame.groupby(series, sort=True))
    return frame, timestamp, series, groups


def forecast_lags(groups: Sequence[tuple[Any, pd.DataFrame]], series: str | None) -> int:
    """How many previous values the model reads: up to FORECAST_LAGS, fewer for short series.
    A series too short to learn from is refused, naming it."""
    key, shortest = min(groups, key=lambda group: len(group[1]))
    if len(shortest) < MIN_SERIES_ROWS:
        which = f"series '{key}' of column '{series}'" if series else "the series"
        raise InvalidInputError(
            f"{which} has {len(shortest)} rows with a value and a time; a forecast needs at "
            f"least {MIN_SERIES_ROWS} per series",
            field="columns",
        )
    return min(FORECAST_LAGS, max(1, len(shortest) // 5))


def check_forecast(table: pa.Table, spec: TrainingSpec, *, counted: bool = True) -> None:
    """Refuse, before any run, a forecast its rows cannot train; `counted` False checks the
    columns only (an incremental training also learns from the rows it has)."""
    _, _, series, groups = forecast_series(table, spec)
    if not counted:
        return
    lags = forecast_lags(groups, series)
    rows = sum(len(group) - lags for _, group in groups)
    try:
        split_rows(rows, spec.seed, ordered=True)
    except InvalidInputError:
        raise InvalidInputError(
            f"the series leave {rows} rows to learn from after their first {lags} values; "
            "a forecast needs at least 6 (one series of 7 rows, say) to train, validate and test",
            field="columns",
        ) from None


def train_forecast(table: pa.Table, spec: TrainingSpec, report: Report) -> TrainedModel:
    """A regression on each series' previous values and the calendar, judged by forecasting
    the last rows of every series step by step (the hold-out horizon)."""
    import numpy as np
    import pandas as pd

    frame, timestamp, series, groups = forecast_series(table, spec)
    lags = forecast_lags(groups, series)
    parts, horizon = [], []
    for key, group in groups:
        values = group[spec.target].to_numpy(dtype=float)
        rows = forecast_rows(values, group[timestamp], lags)
        rows["_position"] = np.arange(lags, len(group))
        rows["_series"] = str(key)
        rows["_target"] = values[lags:]
        rows["_time"] = group[timestamp].to_numpy()[lags:]
        parts.append(rows)
    rows = pd.concat(parts, ignore_index=True).sort_values("_time", kind="stable")
    rows = rows.reset_index(drop=True)
    split = split_rows(len(rows), spec.seed, ordered=True)
    features = rows[[*lag_names(lags), *CALENDAR]]
    model = fit_and_evaluate(spec, features, rows["_target"].to_numpy(), None, split, report)
    model.metrics = {f"one_step_{name}": value for name, value in model.metrics.items()}
    model.rows_used = len(frame)
    # Spread of one-step errors on the test rows sets the prediction interval.
    residuals = model.evaluation.truth - model.evaluation.predicted if model.evaluation else []
    sigma = float(np.std(residuals)) if len(residuals) else 0.0
    # The hold-out horizon: from each series' first test row on, forecast step by step.
    start = rows.loc[split.test, "_time"].min()
    truth_all, forecast_all = [], []
    for _, group in groups:
        known = group[group[timestamp] < start]
        future = group[group[timestamp] >= start]
        if len(known) < lags or future.empty:
            continue
        history = known[spec.target].to_numpy(dtype=float)[-lags:]
        predicted = recursive_forecast(model.pipeline, history, future[timestamp], lags)
        truth_all.append(future[spec.target].to_numpy(dtype=float))
        forecast_all.append(predicted)
        horizon.append(len(future))
    if truth_all:
        truth, predicted = np.concatenate(truth_all), np.concatenate(forecast_all)
        errors = truth - predicted
        nonzero = truth != 0
        model.metrics.update(
            {
                "mae": float(np.mean(np.abs(errors))),
                "rmse": float(np.sqrt(np.mean(errors**2))),
                "mape": float(np.mean(np.abs(errors[nonzero] / truth[nonzero]))) * 100
                if nonzero.any()
                else float("nan"),
                "horizon": float(max(horizon)),
            }
        )
    model.forecast = ForecastSetup(
        target=spec.target,
        timestamp=timestamp,
        series=series,
        lags=lags,
        sigma=sigma,
        frequency=infer_frequency(frame[timestamp]),
        history={
            str(key): [
                (pd.Timestamp(t).isoformat(), float(v))
                for t, v in zip(
                    group[timestamp].iloc[-lags:], group[spec.target].iloc[-lags:], strict=True
                )
            ]
            for key, group in groups
        },
    )
    return model


def recursive_forecast(
    pipeline: Pipeline, history: np.ndarray, timestamps: pd.Series, lags: int
) -> np.ndarray:
    """Forecast one step at a time, each prediction becoming the next step's latest value."""
    import numpy as np
    import pandas as pd

    window = list(history[-lags:])
    calendar = calendar_features(pd.Series(pd.to_datetime(list(timestamps))))
    predictions = []
    for step in range(len(calendar)):
        row = pd.DataFrame([window[::-1][:lags]], columns=lag_names(lags))
        row = pd.concat([row, calendar.iloc[[step]].reset_index(drop=True)], axis=1)
        value = float(pipeline.predict(row)[0])
        predictions.append(value)
        window.append(value)
        window = window[-lags:]
    return np.asarray(predictions)


@dataclass(frozen=True)
class ForecastPoint:
    date: str
    value: float
    lower: float
    upper: float
    confidence: float = 0.95


# Frequencies as clients name them, as pandas offsets.
FREQUENCIES = {
    "hour": "h",
    "day": "D",
    "week": "W",
    "month": "MS",
    "quarter": "QS",
    "year": "YS",
}


def forecast(
    model: TrainedModel,
    unique_id: str | None,
    steps: int,
    frequency: str | None,
    history: list[tuple[str, float]] | None = None,
) -> list[ForecastPoint]:
    """The next `steps` values of a series after its latest known ones (from training, unless
    `history` is given), each with a 95% prediction interval widening with the horizon."""

    import pandas as pd

    setup = model.forecast
    if setup is None:
        raise InvalidInputError("this predictor does not forecast", field="train_id")
    key = unique_id or ""
    if history is None:
        if key not in setup.history:
            known = ", ".join(list(setup.history)[:10])
            raise InvalidInputError(
                f"unknown series '{key}'; known series include {known}", field="unique_id"
            )
        history = setup.history[key]
    if len(history) < setup.lags:
        raise InvalidInputError(
            f"series '{key}' has {len(history)} values; the model needs the last {setup.lags}",
            field="unique_id",
        )
    if not frequency and setup.frequency is None:
        raise InvalidInputError(
            "the series' own frequency could not be learned from its dates; send frequency",
            field="frequency",
        )
    offset = offset_of(frequency, setup.frequency)
    if setup.frequency is not None:
        learned = pd.tseries.frequencies.to_offset(setup.frequency)
        if frequency and not same_period(offset, learned):
            raise InvalidInputError(
                f"frequency '{frequency}' contradicts the series' own frequency, "
                f"{frequency_name(setup.frequency)} ('{setup.frequency}'), learned from its "
                "data; leave frequency out or send that one",
                field="frequency",
            )
        offset = learned  # the series' own anchoring: quarter starts stay quarter starts
    last = pd.Timestamp(history[-1][0])
    try:
        step = stepping(offset, last)
        dates = pd.DatetimeIndex([last + k * step for k in range(1, steps + 1)])
    except (ValueError, OverflowError) as exc:  # a zero step, or dates past pandas' range
        raise InvalidInputError(
            f"frequency '{frequency or setup.frequency}' cannot step {steps} times on from "
            f"{last.isoformat()}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            field="frequency",
        ) from exc
    if len(dates) != steps or (len(dates) and dates[0] <= last):
        raise InvalidInputError(
            f"frequency '{frequency}' does not move forward in time", field="frequency"
        )
    values = recursive_forecast(
        model.pipeline,
        np_array([value for _, value in history]),
        pd.Series(dates),
        setup.lags,
    )
    points = []
    for step, (moment, value) in enumerate(zip(dates, values, strict=True), start=1):
        spread = INTERVAL_Z * setup.sigma * math.sqrt(step)
        points.append(
            ForecastPoint(
                date=moment.date().isoformat()
                if moment == moment.normalize()
                else moment.isoformat(),
                value=float(value),
                lower=float(value - spread),
                upper=float(value + spread),
            )
        )
    return points


def offset_of(frequency: str | None, trained: str | None) -> Any:
    """A pandas offset for a client's frequency name ('Week', 'D'...), else the trained one."""
    import pandas as pd

    text = (frequency or "").strip()
    alias = FREQUENCIES.get(text.lower().removesuffix("ly").removesuffix("s"), text)
    if text.lower() == "daily":
        alias = "D"
    try:
        return pd.tseries.frequencies.to_offset(alias or trained)
    except (ValueError, TypeError):
        pass
    raise InvalidInputError(
        f"unknown frequency '{frequency}'; use one of {', '.join(f.title() for f in FREQUENCIES)}",
        field="frequency",
    )


def np_array(values: list[float]) -> np.ndarray:
    import numpy as np

    return np.asarray(values, dtype=float)
