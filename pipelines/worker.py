"""A warm run worker: imports the heavy libraries once, then executes Dagster runs it is sent."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("strata.worker")

# Only models need these. A worker takes runs once the rest of its preload is imported (what
# validating an upload needs), and imports these while it has no run: the first upload after
# start waits for no model library, and the first training finds them loaded. A module is
# one of them when its top-level package is.
MODEL_MODULES = frozenset({"mlflow", "sklearn", "xgboost", "lightgbm", "shap", "skops"})
# Runs yield the cores to the API: on a busy machine a real-time request waits for no upload's
# ingestion, while an idle machine still gives a run every core.
NICENESS = 10


def _for_models(module: str) -> bool:
    return module.partition(".")[0] in MODEL_MODULES


def _preload(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        log.warning("worker could not preload %s: %s", module, exc)


def _preload_quietly(module: str) -> None:
    """Preload in the background: a library that fails to load fails the run that needs it,
    not the worker."""
    try:
        _preload(module)
    except Exception:
        log.exception("worker could not preload %s", module)


class _Channel:
    """The worker's end of the pipe, shared by the run loop and the warming thread."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, *message: Any) -> None:
        with self._lock:
            self.conn.send(message)


def _warm(modules: Sequence[str], running: threading.Lock, channel: _Channel) -> None:
    """Import `modules` one by one, each while no run executes (a run that arrives waits for
    the import under way, never races it); then say so."""
    try:
        for module in modules:
            with running:
                _preload_quietly(module)
    finally:
        channel.send("warm")


def _execute(instance: Any, run_id: str) -> None:
    from dagster import DagsterRunStatus, build_reconstructable_job

    # execute_run is the entry point Dagster's own run worker uses; the public execute_job
    # would create a second run instead of executing the one the gateway already created.
    from dagster._core.execution.api import execute_run

    run = instance.get_run_by_id(run_id)
    if run is None or run.status != DagsterRunStatus.NOT_STARTED:
        return
    job = build_reconstructable_job(
        "pipelines.definitions", "job_named", reconstructable_args=(run.job_name,)
    )
    try:
        execute_run(job, run, instance)
    except Exception as exc:  # execute_run records step failures; this is anything else
        log.exception("run %s crashed the executor", run_id)
        current = instance.get_run_by_id(run_id)
        if current is not None and not current.is_finished:
            instance.report_run_failed(current, f"executor error: {exc}")


def serve(conn: Connection, preload: list[str]) -> None:
    """Worker main loop: ('run', run_id) executes a run, ('stop',) or a closed pipe ends it."""
    # The supervisor decides when workers stop; a Ctrl-C in the terminal must not kill a run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(NICENESS)
    later = [module for module in preload if _for_models(module)]
    for module in preload:
        if module not in later:
            _preload(module)

    from dagster import DagsterInstance

    instance = DagsterInstance.get()
    importlib.import_module("pipelines.definitions")
    channel = _Channel(conn)
    running = threading.Lock()
    channel.send("ready", os.getpid(), not later)
    if later:
        threading.Thread(target=_warm, args=(later, running, channel), daemon=True).start()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] != "run":
            return
        run_id: str = message[1]
        with running:
            _execute(instance, run_id)
        channel.send("done", run_id)


if __name__ == "__main__":
    from lakehouse.logs import configure_logging
    from lakehouse.settings import Settings

    configure_logging()
    serve(Connection(int(sys.argv[1])), Settings().worker_preload)
