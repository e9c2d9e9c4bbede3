"""The workbench end to end, as a new user on a messy generated table: register, create a
project, upload, page rows, query with a GROUP BY, train from two templates, read their
evaluation, SHAP values and error analysis, compare them, tune one for 10 trials, and load
the tuned model's file with skops."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from litestar.testing import TestClient

from tests.api.profiles.test_workbench_experiments import evaluated
from tests.conftest import make_settings

API = "/api"
ROWS = 600


def churn_csv() -> bytes:
    """Customers with an ID column, dates, blanks, missing-value markers and a few rows
    whose numbers do not parse; whether they churned depends on tenure, charges and plan."""
    rng = np.random.default_rng(17)
    tenure = rng.integers(1, 72, ROWS)
    charges = rng.uniform(20, 120, ROWS).round(2)
    plan = rng.choice(["basic", "plus", "premium"], ROWS, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], ROWS)
    risk = -0.06 * tenure + 0.03 * charges + np.where(plan == "basic", 0.8, -0.4)
    churned = np.where(risk + rng.normal(0, 0.7, ROWS) > 0.6, "yes", "no")
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{n:05d}" for n in range(ROWS)],
            "signup_date": pd.date_range("2023-01-01", periods=ROWS, freq="D").strftime("%Y-%m-%d"),
            "region": region,
            "plan": plan,
            "tenure_months": tenure.astype(object),
            "monthly_charges": charges.astype(object),
            "churned": churned,
        }
    )
    frame.loc[[5, 50, 500], "monthly_charges"] = ""  # blanks
    frame.loc[[7, 70], "tenure_months"] = "N/A"  # a marker
    frame.loc[[11, 111], "region"] = ""
    frame.loc[[13, 313], "monthly_charges"] = "twelve"  # bad rows
    return frame.to_csv(index=False).encode()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_a_user_goes_from_a_file_to_a_tuned_model(tmp_path: Path) -> None:
    import skops.io as sio

    from api.app import create_app
    from lakehouse.model_files import TRUSTED_TYPES

    settings = make_settings(tmp_path, workers=1, workbench_registration=True)
    with TestClient(create_app(settings), timeout=600) as client:
        account = {"email": "lin@example.org", "password": "a long passphrase", "name": "Lin"}
        signed_in = ok(client.post(f"{API}/auth/register", json=account), 201)
        headers = {"Authorization": f"Bearer {signed_in['accessToken']}"}
        me = ok(client.get(f"{API}/auth/me", headers=headers))
        assert me["user"]["email"] == "lin@example.org"

        project = ok(client.post(f"{API}/projects", json={"name": "Churn"}, headers=headers), 201)
        project_id = project["project"]["id"]
        files = {"file": ("churn.csv", io.BytesIO(churn_csv()))}
        uploaded = ok(
            client.post(
                f"{API}/upload/dataset",
                files=files,
                data={"projectId": project_id},
                headers=headers,
            ),
            201,
        )["dataset"]
        dataset_id, table = uploaded["datasetId"], uploaded["tableName"]
        assert uploaded["n_rows"] == ROWS

        # Page through every row that passed, 250 at a time.
        paged: list[dict[str, Any]] = []
        while True:
            page = ok(
                client.get(
                    f"{API}/datasets/{dataset_id}/rows",
                    params={"offset": len(paged), "limit": 250},
                    headers=headers,
                )
            )
            paged.extend(page["rows"])
            if len(page["rows"]) < 250:
                break
        assert len(paged) == page["rowCount"] and ROWS - 5 <= len(paged) <= ROWS
        assert [r["customer_id"] for r in paged[:3]] == ["C00000", "C00001", "C00002"]
        too_many = client.get(
            f"{API}/datasets/{dataset_id}/rows", params={"limit": 1001}, headers=headers
        )
        assert too_many.status_code == 400 and "limit" in too_many.json()["error"]

        sql = (
            f"SELECT region, COUNT(*) AS customers, AVG(tenure_months) AS tenure "
            f"FROM {table} GROUP BY region ORDER BY region"
        )
        query = ok(
            client.post(
                f"{API}/query/sql", json={"projectId": project_id, "sql": sql}, headers=headers
            )
        )["query"]
        counted = pd.Series([r["region"] for r in paged]).value_counts(dropna=False)
        by_region = {row["region"]: row["customers"] for row in query["rows"]}
        assert sum(by_region.values()) == len(paged)
        for region in ("east", "north", "south", "west"):
            assert by_region[region] == counted[region]

        def train(template: str, **parameters: Any) -> dict[str, Any]:
            body = {
                "projectId": project_id,
                "datasetId": dataset_id,
                "templateId": template,
                "targetColumn": "churned",
                "parameters": parameters,
            }
            model: dict[str, Any] = ok(
                client.post(f"{API}/models/train", json=body, headers=headers)
            )["model"]
            return model

        forest = train("random_forest_classifier", n_estimators=60, max_depth=6)
        logistic = train("logistic_regression")
        for model in (forest, logistic):
            assert model["metrics"]["accuracy"] > 0.6 and model["status"] == "completed"
            assert "churned" not in model["featureColumns"]

        evaluations = [evaluated(client, m["modelId"], headers) for m in (forest, logistic)]
        for evaluation in evaluations:
            matrix = np.array(evaluation["confusion_matrix"]["matrix"])
            # "yes" and "no" were read as booleans: the classes are the table's values
            labels = sorted({str(row["churned"]) for row in paged})
            assert evaluation["confusion_matrix"]["labels"] == labels == ["False", "True"]
            assert np.trace(matrix) / matrix.sum() == pytest.approx(
                evaluation["metrics"]["accuracy"]
            )
            assert len(evaluation["cross_validation"]["scores"]) == 5
        shap = ok(client.get(f"{API}/experiments/{forest['modelId']}/shap", headers=headers))
        top = max(shap["mean_abs_values"], key=shap["mean_abs_values"].get)
        assert top in {"tenure_months", "monthly_charges", "plan"}  # what churn depends on
        errors = ok(
            client.get(f"{API}/experiments/{forest['modelId']}/error-analysis", headers=headers)
        )
        assert errors["available"] is True and errors["misclassifications"]
        tree = errors["error_tree"]
        assert tree["error_count"] == round(errors["error_rate"] * tree["sample_count"])

        compared = ok(
            client.post(
                f"{API}/experiments/{project_id}/compare",
                json={"modelIds": [forest["modelId"], logistic["modelId"]]},
                headers=headers,
            )
        )
        cv = next(d for d in compared["deltas"] if d["metric"] == "cv_accuracy")
        assert 0 <= cv["pValue"] <= 1 and len(cv["values"]) == 2

        events = []
        with client.stream(
            "POST",
            f"{API}/experiments/{project_id}/tune",
            json={"modelId": logistic["modelId"], "nTrials": 10, "metric": "roc_auc"},
            headers=headers,
        ) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                if line:
                    events.append(json.loads(line))
        trials = [e for e in events if e["type"] == "trial_result"]
        assert len(trials) == 10 and all(t["state"] == "complete" for t in trials)
        done = events[-1]
        assert done["type"] == "done", events[-1]
        assert done["best_value"] == max(t["value"] for t in trials)

        tuned_id = done["resultModelId"]
        listed = ok(client.get(f"{API}/models", params={"projectId": project_id}, headers=headers))
        assert tuned_id in [m["modelId"] for m in listed["models"]] and len(listed["models"]) == 3
        tuned = ok(client.get(f"{API}/models/{tuned_id}", headers=headers))["model"]
        artifact = client.get(f"{API}/models/{tuned_id}/artifact", headers=headers)
        assert artifact.status_code == 200
        path = tmp_path / "tuned.skops"
        path.write_bytes(artifact.content)
        untrusted = set(sio.get_untrusted_types(file=path))
        assert untrusted <= TRUSTED_TYPES | {"builtins.str"}, untrusted - TRUSTED_TYPES
        pipeline = sio.load(path, trusted=sorted(untrusted))
        rows = pd.DataFrame(paged[:20])[tuned["featureColumns"]]
        assert set(pipeline.predict(rows)) <= {0, 1}  # the model's coded classes
        assert pytest.approx(tuned["parameters"]["C"]) == pipeline.named_steps["model"].C
