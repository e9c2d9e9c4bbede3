"""Ingest: a 1M-row CSV from upload to validated silver table, against pyarrow CSV → Parquet,
with a template and with types inferred (numbers, text, an ISO date and a true/false column
among the ten); then a 7,000-row, 21-column upload on the warm platform, types inferred.

Also `numeric_stats` of a silver column against DuckDB on the table's Parquet files. The real
app runs in-process under Litestar's test client, with embedded run mode and warm workers, in
one temporary data directory.
"""

from __future__ import annotations

import argparse
import io
import logging
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lakehouse.settings import Settings

SEED = 20240607
REGIONS = ["north", "south", "east", "west", "central"]
PLANS = ["basic", "standard", "premium"]
COLUMNS = [
    ("id", "Integer"),
    ("quantity", "Integer"),
    ("amount", "Float"),
    ("price", "Float"),
    ("score", "Float"),
    ("temperature", "Float"),
    ("region", "String"),
    ("plan", "String"),
    ("signup_date", "Date"),
    ("active", "Boolean"),
]
STATS_COLUMN = "amount"
FINAL = {"valid", "invalid", "failed"}
NUMERIC_STATS = "/api/v1/datalake/numeric_stats"


def generated_rows(count: int, seed: int = SEED) -> pa.Table:
    """`count` deterministic rows of the ten template columns."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2015-01-01", "D")
    return pa.table(
        {
            "id": np.arange(1, count + 1, dtype=np.int64),
            "quantity": rng.integers(0, 1000, count),
            "amount": rng.normal(100, 25, count).round(2),
            "price": rng.uniform(0, 500, count).round(4),
            "score": rng.random(count),
            "temperature": rng.normal(15, 10, count).round(1),
            "region": pa.DictionaryArray.from_arrays(
                rng.integers(0, len(REGIONS), count), REGIONS
            ).dictionary_decode(),
            "plan": pa.DictionaryArray.from_arrays(
                rng.integers(0, len(PLANS), count), PLANS
            ).dictionary_decode(),
            "signup_date": start + rng.integers(0, 3650, count).astype("timedelta64[D]"),
            "active": rng.random(count) < 0.7,
        }
    )


def wide_rows(count: int) -> pa.Table:
    """`count` rows of 21 columns: the ten twice over (the second set from another seed) and a
    free-text note."""
    first, second = generated_rows(count), generated_rows(count, SEED + 1)
    rng = np.random.default_rng(SEED + 2)
    notes = np.array([f"note {n}" for n in rng.integers(0, 10**6, count)])
    columns = {name: first[name] for name in first.column_names}
    columns |= {f"{name}_2": second[name] for name in second.column_names}
    return pa.table({**columns, "note": notes})


def template_columns() -> list[dict[str, Any]]:
    """The ten columns typed, with the rules a real template carries on some of them."""
    rules: dict[str, dict[str, Any]] = {
        "id": {"required": True},
        "quantity": {"min_value": "0"},
        "region": {"allowed_values": REGIONS},
        "plan": {"allowed_values": PLANS},
    }
    return [
        {"column_name": name, "data_type": kind, **rules.get(name, {})} for name, kind in COLUMNS
    ]


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_reference(csv_path: Path, out_dir: Path, repeats: int) -> float:
    """Median seconds for pyarrow alone to read the CSV and write it as Parquet."""

    def convert() -> None:
        pq.write_table(pacsv.read_csv(csv_path), out_dir / "reference.parquet")

    return median_seconds(convert, repeats)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def workers_warm(client: httpx.Client, count: int) -> bool:
    """Whether every worker has its libraries loaded: the reference runs on an idle machine,
    so Strata is measured once no worker imports in the background (first_run.py measures
    the first upload after start)."""
    detail = client.get("/api/v1/utils/health").json()["components"]["dagster"]["detail"]
    return f"{count}/{count} with the model libraries loaded" in str(detail)


def dataset_summary(client: httpx.Client, headers: dict[str, str], dataset_id: int) -> Any:
    listed = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    return next(d for d in listed if d["id"] == dataset_id)


def step_seconds(client: httpx.Client, headers: dict[str, str], run_id: str) -> dict[str, float]:
    """Seconds each step of an ingestion run took, from its event log."""
    events = client.get(
        f"/api/v1/runs/{run_id}/logs", params={"limit": 5000}, headers=headers
    ).json()["events"]
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for event in events:
        step = event["step_key"]
        if event["event_type"] == "STEP_START":
            started[step] = event["timestamp"]
        elif event["event_type"] == "STEP_SUCCESS" and step in started:
            took[step] = event["timestamp"] - started[step]
    return took


def measure_ingest(
    client: httpx.Client,
    headers: dict[str, str],
    csv_bytes: bytes,
    template_id: int | None,
    name: str,
) -> dict[str, Any]:
    """Seconds from the upload request to a final validation verdict, with the phases between;
    types are inferred when there is no template."""
    params: dict[str, Any] = {"dataset_name": name, "usage": "t"}
    if template_id is not None:
        params["template_id"] = template_id
    started = time.perf_counter()
    response = client.post(
        "/api/v1/dataset/upload",
        params=params,
        files=[("files", (f"{name}.csv", io.BytesIO(csv_bytes), "text/csv"))],
        headers=headers,
    )
    uploaded, uploaded_at = time.perf_counter(), time.time()
    if response.status_code != 201:
        raise SystemExit(f"upload of {name} failed: {response.status_code} {response.text}")
    dataset_id = response.json()["dataset_id"]
    summary: dict[str, Any] = {}

    def verdict() -> bool:
        nonlocal summary
        summary = dataset_summary(client, headers, dataset_id)
        return summary["validation_status"] in FINAL

    wait_until(verdict, 3600, f"validation of {name}")
    finished, finished_at = time.perf_counter(), time.time()
    if summary["validation_status"] != "valid":
        raise SystemExit(f"{name} ended {summary['validation_status']}: {summary}")
    # The verdict is recorded inside the silver step; the run's own end comes a little later.
    run: dict[str, Any] = {}

    def run_finished() -> bool:
        nonlocal run
        run = client.get(f"/api/v1/runs/{summary['last_run_id']}", headers=headers).json()
        return bool(run["is_finished"])

    wait_until(run_finished, 60, f"the run of {name}")
    return {
        "total": finished - started,
        "upload": uploaded - started,
        "queued": run["start_time"] - uploaded_at,
        "verdict": finished_at - run["start_time"],
        "steps": step_seconds(client, headers, summary["last_run_id"]),
        "table": summary["iceberg_table_name"],
        "tenant_id": summary["tenant_id"],
    }


def data_files(settings: Settings, tenant_id: str, table: str) -> list[str]:
    """Local paths of the Parquet data files of a dataset's silver table."""
    from lakehouse.lake.catalog import open_catalog
    from lakehouse.lake.naming import DatasetTables

    ref = DatasetTables(tenant_id, table).silver
    scan = open_catalog(settings).load_table(ref.identifier).scan()
    return [unquote(urlparse(task.file.file_path).path) for task in scan.plan_files()]


