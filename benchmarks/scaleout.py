"""Scale-out baseline on the local cluster (`deploy/local-cluster.sh up`, its env file named by
STRATA_TEST_CLUSTER or --cluster-env).

1. numeric_stats and distinct-count of a 1,000,000-row silver table, through the datalake
   (identifiers resolved against the catalog, then the engine), from the embedded engine
   (DuckDB over the Parquet files in the bucket) and from Trino; the embedded engine is the
   reference.
2. The wall time of 8 concurrent ingestion runs (uploads of 50,000 rows each, through the API)
   with 1 and then 2 Celery workers; 1 worker is the reference. Where the time goes comes from
   Dagster's run records and step stats: the median wait in the queue (created → started),
   the launch (started → first step), each step, and the median run from start to end.

No targets yet: these figures set the baseline.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
from litestar.testing import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from lakehouse.lake.catalog import open_catalog, replace_table  # noqa: E402
from lakehouse.lake.datalake import Datalake  # noqa: E402
from lakehouse.lake.naming import Layer, TableRef  # noqa: E402
from lakehouse.lake.query import EmbeddedEngine, TrinoEngine  # noqa: E402
from lakehouse.settings import Settings  # noqa: E402
from tests.api.helpers import admin_headers, upload  # noqa: E402
from tests.pipelines.runs import wait_for  # noqa: E402
from tests.processes import start_dagster, stop, wait_for_location  # noqa: E402
from tests.scaleout.conftest import (  # noqa: E402
    cluster_settings,
    drop_databases,
    read_env_file,
    start_celery_workers,
)

ROWS = 1_000_000
RUNS = 8
RUN_ROWS = 50_000
REPEATS = 5
FINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def timed(action: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median seconds of `repeats` calls, after one warm-up call."""
    action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def query_latency(settings: Settings) -> None:
    tenant_id = str(uuid.uuid4())
    rng = np.random.default_rng(1)
    data = pa.table(
        {
            "amount": rng.normal(100, 25, ROWS),
            "customer": rng.integers(0, 200_000, ROWS),
            "segment": rng.choice(["retail", "business", "private", "public"], ROWS),
        }
    )
    catalog = open_catalog(settings)
    ref = TableRef(tenant_id, Layer.SILVER, "sales")
    replace_table(catalog, ref, data)
    embedded = Datalake(catalog, EmbeddedEngine(), tenant_id)
    trino = Datalake(catalog, TrinoEngine.from_settings(settings), tenant_id)
    print(f"1. {ROWS:,}-row silver table, median of {REPEATS} (reference: embedded engine)")
    for name, query in (
        ("numeric_stats(amount)", lambda lake: lake.numeric_stats("silver", "sales", "amount")),
        (
            "distinct-count(customer)",
            lambda lake: lake.distinct_count("silver", "sales", "customer"),
        ),
    ):
        reference = timed(lambda q=query: q(embedded))  # type: ignore[misc]
        measured = timed(lambda q=query: q(trino))  # type: ignore[misc]
        print(
            f"   {name:26} embedded {reference * 1000:7.1f} ms   trino {measured * 1000:7.1f} ms"
            f"   trino/embedded {measured / reference:5.2f}"
        )
    catalog.purge_table(ref.identifier)


def csv_of(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "id": np.arange(rows),
            "amount": np.round(rng.normal(100, 25, rows), 2),
            "segment": rng.choice(["retail", "business", ""], rows),
            "active": rng.choice(["true", "false"], rows),
        }
    )
    import pyarrow.csv as pacsv

    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def where_the_time_goes(settings: Settings, run_ids: list[str]) -> str:
    """Median seconds per phase of the runs, from the Dagster instance's records."""
    from pipelines.instance import open_instance

    instance = open_instance(settings)
    phases: dict[str, list[float]] = {"queued": [], "launch": [], "run": []}
    for run_id in run_ids:
        record = instance.get_run_record_by_id(run_id)
        assert record is not None and record.start_time and record.end_time, run_id
        steps = instance.get_run_step_stats(run_id)
        created = record.create_timestamp
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        phases["queued"].append(record.start_time - created.timestamp())
        phases["run"].append(record.end_time - record.start_time)
        first = min(step.start_time for step in steps if step.start_time)
        phases["launch"].append(first - record.start_time)
        for step in steps:
            if step.start_time and step.end_time:
                phases.setdefault(step.step_key, []).append(step.end_time - step.start_time)
    return "  ".join(f"{name} {statistics.median(times):5.2f}" for name, times in phases.items())


def concurrent_ingestion(settings: Settings, workers: int) -> float:
    """Seconds from the first of RUNS uploads to the last of their runs' ends."""
    processes = start_celery_workers(settings, workers)
    try:
        with TestClient(create_app(settings)) as client:
            logging.getLogger("httpx").setLevel(logging.WARNING)
            headers = admin_headers(client)
            files = [csv_of(RUN_ROWS, seed) for seed in range(RUNS)]
            # A warm-up run, so every worker's pool process has imported what runs need.
            for index in range(workers):
                made = upload(
                    client, headers, [("w.csv", files[0])], dataset_name=f"warm{workers}{index}"
                )
                assert made.status_code == 201, made.text
            for dataset in client.get("/api/v1/dataset/list", headers=headers).json()["data"]:
                wait_for(client, headers, dataset["last_run_id"], FINAL, timeout=600)
            started = time.perf_counter()
            ids = []
            for index, data in enumerate(files):
                made = upload(
                    client, headers, [("b.csv", data)], dataset_name=f"run{workers}_{index}"
                )
                assert made.status_code == 201, made.text
                ids.append(made.json()["dataset_id"])
            listed = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
            run_ids = [dataset["last_run_id"] for dataset in listed if dataset["id"] in ids]
            for run_id in run_ids:
                run = wait_for(client, headers, run_id, FINAL, timeout=900)
                assert run["status"] == "SUCCESS", run
            elapsed = time.perf_counter() - started
            print(f"   {workers} worker(s), median s: {where_the_time_goes(settings, run_ids)}")
            return elapsed
    finally:
        stop(processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-env", default=os.environ.get("STRATA_TEST_CLUSTER", ""))
    args = parser.parse_args()
    if not args.cluster_env:
        raise SystemExit("give --cluster-env (deploy/local-cluster.sh writes .cluster/env)")
    env = read_env_file(Path(args.cluster_env))
    for name in [n for n in os.environ if n.startswith("STRATA_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="strata-scaleout-") as scratch:
        settings, databases = cluster_settings(env, Path(scratch))
        dagster = start_dagster(settings)
        try:
            query_latency(settings)
            wait_for_location(settings.dagster_url, dagster)
            print(f"2. {RUNS} concurrent ingestion runs of {RUN_ROWS:,} rows (reference: 1 worker)")
            one = concurrent_ingestion(settings, 1)
            two = concurrent_ingestion(settings, 2)
            print(f"   1 worker {one:6.1f} s   2 workers {two:6.1f} s   2/1 {two / one:5.2f}")
        finally:
            stop(dagster)
            drop_databases(settings, databases)


if __name__ == "__main__":
    main()
