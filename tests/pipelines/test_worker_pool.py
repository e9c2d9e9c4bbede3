"""The worker pool on its own: workers that cannot start are retried with growing delays."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

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
