"""The console's run pages: the tenant's recent runs with their state and duration, each
linked to its page in the Dagster UI, and a run's log, followed live while it runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Template

from api.console.session import dagster_ui, page
from api.controllers.platform.runs import MAX_LOG_OFFSET, visible_run
from api.platform import Platform
from api.security import requires_permission
from pipelines.gateway import RunEvent, RunView

READ = [requires_permission("runs:read")]
RECENT = 50
LOG_PAGE = 1000


def run_row(request: Request[Any, Any, Any], view: RunView) -> dict[str, Any]:
    started = datetime.fromtimestamp(view.start_time, UTC) if view.start_time else None
    ended = view.end_time or (None if view.is_finished else datetime.now(UTC).timestamp())
    seconds = ended - view.start_time if view.start_time and ended else None
    return {
        "id": view.run_id,
        "job": view.job_name,
        "status": view.status,
        "finished": view.is_finished,
        "partition": view.partition_key,
        "started": started,
        "seconds": seconds,
        "dagster": f"{dagster_ui(request)}/runs/{view.run_id}",
    }


@get("/runs", guards=READ, sync_to_thread=True, include_in_schema=False)
def run_list(request: Request[Any, Any, Any], platform: Platform) -> Template:
    """The tenant's latest runs, newest first."""
    found = platform.gateway.recent_runs(request.user.tenant_id, RECENT)
    rows = [run_row(request, view) for view in found]
    return page(request, "runs.html", runs=rows, refresh=any(not r["finished"] for r in rows))


@get("/runs/{run_id:str}", guards=READ, sync_to_thread=True, include_in_schema=False)
def run_page(request: Request[Any, Any, Any], platform: Platform, run_id: str) -> Template:
    """A run and its log; while it runs, the page follows the log as it grows."""
    view = visible_run(platform, request.user, run_id)
    events = event_rows(platform.gateway.logs(run_id, limit=LOG_PAGE))
    follow = not view.is_finished or len(events) == LOG_PAGE  # running, or more lines to read
    return page(request, "run.html", run=run_row(request, view), events=events, follow=follow)


@get("/runs/{run_id:str}/events", guards=READ, sync_to_thread=True, include_in_schema=False)
def run_events(
    request: Request[Any, Any, Any],
    platform: Platform,
    run_id: str,
    offset: Annotated[int, Parameter(ge=0, le=MAX_LOG_OFFSET)] = 0,
) -> dict[str, Any]:
    """The run's log lines from `offset` on, and its state: what the run page polls."""
    view = visible_run(platform, request.user, run_id)
    events = platform.gateway.logs(run_id, offset=offset, limit=LOG_PAGE)
    return {
        "status": view.status,
        "finished": view.is_finished,
        "next_offset": offset + len(events),
        "events": event_rows(events),
    }


def event_rows(events: list[RunEvent]) -> list[dict[str, str]]:
    return [
        {
            "time": datetime.fromtimestamp(e.timestamp, UTC).strftime("%H:%M:%S"),
            "level": e.level,
            "step": e.step_key or "",
            "message": e.message,
        }
        for e in events
    ]


ROUTES = [run_list, run_page, run_events]
