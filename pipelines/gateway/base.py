"""What every run gateway offers, and the plain records it answers with."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lakehouse.health import ComponentHealth

PARTITION_TAG = "dagster/partition"
TENANT_TAG = "strata/tenant"
LAUNCHER_TAG = "strata/launcher"
FINISHED_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})


@dataclass(frozen=True)
class RunView:
    """A Dagster run as the API shows it; `status` is Dagster's run status name."""

    run_id: str
    job_name: str
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)
    start_time: float | None = None
    end_time: float | None = None

    @property
    def partition_key(self) -> str | None:
        return self.tags.get(PARTITION_TAG)

    @property
    def tenant_id(self) -> str | None:
        return self.tags.get(TENANT_TAG)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True)
class RunEvent:
    """One entry of a run's event log."""

    timestamp: float
    level: str
    event_type: str | None
    step_key: str | None
    message: str


class RunGateway(ABC):
    """Starts Dagster jobs by name and reads their state back."""

    mode: str

    def start(self) -> None:  # noqa: B027 - optional hook
        """Acquire long-lived resources (worker processes, clients)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what `start` acquired."""

    @abstractmethod
    def submit(
        self,
        job_name: str,
        *,
        partition_key: str | None = None,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Start `job_name` and return its run id at once."""

    @abstractmethod
    def add_partition(self, partitions_def: str, key: str) -> None:
        """Make `key` a partition of the dynamic partitions definition `partitions_def`."""

    @abstractmethod
    def delete_partition(self, partitions_def: str, key: str) -> None:
        """Remove `key` from the dynamic partitions definition `partitions_def`, if present."""

    @abstractmethod
    def status(self, run_id: str) -> RunView:
        """The run's current state; NotFoundError when there is no such run."""

    @abstractmethod
    def logs(self, run_id: str, offset: int = 0, limit: int = 500) -> list[RunEvent]:
        """The run's events from position `offset` on."""

    @abstractmethod
    def cancel(self, run_id: str) -> RunView:
        """Ask the run to stop; a finished run is a ConflictError."""

    @abstractmethod
    def health(self) -> ComponentHealth:
        """Whether runs can be started right now."""


def run_tags(
    tags: Mapping[str, str] | None, partition_key: str | None, launcher: str
) -> dict[str, str]:
    merged = {str(k): str(v) for k, v in (tags or {}).items()}
    if partition_key is not None:
        merged[PARTITION_TAG] = partition_key
    merged[LAUNCHER_TAG] = launcher
    return merged
