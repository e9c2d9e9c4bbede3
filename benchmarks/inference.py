"""Inference speed: the real-time endpoint against raw in-process predict and against the peer,
`mlflow models serve` of the same registered version (loaded through `mlflow.pyfunc`), in the
same run; a workbench deployment's endpoint (API key, shared rate limit, call log) beside the
real-time endpoint; and batch prediction of 1,000,000 rows against pyarrow reading, the model
predicting and pyarrow writing.

The API runs as its own process (uvicorn) over loopback, with authentication on; requests go
through a small keep-alive HTTP client on raw sockets so the client's own cost stays out of
the figures. Both servers get the same rows, one per request.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_overhead import Api, free_port, spawn, stop, wait_until  # noqa: E402

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
SEED = 7
CATEGORIES = {"plan": ["basic", "plus", "pro", "team"], "region": ["north", "south", "east"]}


def generated(rows: int, seed: int = SEED, numeric: int = 8) -> pd.DataFrame:
    """A binary classification table: `numeric` numeric features, two categorical ones."""
    from sklearn.datasets import make_classification

    features, labels = make_classification(
        n_samples=rows, n_features=numeric, n_informative=5, random_state=seed
    )
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(numeric)]).round(5)
    rng = np.random.default_rng(seed)
    for name, values in CATEGORIES.items():
        frame[name] = np.asarray(values, dtype=object)[rng.integers(0, len(values), rows)]
    frame.insert(0, "row_id", np.arange(1, rows + 1))
    frame["label"] = np.where(labels == 1, "yes", "no")
    return frame


class RawClient:
    """One keep-alive HTTP/1.1 connection sending prepared requests."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, request: bytes) -> bytes:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buffer = rest[length:]
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"request failed: {head.decode()} {rest[:length].decode()}")
        return rest[:length]

    def close(self) -> None:
        self.sock.close()


def prepared(path: str, bodies: list[bytes], headers: str = "") -> list[bytes]:
    """HTTP/1.1 JSON POSTs of `bodies` to `path`, `headers` (CRLF-ended lines) added."""
    return [
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}".encode()
        + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
        for body in bodies
    ]


def strata_requests(token: str, train_id: int, rows: list[dict[str, Any]]) -> list[bytes]:
    bodies = [json.dumps({"train_id": train_id, "features": row}).encode() for row in rows]
    return prepared("/api/v1/inference/", bodies, f"Authorization: Bearer {token}\r\n")


def peer_requests(rows: list[dict[str, Any]]) -> list[bytes]:
    bodies = [json.dumps({"dataframe_records": [row]}).encode() for row in rows]
    return prepared("/invocations", bodies)


TEMPLATES = {
    "XGBoost": "xgboost_classifier",
    "LightGBM": "lightgbm_classifier",
    "RandomForest": "random_forest_classifier",
}


def deployment_requests(
    api: Api, training: pd.DataFrame, algorithm: str, rows: list[dict[str, Any]]
) -> list[bytes]:
    """The same table trained from the workbench's template of the algorithm, deployed with
    an API key: requests to its predict route, the key in `x-api-key`."""
    headers = api.headers
    project = httpx.post(f"{api.url}/api/projects", json={"name": "bench"}, headers=headers)
    project_id = project.json()["project"]["id"]
    data = training.drop(columns="row_id").to_csv(index=False).encode()
    uploaded = httpx.post(
        f"{api.url}/api/upload/dataset",
        files={"file": ("bench_deploy.csv", io.BytesIO(data))},
        data={"projectId": project_id},
        headers=headers,
        timeout=600,
    )
    dataset_id = uploaded.json()["dataset"]["datasetId"]
    body = {
        "projectId": project_id,
        "datasetId": dataset_id,
        "templateId": TEMPLATES[algorithm],
        "targetColumn": "label",
    }
    trained = httpx.post(f"{api.url}/api/models/train", json=body, headers=headers, timeout=600)
    model_id = trained.json()["model"]["modelId"]
    deployment = httpx.post(
        f"{api.url}/api/deployments",
        json={"modelId": model_id, "projectId": project_id, "name": "bench"},
        headers=headers,
    ).json()["deployment"]
    key = httpx.post(
        f"{api.url}/api/deployments/{deployment['deploymentId']}/api-keys",
        json={"name": "bench"},
        headers=headers,
    ).json()["rawKey"]
    bodies = [json.dumps(row).encode() for row in rows]
    return prepared(deployment["endpointUrl"], bodies, f"x-api-key: {key}\r\n")


def model_name(entry: dict[str, Any]) -> str:
    from lakehouse.lake.naming import PredictorTables

    return PredictorTables(entry["tenant_id"], "bench").model_name


def serve_peer(data_dir: str, entry: dict[str, Any], port: int) -> subprocess.Popen[bytes]:
    """`mlflow models serve` of the registered version, in this environment."""
    from lakehouse.ml.tracking import tracking_uri
    from lakehouse.settings import Settings

    uri = tracking_uri(Settings(data_dir=Path(data_dir)))
    process = spawn(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            f"models:/{model_name(entry)}/{entry['model_version']}",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        {
            **os.environ,
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_REGISTRY_URI": uri,
            # it starts `uvicorn` by name
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
    )
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{port}/ping").status_code == 200,
        300,
        "mlflow models serve",
    )
    return process


