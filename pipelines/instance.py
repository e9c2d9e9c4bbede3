"""The Dagster instance every Strata process shares: its home directory and configuration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy.engine import make_url

from lakehouse.settings import Settings
from lakehouse.storage import bucket_and_prefix, export_aws_env, is_object_store
from lakehouse.store.engine import SCHEMA_LOCK
from pipelines.gateway.base import TENANT_TAG

if TYPE_CHECKING:
    from dagster import DagsterInstance

# Dagster's own default number of runs in progress at once.
CONCURRENT_RUNS = 10
# One tenant's runs hold at most half of them, so another tenant's run starts without waiting
# for a backlog to drain.
TENANT_CONCURRENT_RUNS = CONCURRENT_RUNS // 2
MONITORING_POLL_SECONDS = 5
# A cancelled Celery-launched run whose worker was stopped reports no end of its own: the daemon
# marks it cancelled after this long.
CANCEL_TIMEOUT_SECONDS = 20
CELERY_QUEUE = "dagster"


def celery_app_args(settings: Settings) -> dict[str, Any]:
    """The Celery app of the run launcher and of the workers, which must agree: broker,
    result backend (the daemon reads a run's task state from it) and queue."""
    from dagster_celery.config import DEFAULT_CONFIG

    return {
        "broker": settings.celery_broker_url,
        "backend": settings.celery_backend_url,
        "include": [],
        "config_source": {**DEFAULT_CONFIG, "task_acks_late": False},
        "task_default_queue": CELERY_QUEUE,
    }


def instance_config(settings: Settings) -> dict[str, Any]:
    """dagster.yaml for these settings: SQLite under the Dagster home, or PostgreSQL."""
    config: dict[str, Any] = {
        "telemetry": {"enabled": False},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "dequeue_interval_seconds": 1,
                "max_concurrent_runs": CONCURRENT_RUNS,
                "tag_concurrency_limits": [
                    {
                        "key": TENANT_TAG,
                        "value": {"applyLimitPerUniqueValue": True},
                        "limit": TENANT_CONCURRENT_RUNS,
                    }
                ],
            },
        },
    }
    if settings.run_mode == "dagster":
        # The daemon fails runs past their dagster/max_runtime tag (the gateway sets it from
        # STRATA_RUN_TIME_LIMIT_SECONDS). Only in this mode: embedded runs wait NOT_STARTED in
        # the pool's queue, which monitoring would time out, and the pool enforces their limit.
        config["run_monitoring"] = {
            "enabled": True,
            "poll_interval_seconds": MONITORING_POLL_SECONDS,
            "max_resume_run_attempts": 0,
            "cancel_timeout_seconds": CANCEL_TIMEOUT_SECONDS,
        }
    if settings.run_launcher == "celery":
        args = celery_app_args(settings)
        config["run_launcher"] = {
            "module": "pipelines.celery_worker",
            "class": "CancellingCeleryRunLauncher",
            "config": {
                "broker": args["broker"],
                "backend": args["backend"],
                "default_queue": args["task_default_queue"],
                "config_source": args["config_source"],
            },
        }
    if is_object_store(settings.dagster_compute_logs):
        bucket, prefix = bucket_and_prefix(settings.dagster_compute_logs)
        endpoint = settings.s3_endpoint or None
        config["compute_logs"] = {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": "S3ComputeLogManager",
            "config": {
                "bucket": bucket,
                "prefix": prefix or "dagster",
                "region": settings.s3_region,
                "endpoint_url": endpoint,
                "use_ssl": endpoint is None or endpoint.startswith("https:"),
                "local_dir": str(settings.dagster_dir / "compute_logs"),
            },
        }
    if settings.dagster_storage_url:
        # dagster-postgres is written for psycopg2; under psycopg 3, SQLAlchemy's default for
        # postgresql:// URLs, its connections close under it.
        url = make_url(settings.dagster_storage_url).set(drivername="postgresql+psycopg2")
        storage_url = url.render_as_string(hide_password=False)
        config["storage"] = {"postgres": {"postgres_url": storage_url}}
    else:
        # Dagster's SQLite layout under the home; only run databases start faster.
        config["event_log_storage"] = {
            "module": "pipelines.event_log",
            "class": "TemplatedSqliteEventLogStorage",
            "config": {"base_dir": str(settings.dagster_dir / "history" / "runs")},
        }
    return config


def prepare_dagster_home(settings: Settings) -> Path:
    """Write dagster.yaml into the Dagster home when it differs, and return the home."""
    home = settings.dagster_dir
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    text = yaml.safe_dump(instance_config(settings), sort_keys=True)
    if not target.exists() or target.read_text() != text:
        staged = target.with_suffix(".yaml.tmp")
        # It may name database and broker passwords: readable by this user only.
        staged.touch(mode=0o600)
        staged.write_text(text)
        staged.replace(target)
    return home


def open_instance(settings: Settings) -> DagsterInstance:
    from dagster import DagsterInstance

    export_aws_env(settings)  # for S3 compute logs: boto3 reads nothing else
    with SCHEMA_LOCK:  # a fresh instance migrates its SQLite storage with Alembic
        return DagsterInstance.from_config(str(prepare_dagster_home(settings)))


def create_dagster_storage(settings: Settings) -> Path:
    """Create the instance's storage before any Dagster process starts, and return the home.

    Dagster creates its storage when an instance first opens it; several processes doing so at
    once can leave two migration heads behind. Created first, the processes only open it.
    """
    open_instance(settings).dispose()
    return settings.dagster_dir
