"""Strata's engine as a worker of the orchestrator profile, end to end: files uploaded to
Strata are a problem's data, a Strata workflow says how to score, and the engine claims each
learnuplet of an algo's chain, trains it in a Dagster run from the chain's best model so far,
registers the model in MLflow and reports its perf, which starts the next rank."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from litestar.testing import TestClient

from lakehouse.ml.tracking import tracking_client
from lakehouse.profiles.ledger_engine import ENGINE_WORKER, model_name
from lakehouse.profiles.ledger_learning import LEDGER_MODEL_TAG
from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, me, upload
from tests.conftest import ADMIN_PASSWORD, make_settings

BASE = "/morpheo"
BATCHES = 4


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, workers=1, orchestrator_engine_seconds=0.2)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(settings), timeout=120) as test_client:
        yield test_client


def call(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(
        method, f"{BASE}{path}", auth=httpx.BasicAuth("admin", ADMIN_PASSWORD), **kwargs
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def mini_batches() -> list[tuple[str, bytes]]:
    """scikit-learn's breast cancer data, shuffled: four training files and a test file."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.sample(frac=1.0, random_state=7)
    frame = frame.rename(columns=lambda c: c.replace(" ", "_")).reset_index(drop=True)
    test = frame.iloc[:169]
    train = frame.iloc[169:]
    files = [(f"batch_{i}.csv", part) for i, part in enumerate(split(train, BATCHES))]
    return [
        (name, part.to_csv(index=False).encode()) for name, part in [*files, ("test.csv", test)]
    ]


