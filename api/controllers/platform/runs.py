"""Dagster runs seen through the run gateway: status, logs and termination (and module 12)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK

from api.platform import Platform
from api.schemas.base import Message
from api.schemas.platform import RunEventPublic, RunLogs, RunPublic
from api.security import requires_permission
from lakehouse.accounts.rbac import Principal
from lakehouse.errors import NotFoundError
from pipelines.gateway import RunView

# Far beyond any run's event count, and within what every store's integers hold.
MAX_LOG_OFFSET = 2**31 - 1


def visible_run(platform: Platform, principal: Principal, run_id: str) -> RunView:
    """The run if it belongs to the caller's tenant; any other run is not found."""
    view = platform.gateway.status(run_id)
    if not (principal.is_platform_admin or view.tenant_id == principal.tenant_id):
        raise NotFoundError(f"run '{run_id}' not found", field="run_id")
    return view


def run_public(view: RunView) -> RunPublic:
    return RunPublic(
        run_id=view.run_id,
        job_name=view.job_name,
        status=view.status,
        is_finished=view.is_finished,
        partition_key=view.partition_key,
        tags=dict(view.tags),
        start_time=view.start_time,
        end_time=view.end_time,
    )


class RunController(Controller):
    path = "/api/v1/runs"
    tags = ["Runs"]

    @get(
        "/{run_id:str}",
        operation_id="run_status",
        guards=[requires_permission("runs:read")],
        sync_to_thread=True,
    )
    def status(self, platform: Platform, request: Request, run_id: str) -> RunPublic:
        """A run's Dagster status, partition and timing."""
        return run_public(visible_run(platform, request.user, run_id))

    @get(
        "/{run_id:str}/logs",
        operation_id="run_logs",
        guards=[requires_permission("runs:read")],
        sync_to_thread=True,
    )
    def logs(
        self,
        platform: Platform,
        request: Request,
        run_id: str,
        offset: Annotated[int, Parameter(ge=0, le=MAX_LOG_OFFSET)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=5000)] = 500,
    ) -> RunLogs:
        """A run's event log from `offset`; poll again from `next_offset`."""
        view = visible_run(platform, request.user, run_id)
        events = platform.gateway.logs(run_id, offset=offset, limit=limit)
        return RunLogs(
            run_id=run_id,
            status=view.status,
            offset=offset,
            next_offset=offset + len(events),
            events=[RunEventPublic(**vars(e)) for e in events],
        )

    @post(
        "/{run_id:str}/terminate",
        operation_id="run_terminate",
        guards=[requires_permission("runs:cancel")],
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def terminate(self, platform: Platform, request: Request, run_id: str) -> RunPublic:
        """Cancel a queued or running run."""
        visible_run(platform, request.user, run_id)
        return run_public(platform.gateway.cancel(run_id))


class RayController(Controller):
    path = "/api/v1/ray"
    tags = ["Ray"]

    @post(
        "/terminate_ray_job",
        operation_id="terminate_ray_job",
        guards=[requires_permission("runs:cancel")],
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def terminate_ray_job(
        self,
        platform: Platform,
        request: Request,
        ray_job_id: Annotated[str, Parameter(min_length=1)],
        usage: Annotated[str, Parameter(min_length=1)],
    ) -> Message:
        """Cancel the Dagster run whose id is `ray_job_id` (kept for clients of the Ray API)."""
        visible_run(platform, request.user, ray_job_id)
        platform.gateway.cancel(ray_job_id)
        return Message(
            status="success",
            message=f"Termination request for Ray job '{ray_job_id}' has been sent.",
        )
