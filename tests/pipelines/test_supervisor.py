"""`make up`'s supervisor: a child that dies after start-up is restarted, the others are not."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pipelines.serve import BANNER, STARTUP_TIMEOUT, Child, ProcessGroup
from tests.conftest import ADMIN_PASSWORD, LIGHT_PRELOAD, make_settings
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTED = re.compile(r"(\S+) started \(pid (\d+)\)")


@dataclass(frozen=True)
class Proc:
    """A process as /proc shows it; `start` (clock ticks after boot) tells a reused pid apart."""

    pid: int
    ppid: int
    state: str
    start: int

    @classmethod
    def read(cls, pid: int) -> Proc | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return None
        # The command name in parentheses may hold spaces and parentheses of its own.
        fields = stat[stat.rindex(")") + 2 :].split()
        return cls(pid, int(fields[1]), fields[0], int(fields[19]))

    def alive(self) -> bool:
        now = Proc.read(self.pid)
        return now is not None and now.start == self.start and now.state != "Z"


def gone(pid: int) -> bool:
    proc = Proc.read(pid)
    return proc is None or proc.state == "Z"


def children_of(pid: int) -> list[Proc]:
    procs = (Proc.read(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [p for p in procs if p is not None and p.ppid == pid and p.state != "Z"]


def descendants_of(pid: int) -> list[Proc]:
    found = children_of(pid)
    return found + [d for child in found for d in descendants_of(child.pid)]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Output:
    """Every line a process writes, read as it comes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self._stdout = process.stdout
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._stdout:
            self.lines.append(line.decode(errors="replace").rstrip())

    def matching(self, text: str) -> list[str]:
        return [line for line in list(self.lines) if text in line]

    def started(self) -> list[tuple[str, int]]:
        """(name, pid) of each child start the supervisor logged, in order."""
        return [(m[1], int(m[2])) for line in list(self.lines) if (m := STARTED.search(line))]

    def tail(self) -> str:
        return "\n".join(self.lines[-40:])


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Output, str]]:
    """`python -m pipelines.serve` on a new data directory and free ports, one light worker."""
    api_port = free_port()
    env = {
        **os.environ,
        "STRATA_DATA_DIR": str(tmp_path / "data"),
        "STRATA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "STRATA_API_PORT": str(api_port),
        "STRATA_DAGSTER_PORT": str(free_port()),
        "STRATA_MLFLOW_PORT": str(free_port()),
        "STRATA_WORKERS": "1",
        "STRATA_WORKER_PRELOAD": json.dumps(LIGHT_PRELOAD),
        "PYTHONUNBUFFERED": "1",
    }
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "pipelines.serve"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = Output(supervisor)
    seen: list[Proc] = []
    try:
        wait_until(
            lambda: bool(output.matching(BANNER)) or supervisor.poll() is not None,
            STARTUP_TIMEOUT + 30,
            "the banner",
        )
        assert supervisor.poll() is None, output.tail()
        yield supervisor, output, f"http://127.0.0.1:{api_port}"
    finally:
        seen = descendants_of(supervisor.pid)
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()
        for proc in seen:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)


def api_answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/utils/health-check/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_killed_api_is_restarted_alone_and_sigterm_stops_everything(
    platform: tuple[subprocess.Popen[bytes], Output, str],
) -> None:
    supervisor, output, api = platform
    pids = dict(output.started())
    assert set(pids) == {"api", "dagster-webserver", "dagster-daemon", "mlflow-ui"}
    assert {p.pid for p in children_of(supervisor.pid)} == set(pids.values())
    # Runs in dagster mode descend from the daemon and take its lower priority.
    base = os.getpriority(os.PRIO_PROCESS, supervisor.pid)
    assert os.getpriority(os.PRIO_PROCESS, pids["api"]) == base
    daemon_family = [
        pids["dagster-daemon"],
        *(d.pid for d in descendants_of(pids["dagster-daemon"])),
    ]
    assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in daemon_family} == {min(19, base + 10)}

    others = {name: Proc.read(pid) for name, pid in pids.items() if name != "api"}
    left_by_api = children_of(pids["api"])  # its warm run worker
    assert left_by_api
    os.kill(pids["api"], signal.SIGKILL)

    wait_until(lambda: len(output.started()) == 5, 60, "the API's restart")
    assert output.started()[-1][0] == "api"
    new_api = output.started()[-1][1]
    assert new_api != pids["api"]
    [death] = output.matching("exited with code")
    assert f"api (pid {pids['api']}) exited with code -9 (SIGKILL); restarting it in 1 s" in death
    assert output.matching("restarting api (restart 1)")
    wait_until(lambda: api_answers(api), 120, "the restarted API")
    token = httpx.post(
        f"{api}/api/v1/login/access-token",
        data={"username": "admin", "password": ADMIN_PASSWORD},
    ).json()
    assert token["token_type"].lower() == "bearer" and token["access_token"]
    assert {p.pid for p in children_of(supervisor.pid)} == {new_api, *(pids[n] for n in others)}
    assert all(proc is not None and proc.alive() for proc in others.values())
    assert not output.matching("restarting dagster") and not output.matching("restarting mlflow")
    # The dead API's worker saw its pipe close and left.
    wait_until(lambda: not any(p.alive() for p in left_by_api), 30, "the dead API's worker")

    family = descendants_of(supervisor.pid)
    assert len(family) > 4  # the children and what they started: code servers, a run worker
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=60) == 0
    wait_until(lambda: not any(p.alive() for p in family), 30, "every child to stop")
    assert len(output.started()) == 5, "nothing was started while stopping"


