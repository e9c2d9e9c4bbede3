"""Strata's engine as a worker of the orchestrator profile: a thread of the API that claims
the learnuplets the engine can train, as any worker claims them, and starts a Dagster run for
each (`ledger_learning_job`, on the learnuplet's own partition). The run reports the outcome to
the ledger; a run that cannot start gives its claim back.

Every API process may run one: claims are atomic, so a learnuplet is trained once."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from lakehouse.errors import StrataError
from lakehouse.profiles.ledger_engine import (
    LedgerTask,
    claim,
    ready_learnuplets,
    record_run,
    release,
)
from lakehouse.runs import LEARNUPLET_PARTITIONS, LEDGER_LEARNING_JOB, ledger_learning_run_config
from pipelines.gateway import TENANT_TAG

if TYPE_CHECKING:
    from api.platform import Platform

log = logging.getLogger("strata.ledger")


class LedgerEngineWorker:
    def __init__(self, platform: Platform, interval: float) -> None:
        self.platform = platform
        self.interval = interval
        self._stopping = threading.Event()
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
                self.take_ready()
            except Exception:  # the store or Dagster is away for a moment: the next round retries
                log.warning("the ledger engine could not take learnuplets", exc_info=True)

    def take_ready(self) -> list[str]:
        """Claim every learnuplet the engine can train now and start its run; the run ids."""
        store = self.platform.store
        with store.session(writes=False) as session:
            ready = ready_learnuplets(session)
        started = []
        for task in ready:
            if self._stopping.is_set():
                break
            with store.session() as session:
                if not claim(session, task):
                    continue  # another worker was first
            run_id = self._start(task)
            if run_id is not None:
                started.append(run_id)
        return started

    def _start(self, task: LedgerTask) -> str | None:
        gateway = self.platform.gateway
        try:
            with gateway.admission(task.tenant_id):
                gateway.add_partition(LEARNUPLET_PARTITIONS, task.uuid)
                run_id = gateway.submit(
                    LEDGER_LEARNING_JOB,
                    partition_key=task.uuid,
                    run_config=ledger_learning_run_config(task.tenant_id),
                    tags={TENANT_TAG: task.tenant_id},
                )
        except StrataError as exc:  # the tenant's run limit, Dagster away: later, then
            log.info("learnuplet %s waits: %s", task.uuid, exc.message)
            with self.platform.store.session() as session:
                release(session, task)
            return None
        with self.platform.store.session() as session:
            record_run(session, task, run_id)
        log.info("learnuplet %s of tenant %s: run %s", task.uuid, task.tenant_id, run_id)
        return run_id