def sequential(port: int, requests: list[bytes], count: int) -> list[float]:
    client = RawClient(port)
    times = []
    for i in range(count):
        started = time.perf_counter()
        client.send(requests[i % len(requests)])
        times.append(time.perf_counter() - started)
    client.close()
    return times


def concurrent(port: int, requests: list[bytes], clients: int, per_client: int) -> float:
    """Requests per second with `clients` connections sending back to back."""
    barrier = threading.Barrier(clients + 1)

    def work(offset: int) -> None:
        client = RawClient(port)
        barrier.wait()
        for i in range(per_client):
            client.send(requests[(offset + i) % len(requests)])
        client.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return clients * per_client / (time.perf_counter() - started)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    return statistics.median(latencies) * 1000, float(np.percentile(latencies, 99)) * 1000


def upload(api: Api, name: str, frame: pd.DataFrame) -> int:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    response = httpx.post(
        f"{api.url}/api/v1/dataset/upload",
        params={"dataset_name": name, "usage": "tp"},
        files=[("files", (f"{name}.parquet", buffer.getvalue()))],
        headers=api.headers,
        timeout=600,
    )
    if response.status_code != 201:
        raise SystemExit(f"upload failed: {response.status_code} {response.text}")
    dataset_id: int = response.json()["dataset_id"]

    def validated() -> bool:
        listed = httpx.get(f"{api.url}/api/v1/dataset/list", headers=api.headers).json()["data"]
        status = next(d for d in listed if d["id"] == dataset_id)["validation_status"]
        if status in ("invalid", "failed"):
            raise SystemExit(f"dataset {name} ended {status}")
        return bool(status == "valid")

    wait_until(validated, 1800, f"validation of {name}")
    return dataset_id


def train(api: Api, dataset_id: int, algorithm: str, columns: list[str]) -> dict[str, Any]:
    roles = {"row_id": "Id", "label": "Target"}
    response = httpx.post(
        f"{api.url}/api/v1/train/",
        json={
            "dataset_id": dataset_id,
            "predictor_name": "bench",
            "domain": "Benchmark",
            "problem_type": "Classification",
            "algorithm": algorithm,
            "columns": [
                {"column_name": c, "attribute_name": roles.get(c, "Feature")} for c in columns
            ],
        },
        headers=api.headers,
        timeout=60,
    )
    if response.status_code != 201:
        raise SystemExit(f"training failed to start: {response.text}")
    train_id = response.json()["id"]
    entry: dict[str, Any] = {}

    def trained() -> bool:
        nonlocal entry
        listed = httpx.get(f"{api.url}/api/v1/train/list", headers=api.headers).json()["data"]
        entry = next(t for t in listed if t["id"] == train_id)
        if entry["training_status"] == "failed":
            raise SystemExit(f"training failed: {entry['training_error']}")
        return bool(entry["training_status"] == "completed")

    wait_until(trained, 900, "training")
    return entry


def load_model(data_dir: str, entry: dict[str, Any], into: Path) -> Any:
    from lakehouse.ml import registry
    from lakehouse.model_files import load_model
    from lakehouse.settings import Settings

    settings = Settings(data_dir=Path(data_dir))
    directory = registry.model_directory(settings, model_name(entry), entry["model_version"], into)
    return load_model(directory)


def batch_reference(model: Any, source: Path, target: Path) -> float:
    """pyarrow reading the rows, the model predicting, pyarrow writing the predictions."""
    started = time.perf_counter()
    table = pq.read_table(source)
    frame = table.select(model.features).to_pandas()
    probabilities = model.pipeline.predict_proba(frame)
    labels = np.asarray(model.classes, dtype=object)[probabilities.argmax(axis=1)]
    result = pa.table(
        {
            "row_id": table["row_id"],
            "prediction": pa.array(labels.astype(str)),
            **{f"probability_{c}": probabilities[:, i] for i, c in enumerate(model.classes)},
        }
    )
    pq.write_table(result, target)
    return time.perf_counter() - started


