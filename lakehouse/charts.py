"""Charts drawn on the server as PNG images, with matplotlib and no display: the pictures the
API answers with `format=png` and the console shows."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HISTOGRAM_BINS = 30
BAR_COLOUR = "#1565c0"
FORECAST_COLOUR = "#e65100"


def png(figure: Figure) -> bytes:
    """The figure as a PNG image."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def new_figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def message_figure(title: str, message: str) -> Figure:
    """A picture saying why there is nothing to draw."""
    figure = new_figure(7, 2.5)
    axes = figure.subplots()
    axes.set_axis_off()
    axes.set_title(title)
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, wrap=True)
    return figure


def histogram_figure(column: str, values: Any) -> Figure:
    """The distribution of a numeric column's values (nulls and non-finite ones left out)."""
    import numpy as np

    numbers = np.asarray(values, dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    title = f"{column}: {len(numbers):,} values"
    if not len(numbers):
        return message_figure(title, "No values to draw")
    figure = new_figure(6, 3.2)
    axes = figure.subplots()
    bins = min(HISTOGRAM_BINS, max(1, len(np.unique(numbers))))
    axes.hist(numbers, bins=bins, color=BAR_COLOUR, edgecolor="white")
    axes.set_title(title)
    axes.set_xlabel(column)
    axes.set_ylabel("rows")
    return figure


def forecast_figure(title: str, history: list[tuple[str, float]], points: list[Any]) -> Figure:
    """A series' latest known values, then its forecast with the prediction interval shaded."""
    import pandas as pd

    figure = new_figure(8, 3.8)
    axes = figure.subplots()
    known = pd.to_datetime([moment for moment, _ in history])
    axes.plot(known, [value for _, value in history], "o-", color=BAR_COLOUR, label="known")
    ahead = pd.to_datetime([point.date for point in points])
    axes.plot(ahead, [p.value for p in points], "o--", color=FORECAST_COLOUR, label="forecast")
    confidence = points[0].confidence if points else 0.95
    axes.fill_between(
        ahead,
        [p.lower for p in points],
        [p.upper for p in points],
        color=FORECAST_COLOUR,
        alpha=0.2,
        label=f"{confidence:.0%} interval",
    )
    axes.set_title(title)
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    return figure
