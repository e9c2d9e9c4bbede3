"""What every run gateway offers, and the plain records it answers with."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lakehouse.errors import TooManyRequestsError
from lakehouse.health import ComponentHealth
from lakehouse.settings import Settings

PARTITION_TAG = "dagster/partition"
TENANT_TAG = "strata/tenant"
LAUNCHER_TAG = "strata/launcher"
FINISHED_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
# A run usually ends within seconds to minutes; a client told to wait this long and try again
# neither hammers the API nor waits much past the first free place.
RETRY_AFTER_SECONDS = 10


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
    """Starts Dagster jobs by name and reads their state back; no tenant has more than
    `settings.tenant_run_limit` runs queued or running at once."""

    mode: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._tenant_locks: dict[str, threading.RLock] = {}
        self._tenant_locks_lock = threading.Lock()

    def start(self) -> None:  # noqa: B027 - optional hook
        """Acquire long-lived resources (worker processes, clients)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what `start` acquired."""

    def submit(
        self,
        job_name: str,
        *,
        partition_key: str | None = None,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Start `job_name` and return its run id at once; a run of a tenant (its TENANT_TAG)
        already at its limit is a TooManyRequestsError."""
        merged = run_tags(tags, partition_key, self.mode)
        with self.admission(merged.get(TENANT_TAG)):
            return self._launch(job_name, dict(run_config or {}), merged)

    @contextmanager
    def admission(self, tenant_id: str | None) -> Iterator[None]:
        """Room for one more run of the tenant, kept while the block runs: no other submit of
        the tenant in this process is counted until the block has submitted its run. A tenant
        at its limit is a TooManyRequestsError on entry; a run without a tenant has no limit."""
        if tenant_id is None:
            yield
            return
        with self._tenant_lock(tenant_id):
            limit = self.settings.tenant_run_limit
            count = self.unfinished_runs(tenant_id)
            if count >= limit:
                runs = "run" if count == 1 else "runs"
                raise TooManyRequestsError(
                    f"this tenant has {count} {runs} queued or running, and "
                    f"STRATA_TENANT_RUN_LIMIT={limit} allows no more; try again when one of them "
                    "has finished",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            yield

    def _tenant_lock(self, tenant_id: str) -> threading.RLock:
        # Reentrant: a request's own block holds it while `submit` inside counts again.
        with self._tenant_locks_lock:
            return self._tenant_locks.setdefault(tenant_id, threading.RLock())

    @abstractmethod
    def unfinished_runs(self, tenant_id: str) -> int:
        """How many runs of the tenant are queued or running."""

    @abstractmethod
    def _launch(self, job_name: str, run_config: dict[str, Any], tags: dict[str, str]) -> str:
        """Create the run with these tags (the tenant's place already checked) and start it."""

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
    def recent_runs(self, tenant_id: str, limit: int = 50) -> list[RunView]:
        """The tenant's latest runs, newest first."""

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
