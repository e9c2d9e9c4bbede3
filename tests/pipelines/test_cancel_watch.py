"""The cancel watch repeats the interrupt while a run stays CANCELING, and only then."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from resources.cancellation import CancelWatch

BEAT = 0.05


class Interrupts:
    """Counts the interrupts the watch sends instead of signalling the test process."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    with DagsterInstance.local_temp(str(tmp_path)) as local:
        yield local


@pytest.fixture
def run(instance: DagsterInstance) -> DagsterRun:
    return instance.add_run(DagsterRun(job_name="held", status=DagsterRunStatus.STARTED))


def wait_until(holds: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(BEAT / 5)


def test_a_running_run_is_never_interrupted(instance: DagsterInstance, run: DagsterRun) -> None:
    interrupts = Interrupts()
    watch = CancelWatch(instance, run.run_id, resend_seconds=BEAT, interrupt=interrupts).start()
    time.sleep(BEAT * 10)
    watch.stop()
    assert interrupts.count == 0


def left_canceling(instance: DagsterInstance, run: DagsterRun) -> None:
    instance.report_run_canceling(run)  # and Dagster's one interrupt was lost


def failed_at_its_time_limit(instance: DagsterInstance, run: DagsterRun) -> None:
    # As Dagster's monitoring daemon does: CANCELING, one interrupt, then FAILURE at once.
    instance.report_run_canceling(run)
    instance.report_run_failed(run, "Exceeded maximum runtime of 2 seconds.")


def marked_canceled(instance: DagsterInstance, run: DagsterRun) -> None:
    # As the UI's "mark as canceled immediately" does.
    instance.report_run_canceling(run)
    instance.report_run_canceled(run)


@pytest.mark.parametrize("end", [left_canceling, failed_at_its_time_limit, marked_canceled])
def test_a_run_ended_from_outside_is_interrupted_until_its_worker_stops(
    instance: DagsterInstance,
    run: DagsterRun,
    end: Callable[[DagsterInstance, DagsterRun], None],
) -> None:
    interrupts = Interrupts()
    watch = CancelWatch(instance, run.run_id, resend_seconds=BEAT, interrupt=interrupts).start()
    end(instance, run)
    wait_until(lambda: interrupts.count >= 3)  # one a beat while the worker is still at work
    watch.stop()


def test_a_stopped_watch_sends_nothing_more(instance: DagsterInstance, run: DagsterRun) -> None:
    interrupts = Interrupts()
    watch = CancelWatch(instance, run.run_id, resend_seconds=BEAT, interrupt=interrupts).start()
    instance.report_run_canceling(run)
    wait_until(lambda: interrupts.count >= 1)
    watch.stop()  # the run's resources are torn down: its steps are over
    sent = interrupts.count
    time.sleep(BEAT * 4)
    assert interrupts.count == sent
    assert not watch._thread.is_alive()
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.CANCELING  # type: ignore[union-attr]
