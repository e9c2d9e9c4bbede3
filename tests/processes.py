"""Processes tests start beside themselves: Dagster's webserver and daemon, on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from lakehouse.settings import Settings, child_env
from pipelines.instance import create_dagster_storage

ROOT = Path(__file__).resolve().parents[1]
LOCATION_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_dagster(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """A Dagster webserver and daemon on `settings`' instance, with Strata's code location."""
    create_dagster_storage(settings)
    env = child_env(settings)
    bin_dir = Path(sys.executable).parent
    workspace = str(ROOT / "workspace.yaml")
    port = settings.dagster_url.rsplit(":", 1)[1]
    commands = [
        [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", port],
        [str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
    ]
    return [
        subprocess.Popen(c, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
        for c in commands
    ]


def wait_for_location(
    url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), "a Dagster process exited during start-up"
        try:
            body = httpx.post(f"{url}/graphql", json={"query": LOCATION_QUERY}, timeout=5).json()
            entries = body["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [
                    e["locationOrLoadError"]["message"]
                    for e in entries
                    if e["locationOrLoadError"]["__typename"] == "PythonError"
                ]
                assert not errors, f"the Dagster code location failed to load: {errors}"
                return
        except (httpx.HTTPError, KeyError, TypeError):
            pass
        time.sleep(0.5)
    raise AssertionError("the Dagster code location never loaded")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