def split(frame: pd.DataFrame, parts: int) -> list[pd.DataFrame]:
    size = -(-len(frame) // parts)
    return [frame.iloc[i * size : (i + 1) * size] for i in range(parts)]


def test_the_engine_trains_a_chain_of_mini_batches_from_the_best_model_so_far(
    client: TestClient, settings: Settings
) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    uploaded = upload(client, headers, mini_batches(), dataset_name="cancer")
    assert uploaded.status_code == 201, uploaded.text
    dataset_id = uploaded.json()["dataset_id"]
    uuids = {f["file_name"]: f["uuid"] for f in uploaded.json()["files"]}

    def validated() -> bool:
        listed = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
        status = next(d for d in listed if d["id"] == dataset_id)["validation_status"]
        assert status in ("pending", "running", "valid"), status
        return bool(status == "valid")

    wait_until(validated, 180, "the files' validation")
    train = [uuids[f"batch_{i}.csv"] for i in range(BATCHES)]
    test = uuids["test.csv"]

    call(
        client,
        "POST",
        "/workflow",
        json={"uuid": "W", "target": "target", "problem_type": "classification"},
    )
    call(
        client,
        "POST",
        "/problem",
        json={"uuid": "P", "workflow": "W", "test_dataset": [test], "size_train_dataset": 1},
    )
    call(client, "POST", "/data", json={"uuid": [*train, test], "problems": ["P"]})
    created = call(client, "POST", "/algo", json={"uuid": "A", "name": "xgboost", "problem": "P"})
    assert created["new_learnuplets"] == BATCHES

    def all_done() -> list[dict[str, Any]] | None:
        uplets = call(client, "GET", "/learnuplet?algo=A")["learnuplets"]
        assert not [u for u in uplets if u["status"] == "failed"], uplets
        done = [u for u in uplets if u["status"] == "done"]
        return sorted(done, key=lambda u: u["rank"]) if len(done) == BATCHES else None

    uplets = wait_until(all_done, 600, "the engine to train every learnuplet")
    assert [u["train_data"] for u in uplets] == [[d] for d in train]
    assert all(u["worker"] == ENGINE_WORKER for u in uplets)
    for uplet in uplets:
        assert 0.5 < uplet["perf"] <= 1.0
        assert set(uplet["train_perf"]) == set(uplet["train_data"])
        assert list(uplet["test_perf"]) == [test]
        assert uplet["test_perf"][test] == pytest.approx(uplet["perf"])
    # each rank starts from the best model of the ranks before it
    assert uplets[0]["model_start"] == "A"
    for rank in range(1, BATCHES):
        best = max(uplets[:rank], key=lambda u: (u["perf"], -u["rank"]))
        assert uplets[rank]["model_start"] == best["model_end"], rank

    # four versions of the algo's model in MLflow, each named by its learnuplet's model_end
    mlflow = tracking_client(settings)
    versions = mlflow.search_model_versions(f"name = '{model_name(tenant_id, 'A')}'")
    by_model = {v.tags[LEDGER_MODEL_TAG]: int(v.version) for v in versions}
    assert by_model == {u["model_end"]: rank + 1 for rank, u in enumerate(uplets)}

    # a prediction by the problem's best model, done by the engine in a run of its own
    best = max(uplets, key=lambda u: (u["perf"], -u["rank"]))
    requested = call(client, "POST", "/prediction", json={"data": [test, train[0]], "problem": "P"})
    assert requested["model"] == best["model_end"] and requested["new_preduplets"] == 1

    def predicted() -> dict[str, Any] | None:
        preduplet = call(client, "GET", f"/preduplet/{requested['uuid']}")
        assert preduplet["status"] != "failed", preduplet
        return preduplet if preduplet["status"] == "done" else None

    preduplet = wait_until(predicted, 300, "the engine's prediction")
    assert preduplet["worker"] == ENGINE_WORKER and preduplet["timestamp_done"] is not None
    storage = preduplet["prediction_storage_uuid"]
    download = client.get(
        f"{BASE}/storage/prediction/{storage}", auth=httpx.BasicAuth("admin", ADMIN_PASSWORD)
    )
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    predictions = pd.read_csv(io.BytesIO(download.content))
    files = dict(mini_batches())
    truth = pd.read_csv(io.BytesIO(files["test.csv"]))
    first_batch = pd.read_csv(io.BytesIO(files["batch_0.csv"]))
    # one prediction per row of the files, in the order asked, with each class's probability
    assert list(predictions.columns) == [
        "data",
        "row_number",
        "prediction",
        "probability_0",
        "probability_1",
    ]
    assert predictions["data"].tolist() == [test] * len(truth) + [train[0]] * len(first_batch)
    assert predictions["row_number"].tolist() == [
        *range(1, len(truth) + 1),
        *range(1, len(first_batch) + 1),
    ]
    assert predictions[["probability_0", "probability_1"]].sum(axis=1).round(6).eq(1).all()
    on_test = predictions[predictions["data"] == test]["prediction"].to_numpy()
    accuracy = float((on_test == truth["target"].to_numpy()).mean())
    assert accuracy == pytest.approx(best["perf"])  # the workflow's metric: accuracy

    # five successful runs in the Dagster instance: four trainings and the prediction
    platform = client.app.state.platform
    with platform.store.session(writes=False) as session:
        from sqlalchemy import select

        from lakehouse.store.models import Learnuplet

        run_ids = session.scalars(
            select(Learnuplet.run_id).where(Learnuplet.algo == "A").order_by(Learnuplet.rank)
        ).all()
    assert [u["strata"]["run_id"] for u in uplets] == run_ids
    assert all(u["strata"]["model_version"] == rank + 1 for rank, u in enumerate(uplets))
    # a run reports its uplet in its step, a moment before the run itself ends
    from tests.pipelines.runs import wait_for

    for run_id in [*run_ids, preduplet["strata"]["run_id"]]:
        wait_for(client, headers, run_id, {"SUCCESS", "FAILURE", "CANCELED"})
    views = [
        platform.gateway.status(run_id) for run_id in [*run_ids, preduplet["strata"]["run_id"]]
    ]
    assert [(v.status, v.job_name, v.partition_key) for v in views] == [
        *[("SUCCESS", "ledger_learning_job", u["uuid"]) for u in uplets],
        ("SUCCESS", "ledger_prediction_job", preduplet["uuid"]),
    ]

    # another tenant cannot download it
    from tests.api.helpers import new_tenant_with_admin

    _, other = new_tenant_with_admin(client, headers, "other")
    foreign = client.get(f"{BASE}/storage/prediction/{storage}", headers=other)
    assert foreign.status_code == 404 and "Error" in foreign.json()


def test_the_engine_learns_only_from_files_of_the_ledgers_own_tenant(client: TestClient) -> None:
    from tests.api.helpers import new_tenant_with_admin

    headers = admin_headers(client)
    files = mini_batches()[:1]
    uploaded = upload(client, headers, files, dataset_name="theirs")
    assert uploaded.status_code == 201, uploaded.text
    foreign = uploaded.json()["files"][0]["uuid"]
    _, other = new_tenant_with_admin(client, headers, "other")

    def post(path: str, payload: dict[str, Any]) -> None:
        response = client.post(f"{BASE}{path}", json=payload, headers=other)
        assert response.status_code == 201, response.text

    post("/workflow", {"uuid": "W", "target": "target", "problem_type": "classification"})
    post("/problem", {"uuid": "P", "workflow": "W", "test_dataset": [], "size_train_dataset": 1})
    post("/data", {"uuid": [foreign], "problems": ["P"]})
    post("/algo", {"uuid": "A", "name": "xgboost", "problem": "P"})

    def reported() -> dict[str, Any] | None:
        [uplet] = client.get(f"{BASE}/learnuplet", headers=other).json()["learnuplets"]
        return uplet if uplet["status"] in ("done", "failed") else None

    uplet = wait_until(reported, 180, "the engine's report")
    assert uplet["status"] == "failed" and uplet["perf"] is None
    assert uplet["worker"] == ENGINE_WORKER
    # why, beside the original's fields, and the run's own log for the rest
    assert f"data '{foreign}' names no file of the tenant" in uplet["strata"]["error"]
    from tests.pipelines.runs import wait_for

    run = wait_for(client, other, uplet["strata"]["run_id"], {"SUCCESS", "FAILURE", "CANCELED"})
    assert run["status"] == "FAILURE"


def test_the_engine_settles_claims_whose_run_ended_unreported_or_never_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run cancelled before it reported fails its learnuplet; a claim that never got a run is
    given back. The engine's thread is off here: the test drives its rounds."""
    from api import ledger_engine
    from api.app import create_app
    from lakehouse.profiles.ledger_engine import LedgerTask, claim, record_run
    from tests.pipelines.runs import submit_selfcheck, wait_for

    settings = make_settings(tmp_path, workers=1, orchestrator_engine=False)
    with TestClient(create_app(settings), timeout=120) as client:
        headers = admin_headers(client)
        tenant_id = me(client, headers)["tenant_id"]
        call(
            client,
            "POST",
            "/workflow",
            json={"uuid": "W", "target": "y", "problem_type": "regression"},
        )
        call(
            client,
            "POST",
            "/problem",
            json={"uuid": "P", "workflow": "W", "test_dataset": [], "size_train_dataset": 1},
        )
        call(client, "POST", "/data", json={"uuid": ["D1"], "problems": ["P"]})
        call(client, "POST", "/algo", json={"uuid": "A", "name": "xgboost", "problem": "P"})
        call(client, "POST", "/algo", json={"uuid": "B", "name": "xgboost", "problem": "P"})
        [first] = call(client, "GET", "/learnuplet?algo=A")["learnuplets"]
        [second] = call(client, "GET", "/learnuplet?algo=B")["learnuplets"]
        platform = client.app.state.platform
        engine = ledger_engine.LedgerEngineWorker(platform, interval=60)
        cancelled, unstarted = (
            LedgerTask("learnuplet", tenant_id, first["uuid"]),
            LedgerTask("learnuplet", tenant_id, second["uuid"]),
        )

        # a run that ends without a report: here a long self-check, cancelled
        run_id = submit_selfcheck(client, headers, hold_seconds=30)
        with platform.store.session() as session:
            assert claim(session, cancelled) and claim(session, unstarted)
            record_run(session, cancelled, run_id)
        engine.settle_ended()  # the run goes on: nothing to settle yet
        assert call(client, "GET", f"/learnuplet/{first['uuid']}")["status"] == "pending"
        platform.gateway.cancel(run_id)
        wait_for(client, headers, run_id, {"CANCELED"})
        monkeypatch.setattr(ledger_engine, "UNSTARTED_SECONDS", 0.0)
        engine.settle_ended()
        failed = call(client, "GET", f"/learnuplet/{first['uuid']}")
        assert failed["status"] == "failed"
        assert failed["strata"] == {
            "run_id": run_id,
            "error": f"run {run_id} ended without a report (CANCELED)",
            "model_name": None,
            "model_version": None,
        }
        given_back = call(client, "GET", f"/learnuplet/{second['uuid']}")
        assert given_back["status"] == "todo" and given_back["worker"] is None


def test_the_engine_leaves_external_workers_the_uplets_it_cannot_do(tmp_path: Path) -> None:
    """An uplet starting from a model an external worker made, or of a problem whose workflow
    is no Strata workflow, is not the engine's: it stays for the ledger's other workers."""
    from api.app import create_app
    from lakehouse.profiles.ledger_engine import LEARNUPLET, LedgerTask, ready

    settings = make_settings(tmp_path, workers=1, orchestrator_engine=False)
    with TestClient(create_app(settings), timeout=120) as client:
        tenant_id = me(client, admin_headers(client))["tenant_id"]
        platform = client.app.state.platform

        def engine_sees() -> list[LedgerTask]:
            with platform.store.session(writes=False) as session:
                return ready(session)

        call(
            client,
            "POST",
            "/workflow",
            json={"uuid": "W", "target": "y", "problem_type": "regression"},
        )
        for problem, workflow in (("P", "W"), ("Q", "theirs")):
            call(
                client,
                "POST",
                "/problem",
                json={
                    "uuid": problem,
                    "workflow": workflow,
                    "test_dataset": [],
                    "size_train_dataset": 1,
                },
            )
        call(client, "POST", "/data", json={"uuid": ["D1", "D2"], "problems": ["P", "Q"]})
        call(client, "POST", "/algo", json={"uuid": "A", "name": "xgboost", "problem": "P"})
        call(client, "POST", "/algo", json={"uuid": "B", "name": "xgboost", "problem": "Q"})
        [first, second] = sorted(
            call(client, "GET", "/learnuplet?algo=A")["learnuplets"], key=lambda u: u["rank"]
        )
        # of the two rank-0 uplets, only the Strata workflow's is the engine's
        assert engine_sees() == [LedgerTask(LEARNUPLET, tenant_id, first["uuid"])]

        # an external worker takes it first and reports its own model
        call(client, "POST", f"/worker/learnuplet/{first['uuid']}", json={"worker": "ext"})
        assert engine_sees() == []
        call(
            client,
            "POST",
            f"/learndone/{first['uuid']}",
            json={"status": "done", "perf": 0.8, "train_perf": {"D1": 0.9}, "test_perf": {}},
        )
        after = call(client, "GET", f"/learnuplet/{second['uuid']}")
        assert after["model_start"] == first["model_end"] and after["status"] == "todo"
        preduplet = call(client, "POST", "/prediction", json={"data": "D2", "problem": "P"})
        assert preduplet["model"] == first["model_end"]
        # the next rank and the prediction start from the external model: not the engine's
        assert engine_sees() == []
        assert "strata" not in call(client, "GET", f"/learnuplet/{first['uuid']}")