def leaves_a_sleeper(pids: Path) -> list[str]:
    """A command that starts a sleeping process in its group, notes its pid, and exits 3."""
    script = (
        "import subprocess, sys\n"
        "sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"with open({str(pids)!r}, 'a') as f: f.write(f'{{sleeper.pid}}\\n')\n"
        "sys.exit(3)\n"
    )
    return [sys.executable, "-c", script]


def test_child_that_keeps_dying_is_restarted_with_growing_delays_and_its_group_ended(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="strata.platform")
    group = ProcessGroup()
    group.start("quitter", leaves_a_sleeper(tmp_path / "sleepers"), dict(os.environ))
    supervisor = threading.Thread(target=group.supervise)
    supervisor.start()

    def deaths() -> list[str]:
        return [r.getMessage() for r in caplog.records if "exited with code" in r.getMessage()]

    try:
        wait_until(lambda: len(deaths()) == 3, 30, "three deaths")
    finally:
        group.stopping.set()
        supervisor.join(timeout=10)
        group.stop()
    assert not supervisor.is_alive()
    assert [d.rsplit("; ", 1)[1] for d in deaths()] == [
        "restarting it in 1 s",
        "restarting it in 2 s",
        "restarting it in 4 s",
    ]
    assert all("exited with code 3" in d for d in deaths())
    # Stopped during the third back-off: no fourth start.
    assert group.children["quitter"].restarts == 2
    sleepers = [int(pid) for pid in (tmp_path / "sleepers").read_text().split()]
    assert len(sleepers) == 3
    wait_until(lambda: all(gone(pid) for pid in sleepers), 10, "what the dead child started")


def test_stop_ends_the_group_of_a_child_that_died_unseen(tmp_path: Path) -> None:
    group = ProcessGroup()
    group.start("quitter", leaves_a_sleeper(tmp_path / "sleepers"), dict(os.environ))
    assert group.children["quitter"].process.wait(timeout=30) == 3
    [sleeper] = [int(pid) for pid in (tmp_path / "sleepers").read_text().split()]
    assert not gone(sleeper)
    group.stop()
    wait_until(lambda: gone(sleeper), 10, "the dead child's sleeper")
    assert group.children["quitter"].restarts == 0


def test_restart_delay_doubles_to_its_cap_and_resets_after_a_stable_run() -> None:
    child = Child("api", ["true"], {})
    delays = []
    for _ in range(7):
        delays.append(child.schedule_restart(now=child.started_at + 1))
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert child.schedule_restart(now=child.started_at + 60) == 1


def test_the_banner_names_what_the_platform_runs_on(tmp_path: Path) -> None:
    from pipelines.serve import deployment

    assert deployment(make_settings(tmp_path)) == "embedded defaults"
    cluster = make_settings(
        tmp_path,
        database_url="postgresql+psycopg://u:p@db/strata",
        landing_url="s3://bucket/landing",
        query_engine="trino",
        trino_url="http://strata@trino:8080/iceberg",
        run_mode="dagster",
        run_launcher="celery",
        celery_broker_url="redis://:p@redis:6379/0",
    )
    assert deployment(cluster) == "PostgreSQL, S3, Trino, Celery workers"
