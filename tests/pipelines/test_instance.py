"""The Dagster instance's configuration, as Dagster itself reads it."""

from __future__ import annotations

from pathlib import Path

from dagster._core.run_coordinator import QueuedRunCoordinator

from pipelines.gateway import TENANT_TAG
from pipelines.instance import CONCURRENT_RUNS, TENANT_CONCURRENT_RUNS, open_instance
from tests.conftest import make_settings


def test_queue_limits_each_tenant_to_part_of_the_slots(tmp_path: Path) -> None:
    with open_instance(make_settings(tmp_path)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        limits = coordinator.get_run_queue_config()
        assert limits.max_concurrent_runs == CONCURRENT_RUNS
        assert list(limits.tag_concurrency_limits) == [
            {"key": TENANT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 5}
        ]
        assert 0 < TENANT_CONCURRENT_RUNS < CONCURRENT_RUNS
        # Embedded runs wait in the pool's own queue as NOT_STARTED: nothing may time them out.
        assert not instance.run_monitoring_enabled


def test_dagster_mode_monitors_runs_for_their_time_limit(tmp_path: Path) -> None:
    with open_instance(make_settings(tmp_path, run_mode="dagster")) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_poll_interval_seconds <= 5
        assert instance.run_monitoring_max_resume_run_attempts == 0
