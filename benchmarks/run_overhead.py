"""Run overhead: API submit → run success of the self-check job, embedded vs dagster mode.

Also the API process's start-up time (spawn → first answer of the health check).
Everything runs over HTTP against real processes on loopback, in one temporary data directory.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKSPACE = str(ROOT / "workspace.yaml")
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


class Api:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = {**env, "STRATA_API_PORT": str(port)}
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.headers: dict[str, str] = {}

    def start(self) -> float:
        """Start the API; return seconds from spawn to the first health-check answer."""
        started = time.perf_counter()
        self.process = spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--port",
                self.env["STRATA_API_PORT"],
                "--log-level",
                "warning",
            ],
            self.env,
        )
        wait_until(
            lambda: httpx.get(f"{self.url}/api/v1/utils/health-check/").status_code == 200,
            60,
            "the API",
        )
        elapsed = time.perf_counter() - started
        token = httpx.post(
            f"{self.url}/api/v1/login/access-token",
            data={"username": "admin", "password": self.env["STRATA_ADMIN_PASSWORD"]},
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        return elapsed

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def selfcheck(self) -> float:
        """Seconds from submitting the self-check to seeing it succeed."""
        started = time.perf_counter()
        run_id = httpx.post(
            f"{self.url}/api/v1/utils/self-check",
            params={"rows": 100},
            headers=self.headers,
            timeout=60,
        ).json()["run_id"]
        with httpx.Client(headers=self.headers, timeout=60) as client:
            while (
                status := client.get(f"{self.url}/api/v1/runs/{run_id}").json()["status"]
            ) not in FINISHED:
                time.sleep(0.01)
        elapsed = time.perf_counter() - started
        if status != "SUCCESS":
            raise SystemExit(f"self-check run {run_id} ended {status}")
        return elapsed

    def workers_ready(self, count: int) -> bool:
        detail = httpx.get(f"{self.url}/api/v1/utils/health", timeout=60).json()
        return f"{count}/{count} workers ready" in detail["components"]["dagster"]["detail"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedded-runs", type=int, default=20)
    parser.add_argument("--dagster-runs", type=int, default=5)
    parser.add_argument("--startups", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="strata-bench-") as data_dir:
        env = {
            **os.environ,
            "STRATA_DATA_DIR": data_dir,
            "STRATA_ADMIN_PASSWORD": secrets.token_urlsafe(16),
            "STRATA_DAGSTER_HOME": str(Path(data_dir) / "dagster"),
            "DAGSTER_HOME": str(Path(data_dir) / "dagster"),
        }

        # API start-up, with workers off so nothing else competes for the two cores.
        quiet = Api({**env, "STRATA_WORKERS": "0"}, free_port())
        startups = []
        for _ in range(args.startups):
            startups.append(quiet.start())
            quiet.stop()

        embedded = Api(env, free_port())
        embedded.start()
        wait_until(lambda: embedded.workers_ready(2), 300, "warm workers")
        embedded.selfcheck()  # first run creates the table
        embedded_times = [embedded.selfcheck() for _ in range(args.embedded_runs)]
        embedded.stop()

        dagster_port = free_port()
        dagster_env = {
            **env,
            "STRATA_RUN_MODE": "dagster",
            "STRATA_DAGSTER_URL": f"http://127.0.0.1:{dagster_port}",
        }
        webserver = spawn(
            [
                str(BIN / "dagster-webserver"),
                "-w",
                WORKSPACE,
                "-h",
                "127.0.0.1",
                "-p",
                str(dagster_port),
            ],
            dagster_env,
        )
        daemon = spawn([str(BIN / "dagster-daemon"), "run", "-w", WORKSPACE], dagster_env)
        try:
            wait_until(
                lambda: (
                    httpx.get(f"http://127.0.0.1:{dagster_port}/server_info").status_code == 200
                ),
                180,
                "the Dagster webserver",
            )
            remote = Api(dagster_env, free_port())
            remote.start()
            remote.selfcheck()  # warms the code location
            dagster_times = [remote.selfcheck() for _ in range(args.dagster_runs)]
            remote.stop()
        finally:
            stop(daemon)
            stop(webserver)

    startup = statistics.median(startups)
    embedded_median = statistics.median(embedded_times)
    dagster_median = statistics.median(dagster_times)
    ratio = dagster_median / embedded_median
    print(
        f"API start-up (spawn -> health-check 200), median of {len(startups)}: {startup:.2f} s"
        f"  [target <= 3.0 s]  (first start, with migrations: {startups[0]:.2f} s)"
    )
    print(
        f"embedded: submit -> SUCCESS, median of {len(embedded_times)}: {embedded_median:.3f} s"
        f"  [target <= 1.0 s]  (min {min(embedded_times):.3f}, max {max(embedded_times):.3f})"
    )
    print(
        f"dagster:  submit -> SUCCESS, median of {len(dagster_times)}: {dagster_median:.3f} s"
        f"  (min {min(dagster_times):.3f}, max {max(dagster_times):.3f})"
    )
    print(f"ratio dagster/embedded: {ratio:.1f}x  [target >= 5x]")


if __name__ == "__main__":
    main()
