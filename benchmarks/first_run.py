"""First run: `make up`'s supervisor on a new data directory, then the first upload and the
first training, timed from the start-up banner.

The upload is a 7,000-row, 21-column churn-like CSV as real files come (blank cells in a
numeric column, an ID column, yes/no columns), with no template; the training is a
Classification with the default algorithm. The reference is the same upload and training
again on the now warm platform, in the same run.

Targets: banner to validated upload <= 15 s; banner to completed training <= 45 s.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_overhead import free_port, stop, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipelines.serve import BANNER  # noqa: E402

ROWS = 7000
SERVICES = ("OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport")
STREAMING = ("StreamingTV", "StreamingMovies")


def churn_csv(rows: int, seed: int) -> bytes:
    """21 columns shaped like the Telco churn table, blanks in TotalCharges included."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, rows)
    monthly = np.round(rng.uniform(18, 120, rows), 2)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], rows, p=[0.55, 0.25, 0.2])
    churn_odds = 0.5 - tenure / 150 + (contract == "Month-to-month") * 0.25 + monthly / 600
    frame = pd.DataFrame(
        {
            "customerID": [f"{i:04d}-{secrets.token_hex(3).upper()}" for i in range(rows)],
            "gender": rng.choice(["Female", "Male"], rows),
            "SeniorCitizen": rng.choice([0, 1], rows, p=[0.84, 0.16]),
            "Partner": rng.choice(["Yes", "No"], rows),
            "Dependents": rng.choice(["Yes", "No"], rows, p=[0.3, 0.7]),
            "tenure": tenure,
            "PhoneService": rng.choice(["Yes", "No"], rows, p=[0.9, 0.1]),
            "MultipleLines": rng.choice(["Yes", "No", "No phone service"], rows),
            "InternetService": rng.choice(["DSL", "Fiber optic", "No"], rows),
            **{name: rng.choice(["Yes", "No", "No internet service"], rows) for name in SERVICES},
            **{name: rng.choice(["Yes", "No", "No internet service"], rows) for name in STREAMING},
            "Contract": contract,
            "PaperlessBilling": rng.choice(["Yes", "No"], rows),
            "PaymentMethod": rng.choice(
                ["Electronic check", "Mailed check", "Bank transfer", "Credit card"], rows
            ),
            "MonthlyCharges": monthly,
            "TotalCharges": np.round(monthly * tenure, 2).astype(str),
            "Churn": np.where(rng.uniform(size=rows) < churn_odds, "Yes", "No"),
        }
    )
    frame.loc[frame["tenure"] == 0, "TotalCharges"] = " "  # as the real file has them
    return frame.to_csv(index=False).encode()


