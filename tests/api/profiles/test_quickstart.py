"""The quickstart profile through the real app: a 5-D dataset from a pickle to predictions,
with Dagster runs, Iceberg tables and an MLflow model behind every step."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient

from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, upload
from tests.conftest import make_settings

ROWS = 400


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, workers=1, quickstart=True)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


def five_d(rows: int = ROWS, **changes: Any) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    features = rng.uniform(0, 1, size=(rows, 5))
    target = (
        np.sin(3 * features[:, 0]) + features[:, 1] ** 2 - features[:, 2] + 0.5 * features[:, 3]
    )
    data = {
        "X": features,
        "y": target,
        "metadata": {"feature_names": [f"x{i}" for i in range(1, 6)], "target_name": "y"},
    }
    return {**data, **changes}


def sent(client: TestClient, content: bytes, name: str = "data.pkl") -> Any:
    return client.post("/upload", files={"file": (name, content, "application/octet-stream")})


def refused(response: Any, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and message in body["message"], body


def test_from_pickle_to_prediction_and_back_to_nothing(client: TestClient) -> None:
    assert client.get("/").json() == {"message": "Backend is connected!"}
    assert client.get("/health").json() == {
        "status": "ok",
        "detail": "Backend is connected and running fine.",
    }
    refused(client.post("/train", json={"epochs": 5}), 409, "No preprocessed dataset found")
    refused(client.post("/predict", json={"inputs": [0.5] * 5}), 409, "No trained model found")

    data = five_d()
    uploaded = sent(client, pickle.dumps(data))
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {
        "status": "success",
        "message": "Pickle dataset uploaded, stored, and preprocessed",
        "filename": "data.pkl",
        "num_points": ROWS,
        "num_features": 5,
        "target_range": {"min": float(data["y"].min()), "max": float(data["y"].max())},
        "train_size": 280,
        "val_size": 60,
        "test_size": 60,
    }

    trained = client.post(
        "/train", json={"epochs": 200, "learning_rate": 0.01, "hidden_layers": [32, 16]}
    )
    assert trained.status_code == 200, trained.text
    body = trained.json()
    assert body["status"] == "success" and body["message"] == "Model trained for 200 epochs"
    assert body["r2"] > 0.8 and 0 < body["mse"] < 0.1, body
    assert (body["train_size"], body["val_size"], body["test_size"]) == (280, 60, 60)
    assert body["training_time_seconds"] > 0
    assert body["model_path"].startswith("models:/") and body["model_path"].endswith("/1")
    for url in (body["learning_curve_url"], body["predictions_plot_url"]):
        image = client.get(url)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG"), url
    refused(client.get("/outputs/model.pkl"), 404, "no output named")

    point = [0.5, 0.5, 0.5, 0.5, 0.5]
    predicted = client.post("/predict", json={"inputs": point})
    assert predicted.status_code == 200, predicted.text
    answer = predicted.json()
    assert answer["status"] == "success" and answer["inputs"] == point
    expected = np.sin(1.5) + 0.25 - 0.5 + 0.25
    assert abs(answer["prediction"] - expected) < 0.3, answer

    # The model is an MLflow model of the sandbox tenant, trained with the asked settings.
    from lakehouse.ml.tracking import tracking_client

    platform = client.app.state.platform
    mlflow = tracking_client(platform.settings)
    name = body["model_path"].removeprefix("models:/").rsplit("/", 1)[0]
    version = mlflow.get_model_version(name, "1")
    assert version.run_id is not None
    params = mlflow.get_run(version.run_id).data.params
    assert params["trained_algorithm"] == "MLP" and params["epochs"] == "200"
    assert params["hidden_layers"] == "[32, 16]" and params["learning_rate"] == "0.01"

    # A second training replaces the first model.
    again = client.post("/train", json={"epochs": 20})
    assert again.status_code == 200 and again.json()["model_path"] != body["model_path"]
    assert not mlflow.search_registered_models(filter_string=f"name = '{name}'")

    reset = client.post("/reset")
    assert reset.status_code == 200, reset.text
    removed = reset.json()["removed"]
    assert removed["uploads"] == ["data.pkl"]
    assert any(o.startswith("models:/") for o in removed["outputs"])
    assert any(o.endswith("__features") for o in removed["outputs"])
    refused(client.post("/predict", json={"inputs": point}), 409, "No trained model found")
    refused(client.post("/train", json={"epochs": 5}), 409, "No preprocessed dataset found")
    assert client.post("/reset").json() == {
        "status": "success",
        "removed": {"uploads": [], "outputs": []},
    }


class RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(
    client: TestClient, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    for payload in (
        pickle.dumps(RunsACommand(marker)),
        pickle.dumps(five_d(metadata=RunsACommand(marker))),
        pickle.dumps({"X": RunsACommand(marker), "y": [1.0]}, protocol=2),
    ):
        refused(sent(client, payload), 422, "Failed to load pickle: 'posix.system' is not data")
    assert not marker.exists()
    refused(sent(client, b"not a pickle at all"), 422, "Failed to load pickle")


def test_bad_uploads_are_refused_and_keep_the_current_dataset(client: TestClient) -> None:
    assert sent(client, pickle.dumps(five_d())).status_code == 200
    cases: list[tuple[bytes, str, str]] = [
        (pickle.dumps(five_d()), "data.csv", "Only pickle files (.pkl, .pickle) are allowed."),
        (pickle.dumps(five_d(X=np.ones((ROWS, 4)))), "d.pkl", "X must have shape (n, 5)"),
        (pickle.dumps(five_d(y=np.ones((ROWS, 2)))), "d.pkl", "Data preprocessing failed"),
        (pickle.dumps(five_d(y=np.ones(ROWS - 1))), "d.pkl", "Data preprocessing failed"),
        (pickle.dumps(five_d(y=np.full(ROWS, np.nan))), "d.pkl", "y holds NaN"),
        (pickle.dumps(five_d(X=np.full((ROWS, 5), "a"))), "d.pkl", "X must hold numbers"),
        (pickle.dumps([1, 2, 3]), "d.pickle", "Data preprocessing failed"),
        (pickle.dumps({"X": [[1, 2, 3, 4, 5], [1]], "y": [1, 2]}), "d.pkl", "must be arrays"),
        (pickle.dumps(five_d(rows=3)), "d.pkl", "too few"),
    ]
    for content, name, message in cases:
        status = 422
        refused(sent(client, content, name), status, message)
    refused(client.post("/upload", files={"other": ("d.pkl", b"x")}), 422, "'file'")
    # The dataset uploaded first is still the one training uses.
    assert client.post("/train", json={"epochs": 5, "hidden_layers": [4]}).status_code == 200


def test_training_and_prediction_inputs_are_checked(client: TestClient) -> None:
    for body, field in [
        ({}, "epochs"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 1001}, "epochs"),
        ({"epochs": "10"}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"epochs": 5, "learning_rate": 0}, "learning_rate"),
        ({"epochs": 5, "learning_rate": 1.5}, "learning_rate"),
        ({"epochs": 5, "hidden_layers": []}, "hidden_layers"),
        ({"epochs": 5, "hidden_layers": [0]}, "hidden_layers"),
        ({"epochs": 5, "hidden_layers": [4097]}, "hidden_layers"),
        ({"epochs": 5, "hidden_layers": [8] * 11}, "hidden_layers"),
        ({"epochs": 5, "dropout": 0.1}, "dropout"),
    ]:
        response = client.post("/train", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field and field in response.json()["message"], body
    for inputs in ([0.5] * 4, [0.5] * 6, [0.5, 0.5, 0.5, 0.5, "x"], [0.5, 0.5, 0.5, 0.5, None]):
        refused(client.post("/predict", json={"inputs": inputs}), 422, "exactly 5 finite")
    nan = b'{"inputs": [0.5, 0.5, 0.5, 0.5, NaN]}'
    response = client.post("/predict", content=nan, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["status"] == "error", response.text
    broken = client.post("/train", content=b"[1, 2", headers={"Content-Type": "application/json"})
    refused(broken, 400, "truncated")


def test_the_sandbox_is_a_tenant_of_its_own(client: TestClient) -> None:
    headers = admin_headers(client)
    mine = upload(client, headers, [("mine.csv", b"a,b\n1,2\n3,4\n")], dataset_name="mine")
    assert mine.status_code == 201, mine.text
    assert sent(client, pickle.dumps(five_d())).status_code == 200
    listed = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert [d["dataset_name"] for d in listed] == ["mine"]
    removed = client.post("/reset").json()["removed"]
    assert removed["uploads"] == ["data.pkl"]
    listed = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert [d["dataset_name"] for d in listed] == ["mine"]


def test_a_tenant_with_users_of_its_own_is_never_a_sandbox(tmp_path: Path) -> None:
    from lakehouse.accounts import users
    from lakehouse.errors import ConflictError
    from lakehouse.profiles.sandbox import sandbox_principal
    from lakehouse.store import MetadataStore

    store = MetadataStore(f"sqlite:///{tmp_path / 'strata.db'}")
    store.migrate()
    with store.session() as session:
        sandbox = sandbox_principal(session, "quickstart")
        assert sandbox_principal(session, "quickstart") == sandbox  # found again on restart
        team = users.create_tenant(session, "team")
        users.create_user(
            session,
            None,
            users.NewUser(team.id, "member", "m@example.com", users.generate_password()),
        )
        with pytest.raises(ConflictError, match="cannot be a sandbox"):
            sandbox_principal(session, "team")
        users.create_user(
            session,
            None,
            users.NewUser(sandbox.tenant_id, "intruder", "i@example.com", "pw-" + "x" * 20),
        )
        with pytest.raises(ConflictError, match="cannot be a sandbox"):
            sandbox_principal(session, "quickstart")
    store.dispose()


def test_the_profile_can_be_switched_off(tmp_path: Path) -> None:
    from api.app import create_app

    with TestClient(create_app(make_settings(tmp_path))) as client:
        for path in ("/", "/health"):
            assert client.get(path).status_code in (401, 404)
        assert client.post("/upload", files={"file": ("d.pkl", b"x")}).status_code in (401, 404)
