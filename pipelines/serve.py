"""Run the platform on one machine: the API, the Dagster UI and daemon, and the MLflow UI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import httpx

from lakehouse.bootstrap import BootstrapResult, bootstrap
from lakehouse.logs import configure_logging
from lakehouse.settings import Settings, child_env
from lakehouse.store import MetadataStore
from lakehouse.tracking import tracking_uri
from pipelines.instance import create_dagster_storage

ROOT = Path(__file__).resolve().parents[1]
BANNER = "Strata is running on embedded defaults"
# Two warm workers import every model library once; on two busy cores that takes a while.
STARTUP_TIMEOUT = 300.0


class ProcessGroup:
    """Child processes, each leading its own process group, stopped together."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()
        self._launched_by = os.getppid()

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.children[name] = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)

    def exited(self) -> str | None:
        return next((n for n, p in self.children.items() if p.poll() is not None), None)

    def orphaned(self) -> bool:
        """Whoever started us (make, a shell) is gone, e.g. `make up` got SIGTERM."""
        return os.getppid() != self._launched_by

    def wait_until_up(
        self,
        url: str,
        deadline: float,
        is_up: Callable[[httpx.Response], bool] = lambda response: response.status_code == 200,
    ) -> httpx.Response | None:
        """Wait for `url` to answer as `is_up` wants by `deadline` (monotonic); None when
        asked to stop first."""
        last = "no answer"
        while not self.stopping.is_set() and not self.orphaned():
            if (name := self.exited()) is not None:
                raise SystemExit(f"{name} exited during start-up")
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

    def stop(self, grace: float = 15.0) -> None:
        for process in self.children.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.children.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


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
        "dagster-daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace], dagster_env
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
            f"\n{BANNER}\n"
            f"  API          {api}   (OpenAPI docs: {api}/schema/swagger)\n"
            f"  Dagster UI   {dagster}   (daemon running)\n"
            f"  MLflow UI    {mlflow}   (experiments and registered models)\n"
            f"{quickstart}"
            f"  data         {settings.data_dir}\n"
            f"  {login_hint(settings, first_start)}\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not group.stopping.is_set() and not group.orphaned():
            if (name := group.exited()) is not None:
                print(f"{name} exited; stopping the platform", file=sys.stderr, flush=True)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        group.stop()


if __name__ == "__main__":
    sys.exit(main())
