"""The workbench's experiments through the real app: evaluation, SHAP values and error analysis
computed by a real evaluation run and kept in MLflow, models compared with a Welch t-test, a
tuning streamed trial by trial from a real Optuna run, and phrases read as filters."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient

from tests.api.profiles.test_workbench_profile import (
    API,
    bearer,
    cancer_csv,
    ok,
    refused,
    register,
    upload,
    workbench_client,
)
from tests.conftest import make_settings

WAIT_SECONDS = 240


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from workbench_client(make_settings(tmp_path, workers=1, workbench_registration=True))


def evaluated(client: TestClient, model_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """The model's evaluation once its run has computed it (202 until then)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        response = client.get(f"{API}/experiments/{model_id}/evaluation", headers=headers)
        if response.status_code == 200:
            document: dict[str, Any] = response.json()
            return document
        assert response.status_code == 202, response.text
        assert response.json()["status"] in ("pending", "computing")
        assert time.monotonic() < deadline, "the evaluation did not finish"
        time.sleep(0.5)


def project_with_cancer(client: TestClient, headers: dict[str, str]) -> tuple[str, str]:
    project = ok(client.post(f"{API}/projects", json={"name": "Cancer"}, headers=headers), 201)
    project_id = project["project"]["id"]
    dataset = ok(upload(client, headers, "cancer.csv", cancer_csv(), projectId=project_id), 201)
    return project_id, dataset["dataset"]["datasetId"]