def measure_numeric_stats(
    client: httpx.Client,
    headers: dict[str, str],
    table: str,
    files: list[str],
    repeats: int,
) -> tuple[float, float, float, Any, tuple[Any, ...]]:
    """Seconds of the first numeric_stats on a silver column, and the median seconds of later
    ones and of DuckDB on the table's Parquet files."""
    import duckdb

    params = {"schema_name": "silver", "table_name": table, "column_name": STATS_COLUMN}
    answer: Any = None

    def endpoint() -> None:
        nonlocal answer
        response = client.get(NUMERIC_STATS, params=params, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"numeric_stats failed: {response.status_code} {response.text}")
        answer = response.json()

    column = f'"{STATS_COLUMN}"'
    query = (
        f"SELECT count({column}), avg({column}), stddev_samp({column}), min({column}), "
        f"max({column}), median({column}) FROM read_parquet($files)"
    )
    direct: tuple[Any, ...] = ()
    connection = duckdb.connect()

    def duckdb_direct() -> None:
        nonlocal direct
        direct = tuple(connection.execute(query, {"files": files}).fetchone() or ())

    started = time.perf_counter()
    endpoint()  # the table's first query since start: the catalog, DuckDB and its extensions
    first = time.perf_counter() - started
    duckdb_direct()
    served = median_seconds(endpoint, repeats)
    reference = median_seconds(duckdb_direct, repeats)
    connection.close()
    return first, served, reference, answer, direct


