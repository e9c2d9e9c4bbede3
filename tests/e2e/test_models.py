"""Models end to end through the API: upload, validate, train, summarise, explain, predict."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from litestar.testing import TestClient

from lakehouse.lake.catalog import open_catalog
from lakehouse.lake.naming import PredictorTables
from lakehouse.ml.spec import SEED
from lakehouse.ml.tracking import tracking_client
from lakehouse.ml.training import split_rows
from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, me, new_tenant_with_admin, upload
from tests.conftest import make_settings
from tests.pipelines.runs import wait_for

FINAL = {"SUCCESS", "FAILURE", "CANCELED"}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url, workers=1)


SERVICE_TOKEN = "service-token-" + "s" * 32


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, workers=1, service_token=SERVICE_TOKEN)


@pytest.fixture
def sqlite_client(sqlite_settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(sqlite_settings)) as test_client:
        yield test_client


def bundled(name: str) -> pd.DataFrame:
    """A scikit-learn bundled dataset with an id column and, for classes, their names."""
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = loaded.frame
    if name != "diabetes":
        names = list(loaded.target_names)
        frame["target"] = [str(names[int(v)]) for v in frame["target"]]
    frame.insert(0, "row_id", range(1, len(frame) + 1))
    return frame


def as_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def call(client: TestClient, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    response = client.request(method, f"/api/v1/{path}", headers=headers, **kw)
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


def valid_dataset(client: TestClient, headers: dict[str, str], name: str, data: bytes) -> int:
    response = upload(client, headers, [(f"{name}.csv", data)], dataset_name=name)
    assert response.status_code == 201, response.text
    dataset_id: int = response.json()["dataset_id"]
    listed = call(client, "GET", "dataset/list", headers)["data"]
    run_id = next(d for d in listed if d["id"] == dataset_id)["last_run_id"]
    assert wait_for(client, headers, run_id, FINAL)["status"] == "SUCCESS"
    listed = call(client, "GET", "dataset/list", headers)["data"]
    assert next(d for d in listed if d["id"] == dataset_id)["is_valid"]
    return dataset_id


def roles(frame: pd.DataFrame, target: str = "target", **special: str) -> list[dict[str, str]]:
    assigned = {"row_id": "Id", target: "Target", **special}
    return [{"column_name": c, "attribute_name": assigned.get(c, "Feature")} for c in frame.columns]


def trained(client: TestClient, headers: dict[str, str], request: dict[str, Any]) -> dict[str, Any]:
    """Create a training, wait for its run, and return its list entry."""
    created = client.post("/api/v1/train/", json=request, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["training_status"] == "submitted"
    run = wait_for(client, headers, body["last_run_id"], FINAL, timeout=300)
    entry = next(
        t for t in call(client, "GET", "train/list", headers)["data"] if t["id"] == body["id"]
    )
    assert run["status"] == "SUCCESS", entry
    assert entry["training_status"] == "completed"
    return entry


def answer_of_version(
    client: TestClient, headers: dict[str, str], train_id: int, row: dict[str, Any], version: int
) -> dict[str, Any]:
    """A real-time answer from `version`: the served model follows the registered version,
    whose number the API reads at most once a second."""
    deadline = time.monotonic() + 10
    while True:
        answer: dict[str, Any] = call(
            client, "POST", "inference/", headers, json={"train_id": train_id, "features": row}
        )
        if answer["model_version"] == version:
            return answer
        assert answer["model_version"] < version and time.monotonic() < deadline, answer
        time.sleep(0.1)


def test_binary_classification_end_to_end(client: TestClient, settings: Settings) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    frame = bundled("breast_cancer")
    features = [c for c in frame.columns if c not in ("row_id", "target")]
    dataset_id = valid_dataset(client, headers, "cancer", as_csv(frame))

    details = call(
        client,
        "POST",
        "train/get_details",
        headers,
        json={
            "dataset_id": dataset_id,
            "predictor_name": "cancer risk",
            "domain": "Health",
            "problem_type": "Classification",
        },
    )
    assert details["attributes"] == ["Id", "Target", "Feature", "Timestamp", "Series", "Ignore"]
    schema = {c["column_name"]: c["data_type"] for c in details["dataset_schema"]}
    assert schema["target"] == "String" and schema["mean radius"] == "Float"

    request = {
        "dataset_id": dataset_id,
        "predictor_name": "cancer risk",
        "domain": "Health",
        "problem_type": "Classification",
        "columns": roles(frame),
        "shap_enabled": True,
    }
    created = client.post("/api/v1/train/", json=request, headers=headers)
    assert created.status_code == 201, created.text
    train_id = created.json()["id"]
    # Until a version is registered, the model cannot answer.
    early = client.post(
        "/api/v1/inference/",
        json={"train_id": train_id, "features": {"mean radius": 1.0}},
        headers=headers,
    )
    assert early.status_code == 409 and early.json()["field"] == "train_id"
    run = wait_for(client, headers, created.json()["last_run_id"], FINAL, timeout=300)
    assert run["status"] == "SUCCESS"
    [entry] = call(client, "GET", "train/refresh", headers)["data"]
    assert entry["training_status"] == "completed" and entry["model_version"] == 1
    assert entry["accuracy"] >= 0.94 and entry["dataset_name"] == "cancer"

    # The summary is MLflow's record of the run.
    summary = call(client, "GET", "train/model-summary", headers, params={"train_id": train_id})
    mlflow = tracking_client(settings)
    tables = PredictorTables(tenant_id, "cancer_risk")
    [version] = mlflow.search_model_versions(f"name = '{tables.model_name}'")
    run_id = version.run_id
    assert run_id is not None
    run_data = mlflow.get_run(run_id).data
    assert summary["model_summary"]["accuracy"] == run_data.metrics["accuracy"] >= 0.94
    assert summary["model_summary"]["f1_score"] == run_data.metrics["f1"]
    assert sum(map(sum, summary["confusion_matrix"])) == len(split_rows(len(frame), SEED).test)
    assert {"roc_auc", "cv_accuracy_mean", "cv_accuracy_std"} <= set(run_data.metrics)
    artifacts = {a.path for a in mlflow.list_artifacts(run_id, "plots")}
    assert artifacts == {
        "plots/confusion_matrix.png",
        "plots/confusion_matrix_normalized.png",
        "plots/roc_curve.png",
        "plots/learning_curve.png",
    }
    assert {a.path for a in mlflow.list_artifacts(run_id, "shap")} == {
        "shap/feature_importance.json",
        "shap/summary.png",
    }
    from mlflow.models import get_model_info

    info = get_model_info(f"models:/{tables.model_name}/1")
    assert info.signature.inputs.input_names() == features

    # SHAP ran in the same run: mean |SHAP| per original feature, largest first.
    shap = call(
        client, "GET", "train/view-feature-importance", headers, params={"train_id": train_id}
    )
    assert shap["status"] == "completed" and set(shap["feature_importance"]) == set(features)
    values = list(shap["feature_importance"].values())
    assert values == sorted(values, reverse=True) and values[0] > 0
    catalog = open_catalog(settings)
    assert catalog.load_table(tables.shap.identifier).scan().to_arrow().num_rows == len(features)

    # Real time: the first row's features give its class with probabilities.
    row = {name: float(frame.loc[0, name]) for name in features}
    answer = call(
        client,
        "POST",
        "inference/",
        headers,
        json={"train_id": train_id, "features": row, "target": "target"},
    )
    assert answer["prediction"] == frame.loc[0, "target"] == "malignant"
    assert set(answer["probabilities"]) == {"benign", "malignant"}
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert answer["accuracy"] == entry["accuracy"] and answer["model_version"] == 1
    as_text = call(
        client,
        "POST",
        "inference/",
        headers,
        json={"train_id": train_id, "features": {k: str(v) for k, v in row.items()}},
    )
    assert as_text["probabilities"] == answer["probabilities"]
    for features_sent, field in [
        ({**row, "mean radius": "wide"}, "features.mean radius"),
        ({**row, "mean radius": 10**400}, "features.mean radius"),
        ({**row, "colour": 1}, "features.colour"),
        ({k: v for k, v in row.items() if k != "worst area"}, "features.worst area"),
    ]:
        refused = client.post(
            "/api/v1/inference/",
            json={"train_id": train_id, "features": features_sent},
            headers=headers,
        )
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    wrong_target = client.post(
        "/api/v1/inference/",
        json={"train_id": train_id, "features": row, "target": "other"},
        headers=headers,
    )
    assert wrong_target.status_code == 422 and wrong_target.json()["field"] == "target"

    form = call(client, "GET", "inference/form-based-prediction", headers, params={"id": train_id})
    assert [h["column_name"] for h in form["headers"]] == features
    assert {h["data_type"] for h in form["headers"]} == {"Float"}
    assert form["target"] == "target"

    # Batch: the whole dataset scored into the gold table and a CSV.
    batch = client.post(
        "/api/v1/inference/batch-prediction",
        json={"train_id": train_id, "dataset_id": dataset_id},
        headers=headers,
    )
    assert batch.status_code == 202 and batch.json()["status_code"] == 202, batch.text
    assert wait_for(client, headers, batch.json()["job_id"], FINAL)["status"] == "SUCCESS"
    prediction_id = batch.json()["prediction_id"]
    result = call(
        client, "GET", "inference/result", headers, params={"prediction_id": prediction_id}
    )
    assert result["status"] == "completed" and result["no_of_records"] == len(frame)
    assert result["dataset_id"] == dataset_id
    download = client.get(
        "/api/v1/files/download", params={"file_path": result["result_path"]}, headers=headers
    )
    assert download.status_code == 200
    scored = list(csv.DictReader(io.StringIO(download.text)))
    assert len(scored) == len(frame)
    assert {"row_id", "prediction", "probability_benign", "model_version"} <= set(scored[0])
    hits = sum(r["prediction"] == frame.loc[int(r["row_id"]) - 1, "target"] for r in scored)
    assert hits / len(scored) >= 0.94
    gold = catalog.load_table(tables.predictions.identifier).scan().to_arrow()
    assert gold.num_rows == len(frame) and set(gold["prediction_id"].to_pylist()) == {prediction_id}

    logged = call(client, "GET", "inference/predictions", headers, params={"train_id": train_id})
    kinds = [p["prediction_type"] for p in logged["data"]]
    assert kinds.count("realtime") == 2 and kinds.count("batch") == 1
    realtime = next(p for p in logged["data"] if p["prediction_type"] == "realtime")
    assert realtime["input_data"] == row and realtime["output"]["prediction"] == "malignant"

    # Another tenant sees none of it.
    _, other = new_tenant_with_admin(client, headers, "other")
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "train/model-summary", {"params": {"train_id": train_id}}),
        ("POST", "inference/", {"json": {"train_id": train_id, "features": row}}),
        ("GET", "inference/result", {"params": {"prediction_id": prediction_id}}),
        ("DELETE", f"train/delete/{train_id}", {}),
    ]
    for method, path, kwargs in requests:
        response = client.request(method, f"/api/v1/{path}", headers=other, **kwargs)
        assert response.status_code == 404, (path, response.text)

    # Delete removes the model versions and gold tables, and nothing else.
    deleted = call(client, "DELETE", f"train/delete/{train_id}", headers)
    assert deleted == {"status_code": 200, "message": "Training job deleted successfully"}
    assert mlflow.search_model_versions(f"name = '{tables.model_name}'") == []
    assert not any(catalog.table_exists(ref.identifier) for ref in tables.all())
    assert call(client, "GET", "dataset/view", headers, params={"dataset_id": dataset_id})[
        "preview"
    ]
    gone = client.post(
        "/api/v1/inference/", json={"train_id": train_id, "features": row}, headers=headers
    )
    assert gone.status_code == 404


def test_regression_and_the_same_training_through_dagster(
    sqlite_client: TestClient, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg
    from mlflow.models import get_model_info

    from assets.models import predictor_features, predictor_model
    from pipelines.instance import open_instance
    from resources import LakehouseResource

    client, headers = sqlite_client, admin_headers(sqlite_client)
    frame = bundled("diabetes")
    dataset_id = valid_dataset(client, headers, "diabetes", as_csv(frame))
    entry = trained(
        client,
        headers,
        {
            "dataset_id": dataset_id,
            "predictor_name": "progression",
            "domain": "Health",
            "problem_type": "Regression",
            "columns": roles(frame),
        },
    )
    assert entry["accuracy"] >= 0.35  # R² on the test rows
    train_id = entry["id"]
    summary = call(client, "GET", "train/model-summary", headers, params={"train_id": train_id})
    assert summary["confusion_matrix"] is None and summary["model_summary"]["accuracy"] is None
    metrics = summary["model_summary"]["metrics"]
    assert metrics["r2"] == entry["accuracy"] and metrics["rmse"] == pytest.approx(
        metrics["mse"] ** 0.5
    )
    row = {c: float(frame.loc[3, c]) for c in frame.columns if c not in ("row_id", "target")}
    answer = call(
        client, "POST", "inference/", headers, json={"train_id": train_id, "features": row}
    )
    assert isinstance(answer["prediction"], float) and answer["probabilities"] is None
    assert abs(answer["prediction"] - frame.loc[3, "target"]) < 3 * metrics["rmse"]

    # Materialized through Dagster's own API, as from the UI: a second version, same signature.
    model_name = PredictorTables(me(client, headers)["tenant_id"], "progression").model_name
    for name, value in sqlite_settings.as_env(with_secrets=True).items():
        monkeypatch.setenv(name, value)
    with open_instance(sqlite_settings) as instance:
        result = dg.materialize(
            [predictor_features, predictor_model],
            instance=instance,
            partition_key=str(train_id),
            resources={"lakehouse": LakehouseResource()},
        )
    assert result.success
    [event] = result.asset_materializations_for_node("predictor_model")
    assert event.metadata["model_version"].value == 2
    first = get_model_info(f"models:/{model_name}/1").signature
    second = get_model_info(f"models:/{model_name}/2").signature
    assert first == second and first.inputs.input_names() == list(row)
    newer = answer_of_version(client, headers, train_id, row, 2)
    assert newer["prediction"] == pytest.approx(answer["prediction"])


def test_multiclass_then_incremental_training(sqlite_client: TestClient) -> None:
    client, headers = sqlite_client, admin_headers(sqlite_client)
    frame = bundled("wine")
    first, later = frame.iloc[::2], frame.iloc[1::2]
    first_id = valid_dataset(client, headers, "wine_a", as_csv(first))
    later_id = valid_dataset(client, headers, "wine_b", as_csv(later))
    request = {
        "dataset_id": first_id,
        "predictor_name": "cultivar",
        "domain": "Wine",
        "problem_type": "Classification",
        "columns": roles(frame),
        "algorithm": "XGBoost",
    }
    entry = trained(client, headers, request)
    assert entry["trained_algorithm"] == "XGBoost" and entry["model_version"] == 1
    # The run's log shows the stages and the boosting rounds as they pass.
    events = call(
        client, "GET", f"runs/{entry['last_run_id']}/logs", headers, params={"limit": 5000}
    )["events"]
    messages = [e["message"] for e in events]
    assert any("XGBClassifier: boosting round 300/300" in m for m in messages)
    assert any(m.startswith("fitted XGBoost") for m in messages)
    assert any(m.startswith("logged the run and registered") for m in messages)
    summary = call(client, "GET", "train/model-summary", headers, params={"train_id": entry["id"]})
    assert summary["model_summary"]["model"] == "XGBClassifier"
    assert len(summary["confusion_matrix"]) == 3
    row = {c: float(frame.loc[1, c]) for c in frame.columns if c not in ("row_id", "target")}
    answer = call(
        client, "POST", "inference/", headers, json={"train_id": entry["id"], "features": row}
    )
    assert set(answer["probabilities"]) == {"class_0", "class_1", "class_2"}

    taken = client.post("/api/v1/train/", json=request, headers=headers)
    assert taken.status_code == 409 and taken.json()["field"] == "predictor_name"
    again = trained(client, headers, {**request, "dataset_id": later_id, "is_incremental": True})
    assert again["id"] == entry["id"] and again["model_version"] == 2
    assert again["dataset_id"] == later_id and again["accuracy"] >= 0.8
    answer_of_version(client, headers, entry["id"], row, 2)


def test_forecast_end_to_end(sqlite_client: TestClient) -> None:
    import statsmodels.api as sm

    client, headers = sqlite_client, admin_headers(sqlite_client)
    series = sm.datasets.co2.load_pandas().data.dropna().reset_index(names="week")
    series["week"] = series["week"].dt.strftime("%Y-%m-%d")
    dataset_id = valid_dataset(client, headers, "co2", as_csv(series))
    entry = trained(
        client,
        headers,
        {
            "dataset_id": dataset_id,
            "predictor_name": "co2 weekly",
            "domain": "Climate",
            "problem_type": "Forecast",
            "columns": [
                {"column_name": "week", "attribute_name": "Timestamp"},
                {"column_name": "co2", "attribute_name": "Target"},
            ],
        },
    )
    train_id = entry["id"]
    metrics = call(client, "GET", "train/model-summary", headers, params={"train_id": train_id})[
        "model_summary"
    ]["metrics"]
    assert {"mae", "rmse", "mape", "horizon"} <= set(metrics) and metrics["mape"] < 10
    body = {"train_id": train_id, "preprocess_id": 1, "steps": 4, "frequency": "Week"}
    points = call(client, "POST", "inference/forecast", headers, json=body)["forecast"]
    assert len(points) == 4
    dates = pd.to_datetime([p["date"] for p in points])
    assert all(step.days == 7 for step in dates[1:] - dates[:-1])
    assert dates[0] > pd.Timestamp(series["week"].iloc[-1])
    for point in points:
        assert point["lower"] < point["value"] < point["upper"] and point["confidence"] == 0.95
        assert abs(point["value"] - series["co2"].iloc[-1]) < 10
    widths = [p["upper"] - p["lower"] for p in points]
    assert widths == sorted(widths)
    from_dataset = call(
        client, "POST", "inference/forecast", headers, json={**body, "dataset_id": dataset_id}
    )["forecast"]
    assert from_dataset == points
    changes: list[tuple[dict[str, Any], str]] = [
        ({"frequency": "fortnight"}, "frequency"),
        ({"frequency": "0D"}, "frequency"),
        ({"frequency": "-1D"}, "frequency"),
        ({"steps": 0}, "steps"),
    ]
    for change, field in changes:
        refused = client.post(
            "/api/v1/inference/forecast", json={**body, **change}, headers=headers
        )
        assert refused.status_code in (400, 422) and field in refused.text, refused.text
    # A forecast reads its own lagged values: rows of features cannot be scored or explained.
    batch = client.post(
        "/api/v1/inference/batchPrediction",
        json={"train_id": train_id, "dataset_id": dataset_id},
        headers=headers,
    )
    shap = client.get(
        "/api/v1/train/generate-feature-importance",
        params={"train_id": train_id},
        headers=headers,
    )
    for refused in (batch, shap):
        assert refused.status_code == 422 and "forecast" in refused.json()["detail"], refused.text


def test_bad_training_requests_leave_nothing_behind(sqlite_client: TestClient) -> None:
    from tests.e2e.test_data_path import ROWS, TEMPLATE

    client, headers = sqlite_client, admin_headers(sqlite_client)
    frame = pd.DataFrame(
        {
            "row_id": range(1, 41),
            "size": [float(i % 7) for i in range(40)],
            "colour": ["red", "blue"] * 20,
            "constant": ["same"] * 40,
        }
    )
    dataset_id = valid_dataset(client, headers, "shapes", as_csv(frame))
    template_id = client.post("/api/v1/template/", json=TEMPLATE, headers=headers).json()["id"]
    invalid = upload(
        client,
        headers,
        [("accounts.csv", as_csv(pd.DataFrame(ROWS)))],
        dataset_name="accounts",
        template_id=template_id,
    ).json()["dataset_id"]
    listed = call(client, "GET", "dataset/list", headers)["data"]
    run_id = next(d for d in listed if d["id"] == invalid)["last_run_id"]
    wait_for(client, headers, run_id, FINAL)

    def request(**change: Any) -> dict[str, Any]:
        body = {
            "dataset_id": dataset_id,
            "predictor_name": "shapes",
            "domain": "Test",
            "problem_type": "Classification",
            "columns": [
                {"column_name": "row_id", "attribute_name": "Id"},
                {"column_name": "size", "attribute_name": "Feature"},
                {"column_name": "colour", "attribute_name": "Target"},
            ],
        }
        return {**body, **change}

    target = {"column_name": "colour", "attribute_name": "Target"}
    size = {"column_name": "size", "attribute_name": "Feature"}
    cases = [
        (request(dataset_id=9999), 404, "dataset_id", "not found"),
        (request(dataset_id=invalid), 422, "dataset_id", "is below the 80%"),
        (
            request(columns=[size, {"column_name": "nope", "attribute_name": "Target"}]),
            422,
            "columns[1].column_name",
            "not in the dataset",
        ),
        (
            request(columns=[size, {"column_name": "constant", "attribute_name": "Target"}]),
            422,
            "columns",
            "fewer than two distinct values",
        ),
        (request(problem_type="Regression"), 422, "columns", "must be numeric"),
        (request(columns=[size]), 422, "columns", "exactly one column"),
        (request(columns=[target]), 422, "columns", "at least one column must be a Feature"),
        (
            request(columns=[size, {**target, "attribute_name": "Label"}]),
            422,
            "columns[1].attribute_name",
            "unknown attribute",
        ),
        (request(problem_type="Ranking"), 422, "problem_type", "unknown problem type"),
        # clustering is the workbench's (its k-means template), not the contract's
        (request(problem_type="Clustering"), 422, "problem_type", "'Classification', 'Regression'"),
        (request(algorithm="SVM"), 422, "algorithm", "unknown algorithm"),
        (request(predictor_name="!!!"), 422, "predictor_name", "no usable table name"),
    ]
    for body, status, field, message in cases:
        response = client.post("/api/v1/train/", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field and message in response.text, response.text
    assert call(client, "GET", "train/list", headers) == {"total": 0, "data": []}
    for path in ("train/model-summary", "train/view-feature-importance"):
        response = client.get(f"/api/v1/{path}", params={"train_id": 77}, headers=headers)
        assert response.status_code == 404 and response.json()["field"] == "train_id"


def test_callbacks_need_the_service_token(sqlite_client: TestClient) -> None:
    client, headers = sqlite_client, admin_headers(sqlite_client)
    frame = pd.DataFrame({"x": [float(i) for i in range(30)], "y": ["a", "b", "c"] * 10})
    dataset_id = valid_dataset(client, headers, "tiny", as_csv(frame))
    created = client.post(
        "/api/v1/train/",
        json={
            "dataset_id": dataset_id,
            "predictor_name": "tiny",
            "domain": "Test",
            "problem_type": "Classification",
            "columns": [
                {"column_name": "x", "attribute_name": "Feature"},
                {"column_name": "y", "attribute_name": "Target"},
            ],
            "algorithm": "Linear",
        },
        headers=headers,
    ).json()
    wait_for(client, headers, created["last_run_id"], FINAL, timeout=300)
    train_id = created["id"]
    shap_body = {"training_id": train_id, "result": {"x": 0.7}}
    result_body = {"train_id": train_id, "result": {"metrics": {"accuracy": 0.5}, "error": None}}
    for token in (None, "wrong", headers["Authorization"].split()[1]):
        auth = {} if token is None else {"Authorization": f"Bearer {token}"}
        for path, body in (("train/shap-result", shap_body), ("train/result", result_body)):
            refused = client.post(f"/api/v1/{path}", json=body, headers=auth)
            assert refused.status_code == 401, refused.text
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    received = call(client, "POST", "train/shap-result", service, json=shap_body)
    assert received == {"status": "success", "message": "SHAP result received"}
    shap = call(
        client, "GET", "train/view-feature-importance", headers, params={"train_id": train_id}
    )
    assert shap == {"feature_importance": {"x": 0.7}, "status": "completed"}
    failed = {"train_id": train_id, "result": {"metrics": {}, "error": "out of memory"}}
    assert call(client, "POST", "train/result", service, json=failed)["status"] == "success"
    [entry] = call(client, "GET", "train/list", headers)["data"]
    assert entry["training_status"] == "failed" and entry["training_error"] == "out of memory"
    missing = client.post(
        "/api/v1/train/shap-result", json={**shap_body, "training_id": 999}, headers=service
    )
    assert missing.status_code == 404
    deleted = call(client, "DELETE", f"train/delete-feature-importance/{train_id}", headers)
    assert deleted["status_code"] == 200
    shap = call(
        client, "GET", "train/view-feature-importance", headers, params={"train_id": train_id}
    )
    assert shap == {"feature_importance": {}, "status": "not_started"}