def test_evaluation_shap_error_analysis_compare_and_filters(client: TestClient) -> None:
    ada = bearer(register(client, "ada@example.org"))
    bob = bearer(register(client, "bob@example.org"))
    project_id, dataset_id = project_with_cancer(client, ada)

    def train(template: str, **parameters: Any) -> dict[str, Any]:
        body = {
            "projectId": project_id,
            "datasetId": dataset_id,
            "targetColumn": "target",
            "templateId": template,
            "parameters": parameters,
        }
        model: dict[str, Any] = ok(client.post(f"{API}/models/train", json=body, headers=ada))[
            "model"
        ]
        assert model["evaluationStatus"] in ("pending", "computing", "ready")
        return model

    forest = train("random_forest_classifier", n_estimators=30, max_depth=5)
    logistic = train("logistic_regression", C=0.5)

    evaluation = evaluated(client, forest["modelId"], ada)
    assert evaluation["taskType"] == "classification" and evaluation["computeMs"] > 0
    matrix = evaluation["confusion_matrix"]
    assert matrix["labels"] == ["benign", "malignant"]
    # the test rows (15 % of 569) are all in the matrix, and mostly on its diagonal
    total = sum(map(sum, matrix["matrix"]))
    assert total == 86 and np.trace(np.array(matrix["matrix"])) / total > 0.85
    (curve,) = evaluation["roc_curves"]
    assert curve["label"] == "malignant" and 0.9 < curve["auc"] <= 1
    assert curve["fpr"][0] == 0 and curve["tpr"][-1] == 1 and len(curve["fpr"]) == len(curve["tpr"])
    importance = evaluation["feature_importance"]
    assert len(importance["model_based"]) == 30 and len(importance["permutation"]) == 30
    assert abs(sum(row["importance"] for row in importance["model_based"]) - 1) < 1e-6
    assert {"feature", "importance", "std"} <= set(importance["permutation"][0])
    cv = evaluation["cross_validation"]
    assert cv["scoring"] == "accuracy" and len(cv["scores"]) == 5
    assert abs(cv["mean"] - np.mean(cv["scores"])) < 1e-9 and cv["mean"] > 0.85
    learning = evaluation["learning_curve"]
    assert len(learning["train_sizes"]) == len(learning["test_scores"]) == 4
    assert learning["train_sizes"] == sorted(learning["train_sizes"])

    shap = ok(client.get(f"{API}/experiments/{forest['modelId']}/shap", headers=ada))
    assert len(shap["feature_names"]) == 30 and len(shap["values"]) == len(shap["data"]) == 86
    assert len(shap["values"][0]) == 30 and len(shap["base_values"]) == 86
    # SHAP is additive: base value plus a row's values is the forest's probability of the
    # positive class for that row
    assert all(
        -1e-6 <= b + sum(v) <= 1 + 1e-6
        for b, v in zip(shap["base_values"], shap["values"], strict=True)
    )
    mean_abs = shap["mean_abs_values"]
    assert abs(mean_abs["worst_area"] - np.mean(np.abs(np.array(shap["values"])[:, 23]))) < 1e-6

    errors = ok(client.get(f"{API}/experiments/{forest['modelId']}/error-analysis", headers=ada))
    tree = errors["error_tree"]
    assert tree["node_id"] == 0 and tree["sample_count"] == 86
    assert tree["error_count"] == round(errors["error_rate"] * 86)
    if "left" in tree:
        assert tree["left"]["sample_count"] + tree["right"]["sample_count"] == 86
        assert tree["feature"] in {*shap["feature_names"], *forest["featureColumns"]}
    worst = errors["misclassifications"]
    assert 0 < len(worst) == tree["error_count"] <= 20
    assert all(row["y_true"] != row["y_pred"] for row in worst)
    assert [row["confidence"] for row in worst] == sorted(
        (row["confidence"] for row in worst), reverse=True
    )
    assert len(worst[0]["top_shap_contributors"]) == 3

    evaluated(client, logistic["modelId"], ada)
    compared = ok(
        client.post(
            f"{API}/experiments/{project_id}/compare",
            json={"modelIds": [forest["modelId"], logistic["modelId"]]},
            headers=ada,
        )
    )
    assert [m["modelId"] for m in compared["models"]] == [forest["modelId"], logistic["modelId"]]
    deltas = {d["metric"]: d for d in compared["deltas"]}
    accuracy = deltas["accuracy"]
    assert accuracy["values"] == [forest["metrics"]["accuracy"], logistic["metrics"]["accuracy"]]
    assert abs(accuracy["delta"] - abs(accuracy["values"][0] - accuracy["values"][1])) < 1e-12
    from scipy import stats

    scores = [m["cvScores"] for m in compared["models"]]
    expected = stats.ttest_ind(scores[0], scores[1], equal_var=False).pvalue
    assert abs(deltas["cv_accuracy"]["pValue"] - expected) < 1e-9
    assert deltas["cv_accuracy"]["significant"] is bool(expected < 0.05)

    compare = f"{API}/experiments/{project_id}/compare"
    refused(
        client.post(compare, json={"modelIds": [forest["modelId"]]}, headers=ada), 400, "2 to 5"
    )
    six = [forest["modelId"], logistic["modelId"], "a", "b", "c", "d"]
    refused(client.post(compare, json={"modelIds": six}, headers=ada), 400, "not 6")
    refused(
        client.post(compare, json={"modelIds": [forest["modelId"], "missing"]}, headers=ada), 404
    )

    phrases = ok(
        client.post(
            f"{API}/experiments/{project_id}/nl-filter",
            json={"query": "accuracy above 0.9 and name contains forest, rmse <= 3"},
            headers=ada,
        )
    )
    assert phrases["predicates"] == [
        {"field": "accuracy", "operator": "gt", "value": 0.9},
        {"field": "name", "operator": "contains", "value": "forest"},
        {"field": "rmse", "operator": "lte", "value": 3.0},
    ]
    unread = {"query": "which model is nicest"}
    assert ok(
        client.post(f"{API}/experiments/{project_id}/nl-filter", json=unread, headers=ada)
    ) == {"predicates": []}

    # Another tenant sees none of it.
    for path in ("evaluation", "shap", "error-analysis"):
        refused(client.get(f"{API}/experiments/{forest['modelId']}/{path}", headers=bob), 404)
    refused(
        client.post(f"{API}/experiments/{forest['modelId']}/evaluation/retry", headers=bob), 404
    )
    pair = {"modelIds": [forest["modelId"], logistic["modelId"]]}
    refused(client.post(compare, json=pair, headers=bob), 404, "Project not found")
    nl_filter = f"{API}/experiments/{project_id}/nl-filter"
    refused(client.post(nl_filter, json={"query": "f1 > 0.5"}, headers=bob), 404)

    retried = ok(
        client.post(f"{API}/experiments/{forest['modelId']}/evaluation/retry", headers=ada)
    )
    assert retried["ok"] is True and retried["evaluationStatus"] in ("pending", "computing")
    assert evaluated(client, forest["modelId"], ada)["confusion_matrix"] == matrix


