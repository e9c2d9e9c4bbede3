"""Run the platform on one machine: the API, the Dagster UI and daemon, and the MLflow UI."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from lakehouse.accounts.bootstrap import BootstrapResult, bootstrap
from lakehouse.logs import configure_logging
from lakehouse.ml.tracking import tracking_uri
from lakehouse.settings import Settings, child_env
from lakehouse.storage import uses_object_store
from lakehouse.store import MetadataStore
from pipelines.instance import create_dagster_storage

ROOT = Path(__file__).resolve().parents[1]
BANNER = "Strata is running"
# Two warm workers import every model library once; on two busy cores that takes a while.
STARTUP_TIMEOUT = 300.0
# A child that dies is started again after 1 s, then 2 s, 4 s ... up to 30 s while it keeps
# dying; one that stayed up for a minute had recovered, and starts over at 1 s.
FIRST_RESTART_DELAY, MAX_RESTART_DELAY, STABLE_AFTER = 1.0, 30.0, 60.0
# How long what a dead child started has to stop on SIGTERM before it is killed.
GROUP_GRACE = 5.0
# The daemon launches the Dagster-mode runs as its descendants, which inherit its niceness:
# a busy run then never takes the cores from the API.
DAEMON_NICENESS = 10

log = logging.getLogger("strata.platform")


def deployment(settings: Settings) -> str:
    """What the platform runs on, in a few words: `embedded defaults`, or its scale-out parts."""
    parts = []
    if not settings.database_url.startswith("sqlite"):
        parts.append("PostgreSQL")
    if uses_object_store(settings):
        parts.append("S3")
    if settings.query_engine == "trino":
        parts.append("Trino")
    if settings.run_launcher == "celery":
        parts.append("Celery workers")
    elif settings.run_mode == "dagster":
        parts.append("Dagster-launched runs")
    return ", ".join(parts) if parts else "embedded defaults"


@dataclass
class Child:
    """One process of the platform: how to start it, and when to start it again."""

    name: str
    command: list[str]
    env: dict[str, str]
    niceness: int = 0
    process: subprocess.Popen[bytes] = field(init=False)
    started_at: float = 0.0
    restarts: int = 0
    quick_deaths: int = 0
    """Deaths in a row, each before it had stayed up for STABLE_AFTER seconds."""
    next_start: float | None = None
    """When to start it again; None while it runs."""

    def spawn(self) -> None:
        niceness = self.niceness
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            # Set before the command runs, so everything it starts inherits it. The supervisor
            # runs no threads of its own, which is what makes preexec_fn safe here.
            preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
        )
        self.started_at, self.next_start = time.monotonic(), None
        log.info("%s started (pid %d)", self.name, self.process.pid)

    def has_exited(self) -> bool:
        return self.next_start is None and self.process.poll() is not None

    def exit_description(self) -> str:
        code = self.process.returncode
        return f"{self.name} (pid {self.process.pid}) exited with {_exit_status(code)}"

    def schedule_restart(self, now: float) -> float:
        """Set `next_start` after a delay that doubles with each quick death; return the delay."""
        if now - self.started_at >= STABLE_AFTER:
            self.quick_deaths = 0
        delay = min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * 2**self.quick_deaths)
        self.quick_deaths += 1
        self.next_start = now + delay
        return delay


class ProcessGroup:
    """Child processes, each leading its own process group: restarted when one exits after
    start-up, stopped together."""

    def __init__(self) -> None:
        self.children: dict[str, Child] = {}
        self.stopping = threading.Event()
        self._launched_by = os.getppid()

    def start(self, name: str, command: list[str], env: dict[str, str], niceness: int = 0) -> None:
        self.children[name] = child = Child(name, command, env, niceness)
        child.spawn()

    def exited(self) -> Child | None:
        return next((c for c in self.children.values() if c.has_exited()), None)

    def orphaned(self) -> bool:
        """Whoever started us (make, a shell) is gone, e.g. `make up` got SIGTERM."""
        return os.getppid() != self._launched_by

    def running(self) -> bool:
        """Neither asked to stop nor orphaned."""
        return not self.stopping.is_set() and not self.orphaned()

    def wait_until_up(
        self,
        url: str,
        deadline: float,
        is_up: Callable[[httpx.Response], bool] = lambda response: response.status_code == 200,
    ) -> httpx.Response | None:
        """Wait for `url` to answer as `is_up` wants by `deadline` (monotonic); None when
        asked to stop first."""
        last = "no answer"
        while self.running():
            # A death this early is nearly always the configuration (a port taken, a database
            # out of reach), which a restart would only repeat: say which child, and stop.
            if (child := self.exited()) is not None:
                raise SystemExit(f"{child.exit_description()} during start-up")
            try:
                response = httpx.get(url, timeout=2)
                if is_up(response):
                    return response
                last = response.text[:1000]
            except (httpx.HTTPError, ValueError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} was not up within {STARTUP_TIMEOUT:.0f}s: {last}")
            time.sleep(0.25)
        return None

    def supervise(self) -> None:
        """Restart each child that exits, after its back-off, until asked to stop or orphaned."""
        while self.running():
            now = time.monotonic()
            for child in self.children.values():
                if child.has_exited():
                    # What it started goes with it: MLflow's server process would hold the
                    # port, the daemon's code server and runs would outlive `make up`.
                    _signal_group(child.process, signal.SIGTERM)
                    _await_group(child.process, now + GROUP_GRACE)
                    delay = child.schedule_restart(now)
                    log.error("%s; restarting it in %.0f s", child.exit_description(), delay)
                elif child.next_start is not None and child.next_start <= now and self.running():
                    child.restarts += 1
                    log.warning("restarting %s (restart %d)", child.name, child.restarts)
                    child.spawn()
            time.sleep(0.5)

    def stop(self, grace: float = 15.0) -> None:
        # A child waiting for its restart had its group ended when it died. One that died
        # unseen still leads a group, maybe not empty (MLflow's server process).
        groups = [c.process for c in self.children.values() if c.next_start is None]
        for process in groups:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in groups:
            _await_group(process, deadline)


def _exit_status(code: int) -> str:
    if code >= 0:
        return f"code {code}"
    try:
        return f"code {code} ({signal.Signals(-code).name})"
    except ValueError:
        return f"code {code} (signal {-code})"


def _signal_group(leader: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signum)


def _await_group(leader: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait until the process group `leader` started is empty, SIGKILL what is left of it at
    `deadline` (monotonic). Its other members are not our children: only whether the group
    exists can be watched, and an unreaped leader would keep it in being."""
    while leader.poll() is None or _group_exists(leader.pid):
        if time.monotonic() >= deadline:
            _signal_group(leader, signal.SIGKILL)
            leader.wait()
            return
        time.sleep(0.1)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def login_hint(settings: Settings, first_start: BootstrapResult) -> str:
    if first_start.generated_password is not None:
        return (
            f"log in as '{first_start.admin_username}' with the generated password "
            f"{first_start.generated_password} (shown this once; change it with "
            "/api/v1/reset-password)"
        )
    if settings.admin_password is not None:
        return f"log in as '{settings.admin_username}' with STRATA_ADMIN_PASSWORD"
    return f"log in as '{settings.admin_username}' with the password shown at first start"