class Platform:
    """`python -m pipelines.serve` on its own data directory and ports."""

    def __init__(self, data_dir: Path) -> None:
        self.password = secrets.token_urlsafe(16)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "STRATA_DATA_DIR": str(data_dir),
            "STRATA_ADMIN_PASSWORD": self.password,
            "STRATA_API_PORT": str(port),
            "STRATA_DAGSTER_PORT": str(free_port()),
            "STRATA_MLFLOW_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        }
        self.banner = threading.Event()
        self.banner_at = 0.0
        self.process: subprocess.Popen[bytes] | None = None
        self.headers: dict[str, str] = {}

    def start(self) -> float:
        """Start the supervisor; return seconds from spawn to its banner."""
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.serve"],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.banner.wait(timeout=600):
            raise SystemExit("no banner within 600 s")
        token = httpx.post(
            f"{self.url}/api/v1/login/access-token",
            data={"username": "admin", "password": self.password},
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        return self.banner_at - started

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            if BANNER in line.decode(errors="replace") and not self.banner.is_set():
                self.banner_at = time.perf_counter()
                self.banner.set()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def upload(self, name: str, body: bytes) -> int:
        response = httpx.post(
            f"{self.url}/api/v1/dataset/upload",
            params={"dataset_name": name, "usage": "tp"},
            files=[("files", (f"{name}.csv", io.BytesIO(body)))],
            headers=self.headers,
            timeout=600,
        )
        if response.status_code != 201:
            raise SystemExit(f"upload failed: {response.status_code} {response.text}")
        dataset_id: int = response.json()["dataset_id"]

        def validated() -> bool:
            listed = httpx.get(f"{self.url}/api/v1/dataset/list", headers=self.headers)
            entry = next(d for d in listed.json()["data"] if d["id"] == dataset_id)
            if entry["validation_status"] in ("invalid", "failed"):
                raise SystemExit(f"dataset {name} ended {entry['validation_status']}: {entry}")
            return bool(entry["validation_status"] == "valid")

        wait_until(validated, 600, f"validation of {name}")
        return dataset_id

    def train(self, dataset_id: int, name: str) -> dict[str, Any]:
        details = httpx.post(
            f"{self.url}/api/v1/train/get_details",
            json={
                "dataset_id": dataset_id,
                "predictor_name": name,
                "domain": "Churn",
                "problem_type": "Classification",
            },
            headers=self.headers,
        ).json()
        roles = {"customerID": "Id", "Churn": "Target"}
        response = httpx.post(
            f"{self.url}/api/v1/train/",
            json={
                "dataset_id": dataset_id,
                "predictor_name": name,
                "domain": "Churn",
                "problem_type": "Classification",
                "columns": [
                    {
                        "column_name": c["column_name"],
                        "attribute_name": roles.get(c["column_name"], "Feature"),
                    }
                    for c in details["dataset_schema"]
                ],
            },
            headers=self.headers,
            timeout=60,
        )
        if response.status_code != 201:
            raise SystemExit(f"training refused: {response.status_code} {response.text}")
        train_id = response.json()["id"]
        entry: dict[str, Any] = {}

        def completed() -> bool:
            nonlocal entry
            listed = httpx.get(f"{self.url}/api/v1/train/list", headers=self.headers)
            entry = next(t for t in listed.json()["data"] if t["id"] == train_id)
            if entry["training_status"] == "failed":
                raise SystemExit(f"training failed: {entry['training_error']}")
            return bool(entry["training_status"] == "completed")

        # Polled ten times a second, as a client would.
        deadline = time.monotonic() + 900
        while not completed():
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for the training")
            time.sleep(0.1)
        return entry

    def timings(self, run_id: str) -> list[str]:
        """The run's own step timings ("... (12.3 s)") and when each step started."""
        events = httpx.get(
            f"{self.url}/api/v1/runs/{run_id}/logs", params={"limit": 5000}, headers=self.headers
        ).json()["events"]
        return [
            f"{e['timestamp']}  {e['message'][:110]}"
            for e in events
            if e["message"].endswith(" s)") or "STEP_START" in str(e.get("event_type"))
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    first, second = churn_csv(args.rows, seed=1), churn_csv(args.rows, seed=2)
    with tempfile.TemporaryDirectory(prefix="strata-first-run-") as scratch:
        platform = Platform(Path(scratch) / "data")
        try:
            to_banner = platform.start()
            dataset_id = platform.upload("churn", first)
            uploaded = time.perf_counter() - platform.banner_at
            entry = platform.train(dataset_id, "churn")
            trained = time.perf_counter() - platform.banner_at
            first_steps = platform.timings(entry["last_run_id"])
            # The reference: the same work again, on the platform now warm.
            started = time.perf_counter()
            warm_id = platform.upload("churn-again", second)
            warm_upload = time.perf_counter() - started
            warm_entry = platform.train(warm_id, "churn-again")
            warm_training = time.perf_counter() - started
            warm_steps = platform.timings(warm_entry["last_run_id"])
        finally:
            platform.stop()
    print(f"{args.rows} rows x 21 columns, no template, default algorithm ({entry['algorithm']})")
    print(f"start to banner:                {to_banner:6.1f} s")
    print(f"banner to validated upload:     {uploaded:6.1f} s  (target <= 15 s)")
    print(f"banner to completed training:   {trained:6.1f} s  (target <= 45 s)")
    print(
        f"warm platform, upload:          {warm_upload:6.1f} s  "
        f"(first run {uploaded / warm_upload:.2f}x)"
    )
    print(
        f"warm platform, upload + train:  {warm_training:6.1f} s  "
        f"(first run {trained / warm_training:.2f}x)"
    )

    for title, steps in (("first training", first_steps), ("warm training", warm_steps)):
        print(f"{title}:")
        for line in steps:
            print(f"  {line}")


if __name__ == "__main__":
    main()
