"""Health of the service and its stores, and the platform self-check (module 4)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_503_SERVICE_UNAVAILABLE

from api import runs
from api.platform import Platform
from api.schemas.base import Message
from api.schemas.platform import ComponentStatus, HealthReport, RunSubmitted
from api.security import PUBLIC, requires_permission
from lakehouse import health
from lakehouse.runs import SELFCHECK_JOB
from lakehouse.states import WorkState


class UtilsController(Controller):
    path = "/api/v1/utils"
    tags = ["Utils"]

    @get("/health-check", operation_id="health_check", opt=PUBLIC)
    async def health_check(self) -> Message:
        """Answer when the API process is up."""
        return Message(status="ok", message="Service is healthy.")

    @get("/health", operation_id="health", opt=PUBLIC, sync_to_thread=True)
    def health(self, platform: Platform) -> Response[HealthReport]:
        """Reach the metadata store, the Dagster instance, the Iceberg catalog and MLflow; 503
        while one fails (degraded) or is still starting (starting)."""
        settings = platform.settings
        probes = (
            lambda: health.metadata_store(platform.store),
            platform.gateway.health,
            lambda: health.iceberg_catalog(settings),
            lambda: health.mlflow_tracking(settings),
        )
        with ThreadPoolExecutor(max_workers=len(probes)) as pool:
            results = list(pool.map(lambda probe: probe(), probes))
        states = {r.status for r in results}
        overall = next((s for s in ("error", "starting") if s in states), "ok")
        report = HealthReport(
            status="degraded" if overall == "error" else overall,
            components={r.name: ComponentStatus(status=r.status, detail=r.detail) for r in results},
        )
        status = HTTP_200_OK if report.status == "ok" else HTTP_503_SERVICE_UNAVAILABLE
        return Response(report, status_code=status)

    @post(
        "/self-check",
        operation_id="self_check",
        guards=[requires_permission("platform:selfcheck")],
        status_code=HTTP_202_ACCEPTED,
        sync_to_thread=True,
    )
    def self_check(
        self,
        platform: Platform,
        request: Request,
        rows: Annotated[int, Parameter(ge=1, le=100_000)] = 100,
        hold_seconds: Annotated[float, Parameter(ge=0, le=600)] = 0.0,
    ) -> RunSubmitted:
        """Start a run that writes rows to an Iceberg table and reads them back (platform admin)."""
        run_id = runs.start_selfcheck(platform, request.user, rows, hold_seconds)
        return RunSubmitted(run_id=run_id, job_name=SELFCHECK_JOB, status=WorkState.SUBMITTED)