def csv_of(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def print_runs(label: str, runs: list[dict[str, Any]], reference: float | None) -> float:
    """Print the median of `runs` and each run's phases; return the median."""
    median = statistics.median(r["total"] for r in runs)
    totals = ", ".join(format(r["total"], ".2f") for r in runs)
    print(f"{label}: upload -> silver validated, median of {len(runs)}: {median:.2f} s  ({totals})")
    for i, r in enumerate(runs):
        steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in r["steps"].items())
        print(
            f"  run {i}: upload request {r['upload']:.2f} s, response -> run start "
            f"{r['queued']:.2f} s, run start -> verdict seen {r['verdict']:.2f} s "
            f"(steps: {steps})"
        )
    if reference is not None:
        print(f"  ratio to the reference: {median / reference:.1f}x  [target <= 3x]")
    return median


def main() -> None:
    from litestar.testing import TestClient

    from api.app import create_app

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small-rows", type=int, default=7_000)
    parser.add_argument("--small-runs", type=int, default=5)
    parser.add_argument("--reference-runs", type=int, default=5)
    parser.add_argument("--stats-runs", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="strata-bench-") as tmp:
        tmp_dir = Path(tmp)
        csv_path = tmp_dir / "rows.csv"
        pacsv.write_csv(generated_rows(args.rows), csv_path)
        csv_bytes = csv_path.read_bytes()
        small_csv = csv_of(wide_rows(args.small_rows))
        # Measured before the platform starts, so no warm worker competes for the cores.
        reference = measure_reference(csv_path, tmp_dir, args.reference_runs)

        settings = Settings(
            data_dir=tmp_dir / "data",
            secret_key=secrets.token_urlsafe(32),
            admin_password=secrets.token_urlsafe(16),
            run_mode="embedded",
        )
        assert settings.admin_password is not None
        app = create_app(settings)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
        with TestClient(app, timeout=600) as client:
            token = client.post(
                "/api/v1/login/access-token",
                data={
                    "username": settings.admin_username,
                    "password": settings.admin_password.get_secret_value(),
                },
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            wait_until(lambda: workers_warm(client, settings.workers), 300, "warm workers")
            template = {"template_name": "bench", "template_schema": template_columns()}
            created = client.post("/api/v1/template/", json=template, headers=headers)
            if created.status_code != 201:
                raise SystemExit(f"template: {created.status_code} {created.text}")
            with_template = [
                measure_ingest(client, headers, csv_bytes, created.json()["id"], f"bench_{i}")
                for i in range(args.runs)
            ]
            inferred = [
                measure_ingest(client, headers, csv_bytes, None, f"inferred_{i}")
                for i in range(args.runs)
            ]
            measure_ingest(client, headers, small_csv, None, "small_warmup")
            small = [
                measure_ingest(client, headers, small_csv, None, f"small_{i}")
                for i in range(args.small_runs)
            ]
            last = with_template[-1]
            files = data_files(settings, last["tenant_id"], last["table"])
            stats = measure_numeric_stats(client, headers, last["table"], files, args.stats_runs)

    size_mb = len(csv_bytes) / 1e6
    print(f"CSV: {args.rows:,} rows x {len(COLUMNS)} columns, {size_mb:.0f} MB")
    print(
        f"reference: pyarrow read_csv + write_table, median of {args.reference_runs}: "
        f"{reference:.2f} s"
    )
    print_runs("with a template", with_template, reference)
    print_runs("types inferred", inferred, reference)
    small_median = print_runs(
        f"{args.small_rows:,} rows x 21 columns, types inferred, warm", small, None
    )
    print(f"  [target <= 1.0 s]: {small_median:.2f} s")
    first, served, direct, answer, expected = stats
    print(
        f"numeric_stats on silver.{last['table']}.{STATS_COLUMN}, median of "
        f"{args.stats_runs}: {served * 1000:.1f} ms; DuckDB on the Parquet files: "
        f"{direct * 1000:.1f} ms; ratio {served / direct:.1f}x  [target <= 2x]"
    )
    print(
        f"  the first numeric_stats since start: {first * 1000:.1f} ms, "
        f"{first / served:.1f}x a warm one  [target <= 3x]"
    )
    print(f"  endpoint: {answer}")
    print(
        "  duckdb:   count={}, avg={}, stddev_samp={}, min={}, max={}, median={}".format(*expected)
    )


if __name__ == "__main__":
    main()
