"""The orchestrator profile driven as the original's clients and workers drive it: problems,
algos and data make chains of learnuplets; workers claim them with HTTP Basic credentials,
report performances, and the chain continues from the best model; predictions use the
problem's best model. Every document belongs to the caller's tenant."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, new_tenant_with_admin
from tests.conftest import ADMIN_PASSWORD, make_settings

BASE = "/morpheo"
TRAIN = [f"D{i:02d}" for i in range(10)]
TEST = ["T1", "T2"]


def basic(username: str = "admin", password: str = ADMIN_PASSWORD) -> httpx.BasicAuth:
    return httpx.BasicAuth(username, password)


def call(client: TestClient, method: str, path: str, auth: Any = None, **kwargs: Any) -> Any:
    auth = auth if auth is not None else basic()
    return client.request(method, f"{BASE}{path}", auth=auth, **kwargs)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["Error"]
    for word in words:
        assert word in message, message
    return message


def new_problem(client: TestClient, uuid: str = "P1", size: int = 4, auth: Any = None) -> Any:
    payload = {"uuid": uuid, "workflow": "W1", "test_dataset": TEST, "size_train_dataset": size}
    return call(client, "POST", "/problem", auth, json=payload)


def chain(client: TestClient, algo: str = "A1") -> list[dict[str, Any]]:
    uplets: list[dict[str, Any]] = ok(call(client, "GET", "/learnuplet", params={"algo": algo}))[
        "learnuplets"
    ]
    return sorted(uplets, key=lambda u: u["rank"])


def claim(client: TestClient, uplet: dict[str, Any], kind: str = "learnuplet") -> Any:
    return call(client, "POST", f"/worker/{kind}/{uplet['uuid']}", json={"worker": "w-1"})


def learn_done(client: TestClient, uplet: dict[str, Any], perf: float) -> Any:
    report = {
        "status": "done",
        "perf": perf,
        "train_perf": dict.fromkeys(uplet["train_data"], perf),
        "test_perf": dict.fromkeys(uplet["test_data"], perf),
    }
    return call(client, "POST", f"/learndone/{uplet['uuid']}", json=report)


def ledger_with_chain(client: TestClient) -> list[dict[str, Any]]:
    """Problem P1 (batches of 4), ten training data and two test data, algo A1: three uplets."""
    ok(new_problem(client), 201)
    ok(call(client, "POST", "/data", json={"uuid": TRAIN + TEST, "problems": ["P1"]}), 201)
    ok(call(client, "POST", "/algo", json={"uuid": "A1", "name": "xgboost", "problem": "P1"}), 201)
    return chain(client)


def test_documents_answer_with_the_originals_keys_and_the_algo_starts_a_ranked_chain(
    client: TestClient,
) -> None:
    problem = ok(new_problem(client), 201)["new_problem"]
    assert set(problem) == {
        "uuid",
        "workflow",
        "test_dataset",
        "size_train_dataset",
        "timestamp_upload",
    }
    assert problem["test_dataset"] == TEST and problem["size_train_dataset"] == 4
    assert isinstance(problem["timestamp_upload"], int)

    posted = ok(call(client, "POST", "/data", json={"uuid": TRAIN + TEST, "problems": "P1"}), 201)
    assert posted["new_learnuplets"] == 0  # no algo yet
    assert [d["uuid"] for d in posted["new_datas"]] == TRAIN + TEST
    assert all(d["problems"] == ["P1"] for d in posted["new_datas"])

    created = ok(
        call(client, "POST", "/algo", json={"uuid": "A1", "name": "xgboost", "problem": "P1"}),
        201,
    )
    assert created["new_algo"]["problem"] == "P1" and created["new_learnuplets"] == 3
    uplets = chain(client)
    assert [u["rank"] for u in uplets] == [0, 1, 2]
    # an uplet Strata's engine has not taken shows the original's fields alone
    assert all(
        set(u)
        == {
            "uuid",
            "problem",
            "workflow",
            "algo",
            "model_start",
            "model_end",
            "train_data",
            "test_data",
            "worker",
            "perf",
            "train_perf",
            "test_perf",
            "status",
            "rank",
            "timestamp_creation",
            "timestamp_done",
        }
        for u in uplets
    )
    # the training data in the order posted, in batches of four; the test set held out
    assert [u["train_data"] for u in uplets] == [TRAIN[0:4], TRAIN[4:8], TRAIN[8:10]]
    assert all(u["test_data"] == TEST for u in uplets)
    assert [u["model_start"] for u in uplets] == ["A1", None, None]
    assert all(u["status"] == "todo" and u["worker"] is None for u in uplets)
    assert len({u["model_end"] for u in uplets}) == 3
    assert all(u["workflow"] == "W1" and u["problem"] == "P1" for u in uplets)

    # filters compare typed values, and a list field matches when it holds the value
    assert [u["rank"] for u in ok(call(client, "GET", "/learnuplet?rank=0"))["learnuplets"]] == [0]
    assert len(ok(call(client, "GET", "/data?problems=P1"))["datas"]) == 12
    assert ok(call(client, "GET", "/data?problems=P9"))["datas"] == []
    assert len(ok(call(client, "GET", "/learnuplet?model_start=null"))["learnuplets"]) == 2
    one = ok(call(client, "GET", f"/learnuplet/{uplets[1]['uuid']}"))
    assert one == uplets[1]
    assert ok(call(client, "GET", "/algo/A1"))["name"] == "xgboost"
    assert [p["uuid"] for p in ok(call(client, "GET", "/problem"))["problems"]] == ["P1"]


def test_a_strata_workflow_names_the_target_problem_type_and_metric(client: TestClient) -> None:
    workflow = {"uuid": "W1", "target": "label", "problem_type": "classification", "metric": "f1"}
    created = ok(call(client, "POST", "/workflow", json=workflow), 201)["new_workflow"]
    assert {k: created[k] for k in workflow} == workflow
    assert isinstance(created["timestamp_upload"], int)
    regression = {"uuid": "W2", "target": "price", "problem_type": "regression"}
    assert (
        ok(call(client, "POST", "/workflow", json=regression), 201)["new_workflow"]["metric"]
        == "r2"
    )
    refused(call(client, "POST", "/workflow", json=workflow), 409, "W1")
    wrong = {**workflow, "uuid": "W3", "problem_type": "regression"}
    refused(call(client, "POST", "/workflow", json=wrong), 400, "metric", "r2")
    refused(
        call(client, "POST", "/workflow", json={**workflow, "uuid": "W4", "problem_type": "x"}),
        400,
        "problem_type",
    )
    listed = ok(call(client, "GET", "/workflow?problem_type=classification"))["workflows"]
    assert [w["uuid"] for w in listed] == ["W1"]


def test_racing_workers_get_one_claim_and_reports_carry_the_best_model_forward(
    client: TestClient,
) -> None:
    uplets = ledger_with_chain(client)
    refused(claim(client, uplets[1]), 400, "worker not set", "model_start")

    start = threading.Barrier(2)

    def race(worker: str) -> int:
        start.wait()
        response = call(
            client, "POST", f"/worker/learnuplet/{uplets[0]['uuid']}", json={"worker": worker}
        )
        return int(response.status_code)

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(race, ["w-1", "w-2"]))
    assert statuses == [200, 400]
    first = ok(call(client, "GET", f"/learnuplet/{uplets[0]['uuid']}"))
    assert first["status"] == "pending" and first["worker"] in ("w-1", "w-2")
    refused(claim(client, uplets[0]), 400, "already pending")

    # a report without its perf changes nothing
    refused(
        call(client, "POST", f"/learndone/{uplets[0]['uuid']}", json={"status": "done"}),
        400,
        "perf",
    )
    assert ok(call(client, "GET", f"/learnuplet/{uplets[0]['uuid']}"))["status"] == "pending"

    assert ok(learn_done(client, uplets[0], 0.7)) == {"updated_learnuplet": uplets[0]["uuid"]}
    refused(learn_done(client, uplets[0], 0.7), 400, "no update of learnuplet")
    uplets = chain(client)
    assert uplets[0]["status"] == "done" and uplets[0]["perf"] == 0.7
    assert uplets[0]["train_perf"] == dict.fromkeys(TRAIN[0:4], 0.7)
    assert isinstance(uplets[0]["timestamp_done"], int)
    assert uplets[1]["model_start"] == uplets[0]["model_end"]

    # a worse model: the next rank starts from the better one before it
    ok(claim(client, uplets[1]))
    ok(learn_done(client, uplets[1], 0.5))
    uplets = chain(client)
    assert uplets[2]["model_start"] == uplets[0]["model_end"]

    # new data extend the chain from its last rank, which is not done: nothing to start from yet
    added = ok(
        call(client, "POST", "/data", json={"uuid": ["D10", "D11"], "problems": ["P1"]}), 201
    )
    assert added["new_learnuplets"] == 1
    uplets = chain(client)
    assert [u["rank"] for u in uplets] == [0, 1, 2, 3]
    assert uplets[3]["train_data"] == ["D10", "D11"] and uplets[3]["model_start"] is None
    ok(claim(client, uplets[2]))
    ok(learn_done(client, uplets[2], 0.9))
    uplets = chain(client)
    assert uplets[3]["model_start"] == uplets[2]["model_end"]

    # a failed rank stops the chain there
    ok(claim(client, uplets[3]))
    failed = call(client, "POST", f"/learndone/{uplets[3]['uuid']}", json={"status": "failed"})
    assert ok(failed) == {"updated_learnuplet": uplets[3]["uuid"]}
    assert chain(client)[3]["status"] == "failed" and chain(client)[3]["perf"] is None


def test_predictions_use_the_problems_best_model(client: TestClient) -> None:
    uplets = ledger_with_chain(client)
    refused(
        call(client, "POST", "/prediction", json={"data": ["X1"], "problem": "P1"}),
        400,
        "no problem or trained model",
    )
    ok(claim(client, uplets[0]))
    ok(learn_done(client, uplets[0], 0.8))
    ok(claim(client, chain(client)[1]))
    ok(learn_done(client, chain(client)[1], 0.6))
    best = chain(client)[0]["model_end"]

    as_list = ok(
        call(client, "POST", "/prediction", json={"data": ["X1", "X2"], "problem": "P1"}), 201
    )
    assert as_list["new_preduplets"] == 1
    assert as_list["model"] == best and as_list["data"] == ["X1", "X2"]
    assert as_list["status"] == "todo" and as_list["workflow"] == "W1"
    as_text = ok(call(client, "POST", "/prediction", json={"data": "X3", "problem": "P1"}), 201)
    assert as_text["data"] == "X3"

    preduplet = ok(call(client, "GET", f"/preduplet/{as_list['uuid']}"))
    assert preduplet["prediction_storage_uuid"] is None and "new_preduplets" not in preduplet
    assert ok(claim(client, preduplet, "preduplet")) == {"preduplet_worker_set": preduplet["uuid"]}
    refused(
        call(client, "POST", f"/preddone/{preduplet['uuid']}", json={"status": "done"}),
        400,
        "prediction_storage_uuid",
    )
    done = call(
        client,
        "POST",
        f"/preddone/{preduplet['uuid']}",
        json={"status": "done", "prediction_storage_uuid": "S1"},
    )
    assert ok(done) == {"updated_preduplet": preduplet["uuid"]}
    stored = ok(call(client, "GET", f"/preduplet/{preduplet['uuid']}"))
    assert stored["status"] == "done" and stored["prediction_storage_uuid"] == "S1"
    assert isinstance(stored["timestamp_done"], int)
    listed = ok(call(client, "GET", "/preduplet?status=todo"))["preduplets"]
    assert [p["uuid"] for p in listed] == [as_text["uuid"]]


def test_refusals_name_what_is_wrong_in_the_originals_error_shape(client: TestClient) -> None:
    ledger_with_chain(client)
    refused(call(client, "GET", "/learnuplet/nope"), 404, "nope")
    refused(call(client, "GET", "/widgets"), 404, "Page does not exist")
    refused(
        call(client, "POST", "/worker/widget/x", json={"worker": "w"}), 404, "Page does not exist"
    )
    refused(call(client, "POST", "/learndone/nope", json={"status": "failed"}), 404, "nope")
    refused(new_problem(client), 409, "P1")
    refused(
        call(client, "POST", "/algo", json={"uuid": "A1", "name": "x", "problem": "P1"}), 409, "A1"
    )
    refused(call(client, "POST", "/data", json={"uuid": "D00", "problems": ["P1"]}), 409, "D00")
    refused(
        call(client, "POST", "/algo", json={"uuid": "A2", "name": "x", "problem": "P9"}),
        400,
        "non-existing related problem",
    )
    message = refused(
        call(client, "POST", "/problem", json={"uuid": "P2", "workflow": "W", "test_dataset": []}),
        400,
        "size_train_dataset",
    )
    assert message.startswith("wrong key in posted data")
    refused(
        call(
            client,
            "POST",
            "/problem",
            json={"uuid": "P2", "workflow": "W", "test_dataset": "T1", "size_train_dataset": 2},
        ),
        400,
        "test_dataset",
    )
    refused(
        call(
            client,
            "POST",
            "/problem",
            content=b"not json",
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    refused(call(client, "POST", "/learndone/x", json={"status": "finished"}), 400, "status")
    # a number too large for a float is a bad perf, not a server error
    huge = {"status": "done", "perf": 10**400}
    refused(call(client, "POST", "/learndone/x", json=huge), 400, "perf")
    scores = {"status": "done", "perf": 0.5, "train_perf": {"D00": 10**400}}
    refused(call(client, "POST", "/learndone/x", json=scores), 400, "train_perf")
    refused(call(client, "GET", "/learnuplet?rank=first"), 400, "rank", "integer")
    refused(call(client, "GET", "/learnuplet?colour=red"), 400, "colour")
    # nothing refused was stored
    assert [p["uuid"] for p in ok(call(client, "GET", "/problem"))["problems"]] == ["P1"]
    assert [a["uuid"] for a in ok(call(client, "GET", "/algo"))["algos"]] == ["A1"]


def test_workers_authenticate_with_basic_credentials_or_a_bearer_token(client: TestClient) -> None:
    anonymous = client.get(f"{BASE}/problem")
    refused(anonymous, 401)
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    refused(call(client, "GET", "/problem", auth=basic(password="wrong-password")), 401)
    garbled = client.get(f"{BASE}/problem", headers={"Authorization": "Basic !!!"})
    refused(garbled, 401, "base64")
    ok(new_problem(client, auth=basic()), 201)
    headers = admin_headers(client)
    listed = client.get(f"{BASE}/problem", headers=headers)
    assert [p["uuid"] for p in ok(listed)["problems"]] == ["P1"]
    # Basic credentials are for this profile only
    assert client.get("/api/v1/dataset/list", auth=basic()).status_code == 401


def test_another_tenant_sees_and_touches_nothing_of_the_ledger(client: TestClient) -> None:
    uplets = ledger_with_chain(client)
    _, other = new_tenant_with_admin(client, admin_headers(client), "other")

    def as_other(method: str, path: str, **kwargs: Any) -> Any:
        return client.request(method, f"{BASE}{path}", headers=other, **kwargs)

    for collection in ("workflow", "problem", "algo", "data", "learnuplet", "preduplet"):
        assert ok(as_other("GET", f"/{collection}"))[f"{collection}s"] == []
    refused(as_other("GET", "/problem/P1"), 404)
    refused(as_other("GET", f"/learnuplet/{uplets[0]['uuid']}"), 404)
    refused(as_other("POST", f"/worker/learnuplet/{uplets[0]['uuid']}", json={"worker": "x"}), 404)
    refused(as_other("POST", f"/learndone/{uplets[0]['uuid']}", json={"status": "failed"}), 404)
    refused(
        as_other("POST", "/algo", json={"uuid": "A9", "name": "x", "problem": "P1"}),
        400,
        "non-existing related problem",
    )
    refused(as_other("POST", "/prediction", json={"data": "X", "problem": "P1"}), 400)
    # its own P1 is another document
    own = {"uuid": "P1", "workflow": "W2", "test_dataset": [], "size_train_dataset": 1}
    ok(as_other("POST", "/problem", json=own), 201)
    assert ok(as_other("GET", "/problem/P1"))["workflow"] == "W2"
    assert ok(call(client, "GET", "/problem/P1"))["workflow"] == "W1"
    assert chain(client)[0]["status"] == "todo"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_profile_is_mounted_where_the_settings_say(tmp_path: Path, enabled: bool) -> None:
    from api.app import create_app

    settings: Settings = make_settings(
        tmp_path, orchestrator_profile=enabled, orchestrator_prefix="/ledger/v1"
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/ledger/v1/problem", auth=basic())
        assert response.status_code == (200 if enabled else 404), response.text
        assert client.get(f"{BASE}/problem", auth=basic()).status_code == 404
