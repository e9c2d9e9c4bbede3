"""The worker pool on its own: workers that cannot start are retried with growing delays."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from pipelines.definitions import job_named
from pipelines.gateway import LAUNCHER_TAG
from pipelines.gateway.embedded import EmbeddedRunGateway
from pipelines.names import SELFCHECK_JOB
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
            SELFCHECK_JOB, run_config={"ops": {"platform__selfcheck": {"config": {"rows": 3}}}}
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