def main() -> int:
    configure_logging()
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    create_dagster_storage(settings)
    store = MetadataStore(settings.database_url)
    first_start = bootstrap(store, settings)
    store.dispose()
    # Shown before anything else can fail: the password exists from now on.
    print(f"\n{login_hint(settings, first_start)}\n", flush=True)

    group = ProcessGroup()

    def stop(signum: int, _: FrameType | None) -> None:
        group.stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    host, bin_dir, workspace = (
        settings.api_host,
        Path(sys.executable).parent,
        str(ROOT / "workspace.yaml"),
    )
    api, dagster = f"http://{host}:{settings.api_port}", f"http://{host}:{settings.dagster_port}"
    mlflow = f"http://127.0.0.1:{settings.mlflow_port}"
    dagster_env = child_env(settings)
    group.start(
        "api",
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
         "--host", host, "--port", str(settings.api_port), "--log-level", "warning"],
        child_env(settings, with_secrets=True),
    )  # fmt: skip
    group.start(
        "dagster-webserver",
        [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", host,
         "-p", str(settings.dagster_port)],
        dagster_env,
    )  # fmt: skip
    group.start(
        "dagster-daemon",
        [str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
        dagster_env,
        niceness=DAEMON_NICENESS,
    )
    # MLflow's UI shows every tenant's runs and has no tenancy of its own: it is an operator's
    # tool, reachable from this machine only. The store URI (and any password in it) goes
    # through the environment, not the command line every user can read. Its job runner (two
    # busy worker processes for MLflow's own server-side jobs, which Strata never submits)
    # stays off: it would take the cores from the first runs.
    group.start(
        "mlflow-ui",
        [str(bin_dir / "mlflow"), "server",
         "--default-artifact-root", settings.mlflow_artifact_root, "--host", "127.0.0.1",
         "--port", str(settings.mlflow_port), "--workers", "1"],
        {
            **dagster_env,
            "MLFLOW_BACKEND_STORE_URI": tracking_uri(settings),
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
    )  # fmt: skip
    try:
        # The banner comes once every part answers and the run workers have imported every
        # library they preload: from then on no request waits for a process still starting.
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for url in (
            f"{api}/api/v1/utils/health-check/",
            f"{dagster}/server_info",
            f"{mlflow}/health",
        ):
            if group.wait_until_up(url, deadline) is None:
                return 0
        health = group.wait_until_up(
            f"{api}/api/v1/utils/health",
            deadline,
            lambda response: response.json().get("status") != "starting",
        )
        if health is None:
            return 0
        for name, component in health.json().get("components", {}).items():
            if component.get("status") != "ok":  # e.g. no run workers: say so, and go on
                print(f"warning: {name}: {component.get('detail')}", file=sys.stderr, flush=True)
        quickstart = (
            f"  quickstart   {api}/   (no login, sandbox tenant '{settings.quickstart_tenant}')\n"
            if settings.quickstart
            else ""
        )
        print(
            f"\n{BANNER} on {deployment(settings)}\n"
            f"  API          {api}   (OpenAPI docs: {api}/schema/swagger)\n"
            f"  console      {api}/console   (datasets, datalake, models and runs)\n"
            f"  Dagster UI   {dagster}   (daemon running)\n"
            f"  MLflow UI    {mlflow}   (experiments and registered models)\n"
            f"{quickstart}"
            f"  data         {settings.data_dir}\n"
            f"  {login_hint(settings, first_start)}\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        group.supervise()
        return 0
    finally:
        group.stop()


if __name__ == "__main__":
    sys.exit(main())
