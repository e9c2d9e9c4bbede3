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

# Long enough for Dagster's own interrupt to end a step that stops promptly, and to let a
# step that was interrupted clean up before it is interrupted again.
RESEND_SECONDS = 10.0


def interrupt_this_process() -> None:
    os.kill(os.getpid(), signal.SIGINT)


class CancelWatch:
    """Every `resend_seconds`, interrupt this process again if its run was already being ended
    from outside at the previous look.

    A run is ended from outside when it reads CANCELING, or reads finished while its worker is
    still at work: the worker writes its own final status only after its resources, and so
    this watch, have stopped. Dagster's time limit and its "mark as canceled" write FAILURE or
    CANCELED straight after their one interrupt.
    """

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
        # Held while sending: once stop() returns, no interrupt is on its way.
        self._sending = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="cancel-watch", daemon=True)

    def start(self) -> CancelWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._sending:
            self._stopped.set()

    def _watch(self) -> None:
        from dagster import DagsterRunStatus

        was_ending = False
        while not self._stopped.wait(self._resend_seconds):
            try:
                run = self._instance.get_run_by_id(self._run_id)
            except Exception:  # a busy store: look again at the next beat
                log.warning("cancel watch could not read run %s", self._run_id, exc_info=True)
                continue
            if run is None:
                return
            ending = run.status == DagsterRunStatus.CANCELING or run.is_finished
            if ending and was_ending:
                with self._sending:
                    if self._stopped.is_set():
                        return
                    self._interrupt()
            was_ending = ending
