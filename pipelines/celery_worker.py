"""A Celery worker that executes Strata's Dagster runs, on any host sharing the platform's storage.

    python -m pipelines.celery_worker [--name NAME] [--concurrency N]

With STRATA_RUN_LAUNCHER=celery the daemon hands each run to Dagster's CeleryRunLauncher,
which queues it on the broker; a worker executes the whole run in one of its pool processes,
against the same Dagster instance, metadata store, catalog and buckets as the rest of the
platform (the same STRATA_* settings). A pool process that dies mid-run fails its task, and
the daemon's run monitoring then fails the run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
from types import FrameType
from typing import TYPE_CHECKING, Any

from dagster_celery.launcher import CeleryRunLauncher

from lakehouse.logs import configure_logging
from lakehouse.settings import Settings, child_env
from pipelines.instance import CELERY_QUEUE, celery_app_args, prepare_dagster_home

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("strata.celery")

# A pool process imports the job definitions and the libraries runs need before it takes a
# run; Celery's default of 4 s for that would restart it over and over.
PROCESS_START_SECONDS = 300


class CancellingCeleryRunLauncher(CeleryRunLauncher):
    """dagster-celery's launcher, recording a run as cancelling before it revokes the run's task,
    as Dagster's own launchers do. Without it the daemon took a cancelled run for one whose
    worker was lost, and failed it."""

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        return super().terminate(run_id)


def celery_app(settings: Settings) -> Celery:
    """The run launcher's Celery app, with its run tasks registered for a worker."""
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_execute_job_task, create_resume_job_task

    app = make_app(app_args=celery_app_args(settings))
    app.conf.worker_proc_alive_timeout = PROCESS_START_SECONDS
    create_execute_job_task(app)
    create_resume_job_task(app)
    return app


class _PoolProcess:
    """A pool process: warmed once, and told by SIGTERM (how Celery revokes a task, which is
    how the launcher cancels a run) to interrupt the run it executes, as Ctrl-C would. Dagster
    then ends the run cancelled instead of leaving it to the daemon as a lost worker's."""

    running = False

    @classmethod
    def start(cls, preload: list[str], **_: Any) -> None:
        signal.signal(signal.SIGTERM, cls.on_terminate)
        for module in ("pipelines.definitions", *preload):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                log.warning("could not preload %s: %s", module, exc)

    @classmethod
    def on_terminate(cls, signum: int, frame: FrameType | None) -> None:
        if cls.running:
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    @classmethod
    def task_started(cls, **_: Any) -> None:
        cls.running = True

    @classmethod
    def task_ended(cls, **_: Any) -> None:
        cls.running = False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="strata", help="worker name; the host is appended")
    parser.add_argument("--concurrency", type=int, default=1, help="runs at once")
    args = parser.parse_args(argv)

    configure_logging()
    settings = Settings()
    if settings.run_launcher != "celery":
        raise SystemExit("STRATA_RUN_LAUNCHER must be celery for a Celery run worker")
    prepare_dagster_home(settings)
    # The runs read the platform's settings, Dagster's home and the object store's keys from
    # the environment, as the embedded workers do.
    os.environ.update(child_env(settings))

    from celery.signals import task_postrun, task_prerun, worker_process_init

    preload = list(settings.worker_preload)
    worker_process_init.connect(lambda **kw: _PoolProcess.start(preload, **kw), weak=False)
    task_prerun.connect(_PoolProcess.task_started, weak=False)
    task_postrun.connect(_PoolProcess.task_ended, weak=False)
    app = celery_app(settings)
    app.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--queues={CELERY_QUEUE}",
            f"--concurrency={args.concurrency}",
            f"--hostname={args.name}@{socket.gethostname()}",
            "--prefetch-multiplier=1",
            "--without-gossip",
            "--without-mingle",
        ]
    )


if __name__ == "__main__":
    main()
