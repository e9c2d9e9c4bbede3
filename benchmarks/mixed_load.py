"""Mixed load: the real-time endpoint with 16 concurrent clients alone, then while 4 clients
upload 5 MB CSVs in a loop, on `make up`'s supervisor with embedded defaults.

The reference is the real-time endpoint alone, measured in the same run. Targets: p99 alone
<= 3x p50 alone; during uploads, throughput >= 70% of alone and p99 <= 3x the alone p99.
Clients are keep-alive connections on asyncio streams and uploaders send prepared bodies from
threads on raw sockets, so the load generator's own cost stays small next to the API's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_run import Platform  # noqa: E402
from inference import generated, train, upload  # noqa: E402
from run_overhead import Api  # noqa: E402

UPLOAD_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Figures:
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000

    def line(self, title: str) -> str:
        return (
            f"{title:<16} {self.throughput:7.0f} req/s  p50 {self.percentile(50):7.1f} ms  "
            f"p99 {self.percentile(99):7.1f} ms  max {max(self.latencies) * 1000:7.1f} ms  "
            f"({len(self.latencies):,} requests)"
        )


def request_bytes(path: str, token: str, body: bytes, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def status_and_length(head: bytes) -> tuple[bytes, int]:
    lines = head.split(b"\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")
    )
    return lines[0], length


async def realtime_client(
    port: int, requests: list[bytes], offset: int, stop_at: float, latencies: list[float]
) -> None:
    """Requests back to back on one keep-alive connection until `stop_at` (monotonic)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = offset
    try:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            writer.write(requests[sent % len(requests)])
            status, length = status_and_length(await reader.readuntil(b"\r\n\r\n"))
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"prediction failed: {status.decode()} {body[:300].decode()}")
            sent += 1
    finally:
        writer.close()


def realtime(port: int, requests: list[bytes], clients: int, seconds: float) -> Figures:
    async def run() -> Figures:
        latencies: list[float] = []
        started = time.monotonic()
        await asyncio.gather(
            *(
                realtime_client(port, requests, n * 7, started + seconds, latencies)
                for n in range(clients)
            )
        )
        return Figures(time.monotonic() - started, latencies)

    return asyncio.run(run())


def upload_csv(rows: int, seed: int) -> bytes:
    """About UPLOAD_BYTES of CSV: the training table's columns with fresh values."""
    frame = generated(rows, seed=seed)
    body = frame.to_csv(index=False).encode()
    return body[: body.rindex(b"\n", 0, UPLOAD_BYTES) + 1] if len(body) > UPLOAD_BYTES else body


class Uploaders:
    """`count` threads each uploading a CSV as a new dataset, again and again, until stopped;
    the API lands each one and queues its ingestion run."""

    def __init__(self, port: int, token: str, csv: bytes, count: int) -> None:
        self.port, self.token, self.count = port, token, count
        boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self.body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="load.csv"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode()
            + csv
            + f"\r\n--{boundary}--\r\n".encode()
        )
        self.stopping = threading.Event()
        self.started = threading.Event()
        self.uploaded = 0
        self.upload_seconds: list[float] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join()

    def _run(self, client: int) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.settimeout(600)
        buffer = b""
        n = 0
        try:
            while not self.stopping.is_set():
                n += 1
                path = f"/api/v1/dataset/upload?dataset_name=load_{client}_{n}&usage=tp"
                started = time.perf_counter()
                self.started.set()
                sock.sendall(request_bytes(path, self.token, self.body, self.content_type))
                while b"\r\n\r\n" not in buffer:
                    buffer += sock.recv(65536)
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                status, length = status_and_length(head)
                while len(buffer) < length:
                    buffer += sock.recv(65536)
                answer, buffer = buffer[:length], buffer[length:]
                with self._lock:
                    if status.startswith(b"HTTP/1.1 201"):
                        self.uploaded += 1
                        self.upload_seconds.append(time.perf_counter() - started)
                    else:
                        self.failures.append(f"{status.decode()} {answer[:200].decode()}")
        finally:
            sock.close()


def prepared_predictions(token: str, train_id: int, rows: list[dict[str, Any]]) -> list[bytes]:
    return [
        request_bytes(
            "/api/v1/inference/",
            token,
            json.dumps({"train_id": train_id, "features": row}).encode(),
            "application/json",
        )
        for row in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0, help="each measurement")
    parser.add_argument("--train-rows", type=int, default=5_000)
    parser.add_argument("--algorithm", default="XGBoost")
    args = parser.parse_args()

    training = generated(args.train_rows)
    features = [c for c in training.columns if c not in ("row_id", "label")]
    rows = training[features].head(200).to_dict("records")
    # A row of the generated table is about 90 bytes of CSV; the excess is cut off.
    csv = upload_csv(UPLOAD_BYTES // 80, seed=11)
    quiet_load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="strata-mixed-load-") as scratch:
        platform = Platform(Path(scratch) / "data")
        platform.env["STRATA_ACCESS_TOKEN_MINUTES"] = "120"
        try:
            platform.start()
            port = int(platform.env["STRATA_API_PORT"])
            api = Api(platform.env, port)  # the supervisor's API, for the shared helpers
            api.headers = platform.headers
            dataset_id = upload(api, "mixed_train", training)
            entry = train(api, dataset_id, args.algorithm, list(training.columns))
            token = platform.headers["Authorization"].split()[1]
            requests = prepared_predictions(token, entry["id"], rows)
            realtime(port, requests, args.clients, 3.0)  # loads the model, warms the caches
            alone = realtime(port, requests, args.clients, args.seconds)
            uploaders = Uploaders(port, token, csv, args.uploaders)
            uploaders.start()
            uploaders.started.wait()
            try:
                during = realtime(port, requests, args.clients, args.seconds)
                landed = uploaders.uploaded
                busy_load = os.getloadavg()[0]
            finally:
                uploaders.stop()
        finally:
            platform.stop()

    print(
        f"model: {entry['trained_algorithm']} on {args.train_rows:,} rows; "
        f"{args.clients} real-time clients, {args.seconds:.0f} s each; "
        f"{os.cpu_count()} cores; load average {quiet_load:.2f} before the platform started, "
        f"{busy_load:.2f} at the end of the measurements"
    )
    print(alone.line("alone"))
    print(during.line(f"{args.uploaders} uploading"))
    upload_p50 = statistics.median(uploaders.upload_seconds) if uploaders.upload_seconds else 0
    print(
        f"uploads: {landed} of {len(csv) / 1e6:.1f} MB landed during the measurement "
        f"({landed * len(csv) / 1e6 / during.seconds:.1f} MB/s), p50 {upload_p50:.2f} s each"
    )
    if uploaders.failures:
        print(f"  {len(uploaders.failures)} uploads refused, the first: {uploaders.failures[0]}")
    ratios = [
        ("p99 / p50 alone", alone.percentile(99) / alone.percentile(50), "<= 3"),
        ("throughput during / alone", during.throughput / alone.throughput, ">= 0.7"),
        ("p99 during / p99 alone", during.percentile(99) / alone.percentile(99), "<= 3"),
    ]
    for title, value, target in ratios:
        print(f"{title:<28} {value:5.2f}  [target {target}]")


if __name__ == "__main__":
    main()
