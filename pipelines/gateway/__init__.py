"""The run gateway: submit, watch, read logs of and cancel Dagster runs, in either run mode."""

from __future__ import annotations

from lakehouse.settings import Settings
from pipelines.gateway.base import (
    FINISHED_STATUSES,
    LAUNCHER_TAG,
    PARTITION_TAG,
    TENANT_TAG,
    RunEvent,
    RunGateway,
    RunView,
)


def open_gateway(settings: Settings) -> RunGateway:
    """The gateway for `settings.run_mode`; Dagster itself is imported on first use."""
    if settings.run_mode == "dagster":
        from pipelines.gateway.remote import DagsterWebserverGateway

        return DagsterWebserverGateway(settings)
    from pipelines.gateway.embedded import EmbeddedRunGateway

    return EmbeddedRunGateway(settings)


__all__ = [
    "FINISHED_STATUSES",
    "LAUNCHER_TAG",
    "PARTITION_TAG",
    "TENANT_TAG",
    "RunEvent",
    "RunGateway",
    "RunView",
    "open_gateway",
]
