"""Embedded run mode: warm worker processes execute runs recorded in the shared Dagster instance."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import cached_property
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from lakehouse.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)
from lakehouse.health import ComponentHealth, Starting, probe
from lakehouse.settings import Settings, child_env
from lakehouse.store.engine import SCHEMA_LOCK
from pipelines.gateway.base import LAUNCHER_TAG, TENANT_TAG, RunEvent, RunGateway, RunView
from pipelines.instance import open_instance

if TYPE_CHECKING:
    from dagster import DagsterInstance, DagsterRun

log = logging.getLogger("strata.runs")


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    ready: bool = False
    """It takes runs: it imported what validating data needs."""
    warm: bool = False
    """It imported every library it preloads, the model libraries too."""
    run_id: str | None = None
    tenant: str = ""
    deadline: float = 0.0
    """When (monotonic) its run passes the run time limit."""
    cancel_requested: bool = False
    timed_out: bool = False


def time_limit_message(limit: float) -> str:
    return f"run exceeded STRATA_RUN_TIME_LIMIT_SECONDS={limit:g}; its worker was stopped"


class WorkerPool:
    """Keeps `settings.workers` warm workers, hands queued runs to idle ones, replaces the dead
    and stops runs past the time limit.

    Each tenant has its own queue: a free worker takes the oldest run of the tenant with the
    fewest runs executing, and among those of the one served longest ago, so another tenant's
    run waits for the next worker to come free, not for a long backlog to drain. Runs without
    a tenant share the queue of the tenant "".
    """

    def __init__(self, settings: Settings, instance: DagsterInstance) -> None:
        self._settings = settings
        self._instance = instance
        self._lock = threading.RLock()
        self._workers: list[_Worker] = []
        self._queues: dict[str, deque[str]] = {}
        self._served: dict[str, int] = {}
        """The dispatch number of each tenant's latest run."""
        self._dispatched = 0
        self._stopping = threading.Event()
        # Workers that die before they are ready are replaced after a growing delay, so a
        # broken code location does not become a loop of heavy process starts.
        self._respawns: list[float] = []
        self._early_deaths = 0
        self._supervisor = threading.Thread(target=self._supervise, name="strata-runs", daemon=True)

    def start(self) -> None:
        self._fail_orphans()
        with self._lock:
            for _ in range(self._settings.workers):
                self._workers.append(self._spawn())
        self._supervisor.start()

    def _fail_orphans(self) -> None:
        """Runs an earlier pool accepted but never finished: its process is gone, so they failed."""
        from dagster import DagsterRunStatus, RunsFilter

        unfinished = RunsFilter(
            statuses=[
                DagsterRunStatus.NOT_STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.STARTED,
                DagsterRunStatus.CANCELING,
            ],
            tags={LAUNCHER_TAG: EmbeddedRunGateway.mode},
        )
        for run in self._instance.get_runs(filters=unfinished):
            if run.status == DagsterRunStatus.CANCELING:
                self._instance.report_run_canceled(run, "run canceled while the platform was down")
            else:
                self._instance.report_run_failed(run, "the platform stopped before the run ended")

    def _spawn(self) -> _Worker:
        parent, child = socket.socketpair()
        env = child_env(self._settings)
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.worker", str(child.fileno())],
            env=env,
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            # Signals meant for the API's process group must not kill runs behind its back:
            # workers stop when told to, or when the API's end of the pipe closes.
            start_new_session=True,
        )
        child.close()
        return _Worker(process=process, conn=Connection(parent.detach()))

    def enqueue(self, run_id: str, tenant: str = "") -> None:
        with self._lock:
            self._queues.setdefault(tenant, deque()).append(run_id)
            self._dispatch()

    def withdraw(self, run_id: str) -> bool:
        """Take a run that no worker has started off the queue."""
        with self._lock:
            for tenant, queue in self._queues.items():
                if run_id in queue:
                    queue.remove(run_id)
                    if not queue:
                        del self._queues[tenant]
                    return True
            return False

    def unfinished(self, tenant: str) -> int:
        """The tenant's runs queued or executing."""
        with self._lock:
            queued = len(self._queues.get(tenant, ()))
            return queued + sum(w.run_id is not None and w.tenant == tenant for w in self._workers)

    def stop_run(self, run_id: str) -> bool:
        """End the worker executing `run_id`; the supervisor records the run as canceled."""
        with self._lock:
            for worker in self._workers:
                if worker.run_id == run_id:
                    run = self._instance.get_run_by_id(run_id)
                    if run is not None and not run.is_finished:
                        self._instance.report_run_canceling(run)
                        worker.cancel_requested = True
                        _kill(worker.process)
                    return True
            return False

    def worker_pid(self, run_id: str) -> int | None:
        with self._lock:
            for worker in self._workers:
                if worker.run_id == run_id:
                    return worker.process.pid
            return None

    @property
    def ready_count(self) -> int:
        with self._lock:
            return sum(w.ready and w.process.poll() is None for w in self._workers)

    @property
    def warm_count(self) -> int:
        with self._lock:
            return sum(w.warm and w.process.poll() is None for w in self._workers)

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._queues:
                return
            if worker.ready and worker.run_id is None:
                tenant = self._next_tenant()
                run_id = self._queues[tenant].popleft()
                if not self._queues[tenant]:
                    del self._queues[tenant]
                try:
                    worker.conn.send(("run", run_id))
                except OSError:
                    # Its supervisor will bury it; the run keeps its place at the head.
                    self._queues[tenant] = deque([run_id, *self._queues.get(tenant, ())])
                    continue
                self._dispatched += 1
                self._served[tenant] = self._dispatched
                worker.run_id, worker.tenant = run_id, tenant
                worker.deadline = time.monotonic() + self._settings.run_time_limit_seconds

    def _next_tenant(self) -> str:
        executing: dict[str, int] = {}
        for worker in self._workers:
            if worker.run_id is not None:
                executing[worker.tenant] = executing.get(worker.tenant, 0) + 1
        return min(self._queues, key=lambda t: (executing.get(t, 0), self._served.get(t, 0)))

    def _stop_overdue(self) -> None:
        """Kill the worker of each run past the time limit; burying it fails the run."""
        now = time.monotonic()
        for worker in self._workers:
            if worker.run_id is None or worker.deadline > now or worker.timed_out:
                continue
            if worker.cancel_requested or worker.process.poll() is not None:
                continue
            run = self._instance.get_run_by_id(worker.run_id)
            if run is None or run.is_finished:
                continue  # its "done" is on the way
            log.warning(
                "run %s exceeded the run time limit of %gs; stopping worker %s",
                worker.run_id,
                self._settings.run_time_limit_seconds,
                worker.process.pid,
            )
            worker.timed_out = True
            _kill(worker.process)

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                connections: list[Any] = [w.conn for w in self._workers]
            for ready in wait(connections, timeout=0.5):
                with self._lock:
                    self._handle(ready)
            with self._lock:
                self._stop_overdue()
                now = time.monotonic()
                while self._respawns and self._respawns[0] <= now and not self._stopping.is_set():
                    self._respawns.pop(0)
                    self._workers.append(self._spawn())

    def _handle(self, ready: Any) -> None:
        """Read a worker's message; a closed connection means the worker has died."""
        for index, worker in enumerate(self._workers):
            if ready is not worker.conn:
                continue
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                if self._stopping.is_set():
                    return
                self._bury(worker)
                del self._workers[index]
                if worker.ready:
                    self._workers.append(self._spawn())
                else:
                    self._early_deaths += 1
                    delay = min(30.0, 2.0**self._early_deaths)
                    log.error("run worker died while starting; next start in %.0fs", delay)
                    self._respawns.append(time.monotonic() + delay)
            else:
                if message[0] == "ready":
                    worker.ready = True
                    worker.warm = bool(message[2])
                    self._early_deaths = 0
                elif message[0] == "warm":
                    worker.warm = True
                elif message[0] == "done":
                    worker.run_id = None
            self._dispatch()
            return

    def _bury(self, worker: _Worker) -> None:
        try:
            worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill(worker.process)
        worker.conn.close()
        if worker.run_id is None:
            log.warning("idle run worker %s exited; replacing it", worker.process.pid)
            return
        run = self._instance.get_run_by_id(worker.run_id)
        if run is None or run.is_finished:
            return
        if worker.cancel_requested:
            self._instance.report_run_canceled(run, "run canceled on request")
        elif worker.timed_out:
            self._instance.report_run_failed(
                run, time_limit_message(self._settings.run_time_limit_seconds)
            )
        else:
            code = worker.process.returncode
            self._instance.report_run_failed(
                run, f"run worker {worker.process.pid} died (exit code {code}) during the run"
            )

    def close(self) -> None:
        self._stopping.set()
        with self._lock:
            for run_id in [r for queue in self._queues.values() for r in queue]:
                run = self._instance.get_run_by_id(run_id)
                if run is not None and not run.is_finished:
                    self._instance.report_run_canceled(run, "platform stopped before the run began")
            self._queues.clear()
            for worker in self._workers:
                with contextlib.suppress(OSError):
                    worker.conn.send(("stop",))
            for worker in self._workers:
                try:
                    worker.process.wait(timeout=2 if worker.run_id is None else 0.1)
                except subprocess.TimeoutExpired:
                    _kill(worker.process)
                worker.conn.close()
                if worker.run_id is not None:
                    run = self._instance.get_run_by_id(worker.run_id)
                    if run is not None and not run.is_finished:
                        self._instance.report_run_failed(run, "platform stopped during the run")
            self._workers.clear()
        if self._supervisor.is_alive():
            self._supervisor.join(timeout=2)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill a worker with every process its run started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_view(run: DagsterRun, start_time: float | None, end_time: float | None) -> RunView:
    return RunView(
        run_id=run.run_id,
        job_name=run.job_name,
        status=run.status.value,
        tags=dict(run.tags),
        start_time=start_time,
        end_time=end_time,
    )


