"""Run the platform on one machine: the API, the Dagster UI and the Dagster daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import httpx

from lakehouse.bootstrap import bootstrap
from lakehouse.logs import configure_logging
from lakehouse.settings import Settings
from lakehouse.store import MetadataStore
from pipelines.instance import prepare_dagster_home

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 120.0


class ProcessGroup:
    """Child processes, each in its own session, stopped together."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str]) -> None:
        self.children[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, start_new_session=True
        )

    def exited(self) -> str | None:
        return next((n for n, p in self.children.items() if p.poll() is not None), None)

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


def wait_until_up(url: str, group: ProcessGroup) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if (name := group.exited()) is not None:
            raise SystemExit(f"{name} exited during start-up")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{url} did not answer within {STARTUP_TIMEOUT:.0f}s")


def main() -> int:
    configure_logging()
    launched_by = os.getppid()
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    prepare_dagster_home(settings)
    store = MetadataStore(settings.database_url)
    first_start = bootstrap(store, settings)
    store.dispose()

    env = {**os.environ, **settings.as_env()}
    group = ProcessGroup(env)
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    host = settings.api_host
    bin_dir = Path(sys.executable).parent
    group.start(
        "api",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            host,
            "--port",
            str(settings.api_port),
            "--log-level",
            "warning",
        ],
    )
    workspace = str(ROOT / "workspace.yaml")
    group.start(
        "dagster-webserver",
        [
            str(bin_dir / "dagster-webserver"),
            "-w",
            workspace,
            "-h",
            host,
            "-p",
            str(settings.dagster_port),
        ],
    )
    group.start("dagster-daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace])
    try:
        api = f"http://{host}:{settings.api_port}"
        dagster = f"http://{host}:{settings.dagster_port}"
        wait_until_up(f"{api}/api/v1/utils/health-check/", group)
        if first_start.generated_password is not None:
            login = (
                f"log in as '{first_start.admin_username}' with the generated password "
                f"{first_start.generated_password} (shown this once; change it with "
                "/api/v1/reset-password)"
            )
        elif settings.admin_password is not None:
            login = f"log in as '{settings.admin_username}' with STRATA_ADMIN_PASSWORD"
        else:
            login = f"log in as '{settings.admin_username}' with the password shown at first start"
        print(
            "\nStrata is running on embedded defaults\n"
            f"  API          {api}   (OpenAPI docs: {api}/schema/swagger)\n"
            f"  Dagster UI   {dagster}   (daemon running)\n"
            f"  data         {settings.data_dir}\n"
            f"  {login}\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        wait_until_up(f"{dagster}/server_info", group)
        while not stopping:
            if os.getppid() != launched_by:
                # Whoever started us (make, a shell) is gone, e.g. `make up` got SIGTERM.
                return 0
            if (name := group.exited()) is not None:
                print(f"{name} exited; stopping the platform", file=sys.stderr, flush=True)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        group.stop()


if __name__ == "__main__":
    sys.exit(main())
