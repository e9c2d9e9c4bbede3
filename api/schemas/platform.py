"""Bodies of the platform's health and of runs."""

from __future__ import annotations

from api.schemas.base import Schema


class ComponentStatus(Schema):
    status: str
    detail: str


class HealthReport(Schema):
    status: str
    components: dict[str, ComponentStatus]


class RunSubmitted(Schema):
    run_id: str
    job_name: str
    status: str


class RunPublic(Schema):
    run_id: str
    job_name: str
    status: str
    is_finished: bool
    partition_key: str | None
    tags: dict[str, str]
    start_time: float | None
    end_time: float | None


class RunEventPublic(Schema):
    timestamp: float
    level: str
    event_type: str | None
    step_key: str | None
    message: str


class RunLogs(Schema):
    run_id: str
    status: str
    offset: int
    next_offset: int
    events: list[RunEventPublic]