class EmbeddedRunGateway(RunGateway):
    """Creates runs in the shared Dagster instance and executes them on warm workers."""

    mode = "embedded"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._pool: WorkerPool | None = None
        self._started = threading.Lock()

    @cached_property
    def instance(self) -> DagsterInstance:
        return open_instance(self.settings)

    @property
    def pool(self) -> WorkerPool:
        with self._started:
            if self._pool is None:
                self._pool = WorkerPool(self.settings, self.instance)
                self._pool.start()
            return self._pool

    def start(self) -> None:
        """Spawn the workers now rather than on the first submit."""
        _ = self.pool

    def close(self) -> None:
        with self._started:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def unfinished_runs(self, tenant_id: str) -> int:
        pool = self._pool  # a pool not yet started holds no runs
        return pool.unfinished(tenant_id) if pool is not None else 0

    def _launch(self, job_name: str, run_config: dict[str, Any], tags: dict[str, str]) -> str:
        from dagster import DagsterInvalidConfigError
        from dagster._core.errors import DagsterInvariantViolationError

        from pipelines.definitions import job_named

        if self.settings.workers == 0:
            raise ServiceUnavailableError("no run workers: STRATA_WORKERS is 0")
        try:
            job = job_named(job_name)
        except DagsterInvariantViolationError as exc:
            raise NotFoundError(f"job '{job_name}' not found", field="job_name") from exc
        try:
            # Creating a run creates its SQLite event-log shard, which Dagster stamps with Alembic.
            with SCHEMA_LOCK:
                run = self.instance.create_run_for_job(job, run_config=run_config, tags=tags)
        except DagsterInvalidConfigError as exc:
            problems = "; ".join(error.message for error in exc.errors)
            raise InvalidInputError(
                f"run_config is invalid: {problems}", field="run_config"
            ) from exc
        self.pool.enqueue(run.run_id, tags.get(TENANT_TAG, ""))
        return run.run_id

    def add_partition(self, partitions_def: str, key: str) -> None:
        if not self.instance.has_dynamic_partition(partitions_def, key):
            self.instance.add_dynamic_partitions(partitions_def, [key])

    def delete_partition(self, partitions_def: str, key: str) -> None:
        if self.instance.has_dynamic_partition(partitions_def, key):
            self.instance.delete_dynamic_partition(partitions_def, key)

    def _run(self, run_id: str) -> DagsterRun:
        run = self.instance.get_run_by_id(run_id)
        if run is None:
            raise NotFoundError(f"run '{run_id}' not found", field="run_id")
        return run

    def status(self, run_id: str) -> RunView:
        record = self.instance.get_run_record_by_id(run_id)
        if record is None:
            raise NotFoundError(f"run '{run_id}' not found", field="run_id")
        return run_view(record.dagster_run, record.start_time, record.end_time)

    def recent_runs(self, tenant_id: str, limit: int = 50) -> list[RunView]:
        from dagster import RunsFilter

        records = self.instance.get_run_records(
            filters=RunsFilter(tags={TENANT_TAG: tenant_id}), limit=limit
        )
        return [run_view(r.dagster_run, r.start_time, r.end_time) for r in records]

    def logs(self, run_id: str, offset: int = 0, limit: int = 500) -> list[RunEvent]:
        from dagster._core.storage.event_log.base import EventLogCursor

        self._run(run_id)
        # An offset cursor reads just the page asked for, however long the log has grown.
        cursor = EventLogCursor.from_offset(offset).to_string() if offset else None
        page = self.instance.get_records_for_run(run_id, cursor=cursor, limit=limit)
        entries = [record.event_log_entry for record in page.records]
        return [
            RunEvent(
                timestamp=entry.timestamp,
                level=_level_name(entry.level),
                event_type=entry.dagster_event_type.name if entry.dagster_event_type else None,
                step_key=entry.step_key,
                message=entry.user_message or entry.message,
            )
            for entry in entries
        ]

    def cancel(self, run_id: str) -> RunView:
        run = self._run(run_id)
        if run.is_finished:
            raise ConflictError(f"run '{run_id}' has already finished as {run.status.value}")
        from dagster import DagsterRunStatus

        pool = self.pool
        if pool.withdraw(run_id) or run.status == DagsterRunStatus.NOT_STARTED:
            self.instance.report_run_canceled(run, "run canceled before it began")
        elif not pool.stop_run(run_id) and not self.instance.run_launcher.terminate(run_id):
            # Neither one of our workers' runs nor one Dagster's own launcher can stop.
            raise ConflictError(f"run '{run_id}' cannot be terminated from the API")
        return self.status(run_id)

    def health(self) -> ComponentHealth:
        def check() -> str:
            if self.settings.workers == 0:
                raise ServiceUnavailableError("no run workers: STRATA_WORKERS is 0")
            self.instance.get_runs_count()
            pool = self._pool
            ready = pool.ready_count if pool is not None else 0
            warm = pool.warm_count if pool is not None else 0
            wanted = self.settings.workers
            detail = (
                f"embedded: instance at {self.settings.dagster_dir}, {ready}/{wanted} workers "
                f"ready, {warm}/{wanted} with the model libraries loaded"
            )
            if warm < wanted:
                raise Starting(detail)
            return detail

        return probe("dagster", check)


def _level_name(level: int | str) -> str:
    return logging.getLevelName(level) if isinstance(level, int) else str(level)
