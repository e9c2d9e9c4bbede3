"""Pictures of a deployment's traffic and drift, drawn from the same documents the JSON routes
answer, as PNG images (matplotlib without a display)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lakehouse.charts import message_figure, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STATUS_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}
ANSWERED_COLOUR, ERROR_COLOUR = "#1565c0", "#c62828"
THRESHOLDS = (0.1, 0.25)  # PSI: green below the first, yellow below the second, else red


def stats_figure(name: str, document: dict[str, Any]) -> Figure:
    """Requests and errors per hour above, latency percentiles per hour below, over the
    whole range (hours without calls left empty)."""
    from matplotlib import dates

    from lakehouse.profiles.workbench.observability import RANGES

    stats = document["stats"]
    title = f"{name}: the last {document['range']}"
    if not stats:
        return message_figure(title, "No calls in this range")
    hours = [datetime.fromisoformat(s["hourBucket"]) for s in stats]
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - RANGES[document["range"]] - timedelta(hours=1)
    figure = new_figure(9, 6)
    calls, latency = figure.subplots(2, 1, sharex=True)
    width = timedelta(hours=0.9)
    served = [s["requestCount"] - s["errorCount"] for s in stats]
    errors = [s["errorCount"] for s in stats]
    calls.bar(hours, served, width=width, align="edge", color=ANSWERED_COLOUR, label="answered")
    calls.bar(
        hours, errors, width=width, align="edge", bottom=served, color=ERROR_COLOUR, label="errors"
    )
    calls.set_ylabel("calls per hour")
    calls.set_title(title)
    calls.legend(loc="upper left")
    middles = [hour + timedelta(minutes=30) for hour in hours]
    for key, style in (("latencyP50", "o-"), ("latencyP95", "s--"), ("latencyP99", "^:")):
        latency.plot(middles, [s[key] for s in stats], style, label=key.removeprefix("latency"))
    latency.set_ylabel("latency (ms)")
    latency.set_xlabel("hour (UTC)")
    latency.set_ylim(bottom=0)
    latency.legend(loc="upper left")
    latency.set_xlim(start, end)
    locator = dates.AutoDateLocator(tz=UTC)
    latency.xaxis.set_major_locator(locator)
    latency.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=UTC))
    return figure


def drift_figure(name: str, report: dict[str, Any]) -> Figure:
    """The PSI of every feature and of the predictions, coloured by status, with the
    thresholds drawn."""
    title = f"{name}: drift of the latest calls against the training data"
    if not report["available"]:
        return message_figure(
            title, f"Not enough calls yet: {report['found']} answered, {report['required']} needed"
        )
    rows = [*report["features"], report["predictionDrift"]][::-1]
    figure = new_figure(8, max(3.0, 0.4 * len(rows) + 1.5))
    axes = figure.subplots()
    colours = [STATUS_COLOURS[row["status"]] for row in rows]
    axes.barh([row["feature"] for row in rows], [row["psi"] for row in rows], color=colours)
    for threshold in THRESHOLDS:
        axes.axvline(threshold, color="#616161", linestyle="--", linewidth=1)
    axes.set_xlabel("population stability index (PSI)")
    axes.set_title(f"{title}\noverall: {report['overallStatus']}, {report['calls']} calls")
    return figure
