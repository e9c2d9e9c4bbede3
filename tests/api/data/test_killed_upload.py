"""The API killed in the middle of an upload, for real: after a restart no half-registered
dataset and no orphaned file remain."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from lakehouse.data.landing import LOCK_FILE
from lakehouse.settings import Settings
from lakehouse.store import DataFile, Dataset, MetadataStore
from tests.conftest import ADMIN_PASSWORD, make_settings

ROOT = Path(__file__).resolve().parents[3]
BOUNDARY = "strata-killed-upload"
ROWS = b"1,2.5,some text\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_api(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """The API under uvicorn in a process of its own, answering its health check."""
    env = {**os.environ, **settings.as_env(with_secrets=True)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(settings.api_port), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts it slowly
        while True:
            assert process.poll() is None, "the API exited during start-up"
            assert time.monotonic() < deadline, "the API never answered its health check"
            with suppress(httpx.HTTPError):
                url = f"{base_url(settings)}/api/v1/utils/health-check"
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def base_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.api_port}"


def token(settings: Settings) -> str:
    response = httpx.post(
        f"{base_url(settings)}/api/v1/login/access-token",
        data={"username": "admin", "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def upload_request(settings: Settings, access_token: str, size: int) -> tuple[bytes, bytes]:
    """The head and the body of a multipart upload of a CSV of about `size` bytes."""
    data = b"id,amount,note\n" + ROWS * (size // len(ROWS))
    body = (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="files"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        "POST /api/v1/dataset/upload?dataset_name=big&usage=t HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{settings.api_port}\r\n"
        f"Authorization: Bearer {access_token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


def send(connection: socket.socket, data: bytes) -> None:
    with suppress(OSError):  # the API is killed while we send
        connection.sendall(data)


def partial_files(settings: Settings) -> list[Path]:
    return list(settings.landing_dir.rglob("*.part")) if settings.landing_dir.exists() else []


def landed_files(settings: Settings) -> list[str]:
    root = settings.landing_dir
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != LOCK_FILE
    )


@pytest.mark.parametrize("moment", ["while receiving", "while landing"])
def test_killed_mid_upload_leaves_nothing_after_restart(tmp_path: Path, moment: str) -> None:
    settings = make_settings(tmp_path, api_port=free_port())
    with running_api(settings) as api:
        head, body = upload_request(settings, token(settings), 150 * 1024**2)
        with socket.create_connection(("127.0.0.1", settings.api_port)) as connection:
            if moment == "while receiving":
                # A slow client: the API holds part of the body when it dies.
                send(connection, head)
                for start in range(0, 8 * 1024**2, 256 * 1024):
                    send(connection, body[start : start + 256 * 1024])
                    time.sleep(0.01)
            else:
                sender = threading.Thread(target=send, args=(connection, head + body))
                sender.start()
                deadline = time.monotonic() + 60
                while not partial_files(settings):
                    assert api.poll() is None and time.monotonic() < deadline
                    time.sleep(0.0005)
            os.killpg(api.pid, signal.SIGKILL)
            api.wait()
            if moment == "while landing":
                sender.join()
                assert partial_files(settings), "the upload was killed with its file half landed"

    with running_api(settings):
        headers = {"Authorization": f"Bearer {token(settings)}"}
        listed = httpx.get(f"{base_url(settings)}/api/v1/dataset/list", headers=headers)
        assert listed.json()["total"] == 0
        store = MetadataStore(settings.database_url)
        with store.session() as session:
            assert session.scalar(select(func.count()).select_from(Dataset)) == 0
            assert session.scalar(select(func.count()).select_from(DataFile)) == 0
        store.dispose()
        assert landed_files(settings) == []
