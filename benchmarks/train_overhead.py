"""Training overhead: wall time from the train request to a registered model version, against
the modelling itself done in-process in one call on the same rows (`lakehouse.ml.training.train`:
the candidates' fits for `auto`, the learning curve, the final fit, cross-validation and the
metrics); and that call against plain XGBoost and LightGBM fits of the same rows.

The default is the issue's case: 7,000 rows of 21 columns (an id, the label, 17 numeric and two
categorical features), a classification with the default algorithm. The API runs as its own
process with warm workers; everything else (the run's start, reading the feature table, MLflow
logging, plots, registration, status updates) is overhead.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference import generated, upload  # noqa: E402
from run_overhead import Api, free_port, wait_until  # noqa: E402

ROLES = {"row_id": "Id", "label": "Target"}
POLL_SECONDS = 0.1


def train_once(
    api: Api, dataset_id: int, name: str, algorithm: str | None, columns: list[str]
) -> Any:
    """Seconds from the train request until the list shows a registered version, and the run."""
    started = time.perf_counter()
    response = httpx.post(
        f"{api.url}/api/v1/train/",
        json={
            "dataset_id": dataset_id,
            "predictor_name": name,
            "domain": "Benchmark",
            "problem_type": "Classification",
            "algorithm": algorithm,
            "columns": [
                {"column_name": c, "attribute_name": ROLES.get(c, "Feature")} for c in columns
            ],
        },
        headers=api.headers,
        timeout=60,
    )
    if response.status_code != 201:
        raise SystemExit(f"training failed to start: {response.text}")
    created = response.json()
    entry: dict[str, Any] = {}

    def registered() -> bool:
        nonlocal entry
        listed = httpx.get(f"{api.url}/api/v1/train/list", headers=api.headers).json()["data"]
        entry = next(t for t in listed if t["id"] == created["id"])
        if entry["training_status"] == "failed":
            raise SystemExit(f"training failed: {entry['training_error']}")
        return entry["model_version"] is not None

    # Polled ten times a second, as a client would: polling as fast as the API answers
    # would take a core from the training it waits for.
    deadline = time.monotonic() + 900
    while not registered():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for training")
        time.sleep(POLL_SECONDS)
    return time.perf_counter() - started, created["last_run_id"]


def step_seconds(api: Api, run_id: str) -> tuple[dict[str, float], list[str]]:
    """Seconds each step took, and the model step's own timings."""
    events = httpx.get(
        f"{api.url}/api/v1/runs/{run_id}/logs", params={"limit": 5000}, headers=api.headers
    ).json()["events"]
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    timings = [e["message"].split(";")[0] for e in events if e["message"].endswith(" s)")]
    for event in events:
        step = event["step_key"]
        if event["event_type"] == "STEP_START":
            started[step] = event["timestamp"]
        elif event["event_type"] == "STEP_SUCCESS" and step in started:
            took[step] = event["timestamp"] - started[step]
    return took, timings


def fit_seconds(frame: Any, algorithm: str | None) -> float:
    from lakehouse.ml.spec import Algorithm, Attribute, ColumnRole, ProblemType, TrainingSpec
    from lakehouse.ml.training import train as fit

    roles = [ColumnRole(c, Attribute(ROLES.get(c, "Feature"))) for c in frame.columns]
    spec = TrainingSpec(ProblemType.CLASSIFICATION, roles, Algorithm.parse(algorithm))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    started = time.perf_counter()
    fit(table, spec)
    return time.perf_counter() - started


def plain_fit_seconds(frame: Any) -> dict[str, float]:
    """One default XGBoost and one default LightGBM fit of every row, categories one-hot."""
    import lightgbm
    import pandas as pd
    import xgboost

    features = pd.get_dummies(frame.drop(columns=list(ROLES)), dtype=float)
    labels = (frame["label"] == "yes").to_numpy()
    took = {}
    for name, model in (
        ("XGBoost", xgboost.XGBClassifier()),
        ("LightGBM", lightgbm.LGBMClassifier(verbose=-1)),
    ):
        started = time.perf_counter()
        model.fit(features, labels)
        took[name] = time.perf_counter() - started
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=7_000)
    parser.add_argument("--numeric", type=int, default=17, help="numeric features")
    parser.add_argument("--algorithm", default=None, help="the default (auto) when not given")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    frame = generated(args.rows, numeric=args.numeric)
    fit_seconds(frame, args.algorithm)  # imports, first fit
    fits = [fit_seconds(frame, args.algorithm) for _ in range(args.runs)]
    plain_fit_seconds(frame)
    plain = [plain_fit_seconds(frame) for _ in range(args.runs)]
    with tempfile.TemporaryDirectory(prefix="strata-bench-") as data_dir:
        env = {
            **os.environ,
            "STRATA_DATA_DIR": data_dir,
            "STRATA_ADMIN_PASSWORD": secrets.token_urlsafe(16),
            "STRATA_SECRET_KEY": secrets.token_urlsafe(32),
        }
        api = Api(env, free_port())
        api.start()
        try:
            wait_until(lambda: api.workers_ready(2), 300, "warm workers")
            dataset_id = upload(api, "bench_train", frame)
            columns = list(frame.columns)
            train_once(api, dataset_id, "warmup", args.algorithm, columns)  # first MLflow use
            walls, steps = [], []
            for i in range(args.runs):
                wall, run_id = train_once(api, dataset_id, f"bench_{i}", args.algorithm, columns)
                walls.append(wall)
                steps.append(step_seconds(api, run_id))
        finally:
            api.stop()

    fit, wall = statistics.median(fits), statistics.median(walls)
    algorithm = args.algorithm or "the default algorithm (auto)"
    print(
        f"data: {args.rows:,} rows x {len(frame.columns)} columns, classification, {algorithm}, "
        f"median of {args.runs}"
    )
    for name in plain[0]:
        plain_fit = statistics.median(p[name] for p in plain)
        print(f"reference: one plain {name} fit of every row: {plain_fit:.2f} s")
    print(f"in-process modelling in one call (lakehouse.ml.training.train): {fit:.2f} s")
    print(f"train request -> registered model version: {wall:.2f} s")
    print(f"ratio to the in-process call: {wall / fit:.2f}x  [target <= 1.5x]")
    for i, (took, timings) in enumerate(steps):
        print("  run {}: {}".format(i, ", ".join(f"{k} {v:.2f} s" for k, v in took.items())))
        print("    in predictor_model: " + "; ".join(timings))


if __name__ == "__main__":
    main()