def batch_strata(api: Api, train_id: int, dataset_id: int) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = httpx.post(
        f"{api.url}/api/v1/inference/batchPrediction",
        json={"train_id": train_id, "dataset_id": dataset_id},
        headers=api.headers,
        timeout=60,
    )
    if response.status_code != 202:
        raise SystemExit(f"batch prediction failed to start: {response.text}")
    prediction_id = response.json()["prediction_id"]
    result: dict[str, Any] = {}

    def done() -> bool:
        nonlocal result
        result = httpx.get(
            f"{api.url}/api/v1/inference/result",
            params={"prediction_id": prediction_id},
            headers=api.headers,
        ).json()
        if result["status"] == "failed":
            raise SystemExit(f"batch prediction failed: {result['error']}")
        return bool(result["status"] == "completed")

    wait_until(done, 1800, "batch prediction")
    elapsed = time.perf_counter() - started
    events = httpx.get(
        f"{api.url}/api/v1/runs/{response.json()['job_id']}/logs",
        params={"limit": 1000},
        headers=api.headers,
    ).json()["events"]
    result["steps"] = [e["message"] for e in events if e["message"].endswith(" s)")]
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--algorithm", default="XGBoost")
    parser.add_argument("--train-rows", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=250)
    parser.add_argument("--batch-rows", type=int, default=1_000_000, help="0 skips batch")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="strata-bench-") as data_dir:
        env = {
            **os.environ,
            "STRATA_DATA_DIR": data_dir,
            "STRATA_ADMIN_PASSWORD": secrets.token_urlsafe(16),
            "STRATA_SECRET_KEY": secrets.token_urlsafe(32),
            "STRATA_ACCESS_TOKEN_MINUTES": "120",
            # the deployment's limit raised, so it is measured, not refused
            "STRATA_DEPLOYMENT_REQUESTS_PER_MINUTE": "100000000",
        }
        port = free_port()
        api = Api(env, port)
        api.start()
        try:
            wait_until(lambda: api.workers_ready(2), 300, "warm workers")
            training = generated(args.train_rows)
            dataset_id = upload(api, "bench_train", training)
            entry = train(api, dataset_id, args.algorithm, list(training.columns))
            train_id = entry["id"]
            features = [c for c in training.columns if c not in ("row_id", "label")]
            rows = training[features].head(200).to_dict("records")
            token = api.headers["Authorization"].split()[1]
            requests = strata_requests(token, train_id, rows)

            with tempfile.TemporaryDirectory(prefix="strata-model-") as scratch:
                model = load_model(data_dir, entry, Path(scratch))
            one_row = training[features].head(1)
            for _ in range(50):
                model.pipeline.predict_proba(one_row)
            raw = []
            for i in range(args.requests):
                frame = training[features].iloc[[i % 200]]
                started = time.perf_counter()
                model.pipeline.predict_proba(frame)
                raw.append(time.perf_counter() - started)

            sequential(port, requests, 100)  # loads and caches the model
            latencies = sequential(port, requests, args.requests)
            throughput = concurrent(port, requests, args.clients, args.per_client)

            to_deployment = deployment_requests(api, training, args.algorithm, rows)
            sequential(port, to_deployment, 100)
            deployed_latencies = sequential(port, to_deployment, args.requests)
            deployed_throughput = concurrent(port, to_deployment, args.clients, args.per_client)

            peer_port = free_port()
            peer = serve_peer(data_dir, entry, peer_port)
            try:
                to_peer = peer_requests(rows)
                sequential(peer_port, to_peer, 100)
                peer_latencies = sequential(peer_port, to_peer, args.requests)
                peer_throughput = concurrent(peer_port, to_peer, args.clients, args.per_client)
            finally:
                stop(peer)

            if args.batch_rows:
                batch = generated(args.batch_rows, seed=SEED + 1)
                batch_id = upload(api, "bench_batch", batch)
                source = Path(data_dir) / "batch.parquet"
                batch.to_parquet(source, index=False)
                reference = batch_reference(model, source, Path(data_dir) / "reference.parquet")
                served, result = batch_strata(api, train_id, batch_id)
        finally:
            api.stop()

    raw_p50 = statistics.median(raw) * 1000
    p50, p99 = percentiles(latencies)
    peer_p50, peer_p99 = percentiles(peer_latencies)
    print(
        f"model: {entry['trained_algorithm']} on {args.train_rows:,} rows x {len(features)} "
        "features"
    )
    print(f"reference: raw in-process predict_proba of one row, p50: {raw_p50:.2f} ms")
    print(f"over {args.requests:,} sequential requests, then {args.clients} concurrent clients:")
    print(
        f"  peer, mlflow models serve: p50 {peer_p50:.2f} ms, p99 {peer_p99:.2f} ms, "
        f"{peer_throughput:.0f} requests/s"
    )
    print(
        f"  Strata, authenticated: p50 {p50:.2f} ms [target <= 3], p99 {p99:.2f} ms "
        f"[target <= 10], {throughput:.0f} requests/s, {throughput / peer_throughput:.1f}x the "
        "peer [target >= 10x]"
    )
    deployed_p50, deployed_p99 = percentiles(deployed_latencies)
    print(
        f"  workbench deployment, API key, shared rate limit, logged: p50 {deployed_p50:.2f} ms "
        f"({deployed_p50 / p50:.2f}x the real-time endpoint's) [target <= 1.5x], p99 "
        f"{deployed_p99:.2f} ms, {deployed_throughput:.0f} requests/s"
    )
    if not args.batch_rows:
        return
    rate, reference_rate = args.batch_rows / served, args.batch_rows / reference
    print(
        f"batch prediction of {result['no_of_records']:,} rows: {served:.2f} s "
        f"({rate:,.0f} rows/s); reference pyarrow read + predict + write: {reference:.2f} s "
        f"({reference_rate:,.0f} rows/s); ratio {rate / reference_rate:.2f} [target >= 0.7]"
    )
    print("  batch run, time since the step started: " + "; ".join(result["steps"]))


if __name__ == "__main__":
    main()
