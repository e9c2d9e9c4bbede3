"""A run worker that stops when its run is canceled, even when Dagster's interrupt was lost.

Dagster stops a run worker with one SIGINT. Python runs a signal handler between the bytecodes
of whichever frame is current, and an exception raised inside a finalizer or a weakref callback
(SQLAlchemy's connection pool runs many) is printed and dropped: that interrupt is lost, the
run stays CANCELING and its work goes on. While the run stays CANCELING, the watch interrupts
the worker again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import DagsterInstance

log = logging.getLogger(__name__)

# Long enough for Dagster's own interrupt to end a step that stops promptly.
RESEND_SECONDS = 5.0


def interrupt_this_process() -> None:
    os.kill(os.getpid(), signal.SIGINT)


class CancelWatch:
    """Every `resend_seconds`, interrupt this process again if the run was already CANCELING at
    the previous look."""

    def __init__(
        self,
        instance: DagsterInstance,
        run_id: str,
        resend_seconds: float = RESEND_SECONDS,
        interrupt: Callable[[], None] = interrupt_this_process,
    ) -> None:
        self._instance = instance
        self._run_id = run_id
        self._resend_seconds = resend_seconds
        self._interrupt = interrupt
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cancel-watch", daemon=True)

    def start(self) -> CancelWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._resend_seconds)

    def _watch(self) -> None:
        from dagster import DagsterRunStatus

        was_canceling = False
        while not self._stopped.wait(self._resend_seconds):
            try:
                run = self._instance.get_run_by_id(self._run_id)
            except Exception:  # a busy store: look again at the next beat
                log.warning("cancel watch could not read run %s", self._run_id, exc_info=True)
                continue
            if run is None or run.is_finished:
                return
            canceling = run.status == DagsterRunStatus.CANCELING
            if canceling and was_canceling and not self._stopped.is_set():
                self._interrupt()
            was_canceling = canceling
