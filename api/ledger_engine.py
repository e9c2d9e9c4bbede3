"""Strata's engine as a worker of the orchestrator profile: a thread of the API that claims
the uplets the engine can do, as any worker claims them, and starts a Dagster run for each on
the uplet's own partition (`ledger_learning_job` for a learnuplet, `ledger_prediction_job` for
a preduplet). The run reports the outcome to the ledger; a run that cannot start gives its
claim back, and a run that ended without a report (cancelled, killed, over its time limit) is
reported `failed` by the next round.

Every API process may run one: claims are atomic, so an uplet is done once."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from lakehouse.errors import NotFoundError, TooManyRequestsError
from lakehouse.profiles.ledger_engine import (
    LedgerTask,
    claim,
    held,
    ready,
    record_run,
    release,
    report_failure,
)
from lakehouse.runs import LEDGER_RUNS
from pipelines.gateway import TENANT_TAG

if TYPE_CHECKING:
    from api.platform import Platform

log = logging.getLogger("strata.ledger")
# A claim of the engine with no run this long after it was first seen lost its process
# between the claim and the run's start: it is given back.
UNSTARTED_SECONDS = 60.0


class LedgerEngineWorker:
    def __init__(self, platform: Platform, interval: float) -> None:
        self.platform = platform
        self.interval = interval
        self._stopping = threading.Event()
        self._unstarted: dict[LedgerTask, float] = {}
        self._thread = threading.Thread(target=self._loop, name="strata-ledger-engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.settle_ended()
                self.take_ready()
            except Exception:  # the store or Dagster is away for a moment: the next round retries
                log.warning("the ledger engine could not take uplets", exc_info=True)

    def take_ready(self) -> list[str]:
        """Claim every uplet the engine can do now and start its run; the run ids. A tenant at
        its run limit keeps its uplets unclaimed until a later round."""
        store, gateway = self.platform.store, self.platform.gateway
        with store.session(writes=False) as session:
            tasks = ready(session)
        started: list[str] = []
        waiting: set[str] = set()
        for task in tasks:
            if self._stopping.is_set():
                break
            if task.tenant_id in waiting:
                continue
            try:
                with gateway.admission(task.tenant_id):
                    with store.session() as session:
                        if not claim(session, task):
                            continue  # another worker was first
                    run_id = self._submit(task)
            except TooManyRequestsError:
                waiting.add(task.tenant_id)
                continue
            if run_id is not None:
                with store.session() as session:
                    record_run(session, task, run_id)
                log.info("%s %s of tenant %s: run %s", task.kind, task.uuid, task.tenant_id, run_id)
                started.append(run_id)
        return started

    def _submit(self, task: LedgerTask) -> str | None:
        """Start the claimed uplet's run; one that cannot start gives the claim back."""
        gateway, run = self.platform.gateway, LEDGER_RUNS[task.kind]
        try:
            gateway.add_partition(run.partitions, task.uuid)
            return gateway.submit(
                run.job,
                partition_key=task.uuid,
                run_config=run.run_config(task.tenant_id),
                tags={TENANT_TAG: task.tenant_id},
            )
        except Exception as exc:
            log.warning("the run of %s %s could not start: %s", task.kind, task.uuid, exc)
            with self.platform.store.session() as session:
                release(session, task)
            return None

    def settle_ended(self) -> None:
        """Report `failed` the engine's uplets whose run ended without reporting, and give back
        claims that never got a run."""
        store, gateway = self.platform.store, self.platform.gateway
        with store.session(writes=False) as session:
            holding = held(session)
        now = time.monotonic()
        unstarted = {task for task, run_id in holding if run_id is None}
        self._unstarted = {t: self._unstarted.get(t, now) for t in unstarted}
        for task, run_id in holding:
            if run_id is None:
                if now - self._unstarted[task] >= UNSTARTED_SECONDS:
                    with store.session() as session:
                        release(session, task)
                continue
            try:
                view = gateway.status(run_id)
                ended, how = view.is_finished, view.status
            except NotFoundError:
                ended, how = True, "gone from the Dagster instance"
            if ended:  # a run that finished well reported first: this one did not
                log.warning("%s %s: run %s ended without a report", task.kind, task.uuid, run_id)
                report_failure(store, task, f"run {run_id} ended without a report ({how})")