def test_a_tuning_streams_its_trials_and_saves_the_best_model(client: TestClient) -> None:
    ada = bearer(register(client, "ada@example.org"))
    bob = bearer(register(client, "bob@example.org"))
    project_id, dataset_id = project_with_cancer(client, ada)
    body = {
        "projectId": project_id,
        "datasetId": dataset_id,
        "targetColumn": "target",
        "templateId": "logistic_regression",
    }
    model = ok(client.post(f"{API}/models/train", json=body, headers=ada))["model"]
    tune = f"{API}/experiments/{project_id}/tune"
    request = {"modelId": model["modelId"], "nTrials": 6, "metric": "f1", "sampler": "tpe"}

    events = []
    with client.stream("POST", tune, json=request, headers=ada) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        for text in response.iter_lines():
            if text:
                events.append(json.loads(text))
    trials = [e for e in events if e["type"] == "trial_result"]
    assert [t["trial_number"] for t in trials] == list(range(6))
    assert all(t["state"] == "complete" and 0 < t["value"] <= 1 for t in trials)
    assert all(set(t["params"]) == {"C", "max_iter"} for t in trials)
    assert [t["n_complete"] for t in trials] == list(range(1, 7))
    assert trials[-1]["best_value"] == max(t["value"] for t in trials)
    assert len([e for e in events if e["type"] == "convergence_update"]) == 6
    done = events[-1]
    assert done["type"] == "done" and done["best_value"] == trials[-1]["best_value"]
    tuned = ok(client.get(f"{API}/models/{done['resultModelId']}", headers=ada))["model"]
    assert tuned["name"] == f"{model['name']} (tuned)"
    assert tuned["parameters"] == trials[-1]["best_params"]

    refusals: list[tuple[dict[str, Any], str]] = [
        ({"nTrials": 0}, "nTrials"),
        ({"nTrials": 201}, "nTrials"),
        ({"metric": "rmse"}, "metric"),
        ({"sampler": "grid"}, "sampler"),
    ]
    for change, field in refusals:
        refused(client.post(tune, json=request | change, headers=ada), 400, field)
    refused(client.post(tune, json=request, headers=bob), 404)


def test_k_means_groups_the_rows_without_a_target(client: TestClient) -> None:
    ada = bearer(register(client, "ada@example.org"))
    project_id, dataset_id = project_with_cancer(client, ada)
    body = {
        "projectId": project_id,
        "datasetId": dataset_id,
        "templateId": "kmeans",
        "targetColumn": "target",  # a clustering leaves it out of its features
        "parameters": {"n_clusters": 2},
    }
    model = ok(client.post(f"{API}/models/train", json=body, headers=ada))["model"]
    assert model["taskType"] == "clustering" and model["algorithm"] == "KMeans"
    assert "target" not in model["featureColumns"] and len(model["featureColumns"]) == 30
    metrics = model["metrics"]
    assert 0 < metrics["silhouette"] <= 1 and metrics["n_clusters"] == 2
    assert len(metrics["cluster_sizes"]) == 2 and sum(metrics["cluster_sizes"]) == 569

    evaluation = evaluated(client, model["modelId"], ada)
    assert evaluation["taskType"] == "clustering"
    assert [c["size"] for c in evaluation["clusters"]] == metrics["cluster_sizes"]
    assert set(evaluation["clusters"][0]["centre"]) == set(model["featureColumns"])
    shap = client.get(f"{API}/experiments/{model['modelId']}/shap", headers=ada)
    assert shap.status_code == 204 and shap.content == b""
    errors = ok(client.get(f"{API}/experiments/{model['modelId']}/error-analysis", headers=ada))
    assert errors["available"] is False and "no true labels" in errors["reason"]
    four = ok(
        client.post(
            f"{API}/models/train", json=body | {"parameters": {"n_clusters": 4}}, headers=ada
        )
    )["model"]
    compared = ok(
        client.post(
            f"{API}/experiments/{project_id}/compare",
            json={"modelIds": [model["modelId"], four["modelId"]]},
            headers=ada,
        )
    )
    deltas = {d["metric"]: d for d in compared["deltas"]}
    assert "cluster_sizes" not in deltas  # sizes are listed, not subtracted
    assert deltas["n_clusters"]["values"] == [2, 4] and deltas["n_clusters"]["delta"] == 2
    tune = {"modelId": model["modelId"], "nTrials": 3}
    refused(
        client.post(f"{API}/experiments/{project_id}/tune", json=tune, headers=ada),
        400,
        "not tuned",
    )
