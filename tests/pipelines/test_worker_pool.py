"""The worker pool on its own: start-up retries, tenants served in turn, run limits."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lakehouse.errors import TooManyRequestsError
from lakehouse.runs import SELFCHECK_JOB, selfcheck_run_config
from pipelines.definitions import job_named
from pipelines.gateway import LAUNCHER_TAG, TENANT_TAG
from pipelines.gateway.embedded import EmbeddedRunGateway
from tests.conftest import make_settings


def test_worker_dying_at_start_is_retried_with_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        tmp_path, workers=1, worker_preload=["tests.pipelines.exits_on_import"]
    )
    gateway = EmbeddedRunGateway(settings)
    caplog.set_level(logging.ERROR, logger="strata.runs")
    gateway.start()
    try:
        time.sleep(6)
        assert gateway.pool.ready_count == 0
        assert "0/1 workers ready" in gateway.health().detail
    finally:
        gateway.close()
    deaths = [r for r in caplog.records if "died while starting" in r.getMessage()]
    # Delays of 2 s then 4 s allow two or three starts in six seconds, not dozens.
    assert 1 <= len(deaths) <= 3
    assert "next start in 2s" in deaths[0].getMessage()


def test_runs_left_unfinished_by_an_earlier_pool_fail_at_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, workers=1)
    earlier = EmbeddedRunGateway(settings)
    job = job_named(SELFCHECK_JOB)
    orphan = earlier.instance.create_run_for_job(job, tags={LAUNCHER_TAG: "embedded"})
    foreign = earlier.instance.create_run_for_job(job, tags={LAUNCHER_TAG: "someone-else"})

    gateway = EmbeddedRunGateway(settings)
    gateway.start()
    try:
        assert gateway.status(orphan.run_id).status == "FAILURE"
        messages = [e.message for e in gateway.logs(orphan.run_id)]
        assert "the platform stopped before the run ended" in messages
        # A NOT_STARTED run the pool never held is canceled outright, not left CANCELING.
        assert gateway.status(foreign.run_id).status == "NOT_STARTED"
        assert gateway.cancel(foreign.run_id).status == "CANCELED"
    finally:
        gateway.close()


def test_logs_page_by_offset(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, workers=1)
    gateway = EmbeddedRunGateway(settings)
    gateway.start()
    try:
        run_id = gateway.submit(
            SELFCHECK_JOB, run_config=selfcheck_run_config(rows=3, hold_seconds=0.0)
        )
        deadline = time.monotonic() + 120
        while not gateway.status(run_id).is_finished:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        everything = gateway.logs(run_id, limit=10_000)
        pages = [gateway.logs(run_id, offset=o, limit=4) for o in range(0, len(everything), 4)]
        assert [e.message for page in pages for e in page] == [e.message for e in everything]
        assert gateway.logs(run_id, offset=len(everything)) == []
    finally:
        gateway.close()


def test_workers_take_runs_before_the_model_libraries_and_health_says_when_warm(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, workers=1, worker_preload=["pyarrow", "sklearn"])
    gateway = EmbeddedRunGateway(settings)
    gateway.start()
    try:
        starting = gateway.health()
        assert starting.status == "starting", starting
        assert "0/1 workers ready, 0/1 with the model libraries loaded" in starting.detail
        deadline = time.monotonic() + 120
        while gateway.health().status != "ok":
            assert time.monotonic() < deadline, gateway.health()
            time.sleep(0.05)
        assert "1/1 workers ready, 1/1 with the model libraries loaded" in gateway.health().detail
        assert gateway.pool.ready_count == gateway.pool.warm_count == 1
    finally:
        gateway.close()


def wait_until(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_free_worker_serves_tenants_in_turn_not_in_order_of_arrival(tmp_path: Path) -> None:
    gateway = EmbeddedRunGateway(make_settings(tmp_path, workers=1))
    gateway.start()
    try:
        wait_until(lambda: gateway.pool.ready_count == 1)
        blocker = gateway.submit(
            SELFCHECK_JOB, run_config=selfcheck_run_config(hold_seconds=2), tags={TENANT_TAG: "x"}
        )
        # Tenant a queues its whole backlog before b and c queue theirs.
        runs = {
            name: gateway.submit(
                SELFCHECK_JOB, run_config=selfcheck_run_config(), tags={TENANT_TAG: name[0]}
            )
            for name in ("a1", "a2", "a3", "b1", "b2", "c1")
        }
        assert [gateway.unfinished_runs(t) for t in ("x", "a", "b", "c", "d")] == [1, 3, 2, 1, 0]
        wait_until(lambda: all(gateway.status(r).is_finished for r in [blocker, *runs.values()]))
        views = {name: gateway.status(run_id) for name, run_id in runs.items()}
        assert {view.status for view in views.values()} == {"SUCCESS"}
        order = sorted(views, key=lambda name: views[name].start_time or 0.0)
        assert order == ["a1", "b1", "c1", "a2", "b2", "a3"]
        assert gateway.unfinished_runs("a") == 0
    finally:
        gateway.close()


def test_a_tenant_at_its_run_limit_is_refused_and_other_tenants_are_not(tmp_path: Path) -> None:
    gateway = EmbeddedRunGateway(make_settings(tmp_path, workers=1, tenant_run_limit=2))
    gateway.start()
    try:
        held = [
            gateway.submit(
                SELFCHECK_JOB,
                run_config=selfcheck_run_config(hold_seconds=60),
                tags={TENANT_TAG: "a"},
            )
            for _ in range(2)
        ]
        with pytest.raises(TooManyRequestsError) as refused:
            gateway.submit(SELFCHECK_JOB, run_config=selfcheck_run_config(), tags={TENANT_TAG: "a"})
        assert refused.value.message == (
            "this tenant has 2 runs queued or running, and STRATA_TENANT_RUN_LIMIT=2 allows no "
            "more; try again when one of them has finished"
        )
        assert refused.value.retry_after >= 1
        # The refused run was never created; another tenant, and runs of no tenant, have room.
        assert len(gateway.instance.get_runs()) == 2
        other = gateway.submit(
            SELFCHECK_JOB, run_config=selfcheck_run_config(), tags={TENANT_TAG: "b"}
        )
        untagged = gateway.submit(SELFCHECK_JOB, run_config=selfcheck_run_config())
        assert (gateway.unfinished_runs("a"), gateway.unfinished_runs("b")) == (2, 1)
        # A run of the tenant ending makes room for the next.
        assert gateway.cancel(held[1]).status in {"CANCELING", "CANCELED"}
        wait_until(lambda: gateway.unfinished_runs("a") == 1)
        again = gateway.submit(
            SELFCHECK_JOB, run_config=selfcheck_run_config(), tags={TENANT_TAG: "a"}
        )
        assert gateway.status(again).tags[TENANT_TAG] == "a"
        for run_id in (held[0], again, other, untagged):
            if not gateway.status(run_id).is_finished:
                gateway.cancel(run_id)
    finally:
        gateway.close()


def test_a_run_past_the_time_limit_fails_naming_it_and_its_worker_is_replaced(
    tmp_path: Path,
) -> None:
    gateway = EmbeddedRunGateway(make_settings(tmp_path, workers=1, run_time_limit_seconds=5))
    gateway.start()
    try:
        wait_until(lambda: gateway.pool.ready_count == 1)
        run_id = gateway.submit(SELFCHECK_JOB, run_config=selfcheck_run_config(hold_seconds=60))
        wait_until(lambda: gateway.status(run_id).status == "STARTED")
        pid = gateway.pool.worker_pid(run_id)
        assert pid is not None
        wait_until(lambda: gateway.status(run_id).is_finished, timeout=30)
        assert gateway.status(run_id).status == "FAILURE"
        messages = [e.message for e in gateway.logs(run_id, limit=10_000)]
        assert "run exceeded STRATA_RUN_TIME_LIMIT_SECONDS=5; its worker was stopped" in messages
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        # The replacement takes the next run.
        wait_until(lambda: gateway.pool.ready_count == 1)
        next_run = gateway.submit(SELFCHECK_JOB, run_config=selfcheck_run_config(rows=2))
        wait_until(lambda: gateway.status(next_run).is_finished)
        assert gateway.status(next_run).status == "SUCCESS"
    finally:
        gateway.close()


def test_runs_execute_at_a_lower_cpu_priority_than_the_api(tmp_path: Path) -> None:
    from pipelines.worker import NICENESS

    gateway = EmbeddedRunGateway(make_settings(tmp_path, workers=1))
    gateway.start()
    try:
        run_id = gateway.submit(SELFCHECK_JOB, run_config=selfcheck_run_config(hold_seconds=60))
        wait_until(lambda: gateway.status(run_id).status == "STARTED")
        pid = gateway.pool.worker_pid(run_id)
        assert pid is not None
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + NICENESS)
        gateway.cancel(run_id)
    finally:
        gateway.close()


def test_model_libraries_and_their_submodules_are_imported_once_the_worker_takes_runs() -> None:
    from lakehouse.settings import HEAVY_MODULES
    from pipelines.worker import _for_models

    assert [m for m in HEAVY_MODULES if not _for_models(m)] == [
        "pyarrow",
        "pyiceberg.catalog.sql",
        "polars",
        "great_expectations",
    ]
    later = [m for m in HEAVY_MODULES if _for_models(m)]
    assert "mlflow.store.tracking.sqlalchemy_store" in later
    assert "skops.io" in later  # a batch run's model file reads without building its table
