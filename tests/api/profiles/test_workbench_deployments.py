"""The workbench's deployments through the real app: a trained model served behind its own
API keys, every way of being refused, the 1 MiB and requests-a-minute limits, the cap of 5
active deployments per project, stop and start, and the log of its calls."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from lakehouse.charts import png
from lakehouse.profiles.workbench import charts
from lakehouse.store import Prediction
from tests.api.profiles.test_workbench_experiments import project_with_cancer
from tests.api.profiles.test_workbench_profile import (
    API,
    bearer,
    ok,
    refused,
    register,
    workbench_client,
)
from tests.conftest import make_settings

PER_MINUTE = 8


def picture_of(response: Any) -> Any:
    """The PNG image a response carries, as an array of RGBA pixels."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return pixels(response.content)


def pixels(png: bytes) -> Any:
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(png), format="png")


def colour_share(picture: Any, colour: str) -> float:
    """The share of the picture's pixels painted in `colour` (#rrggbb)."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return float(np.all(np.abs(picture[..., :3] - rgb) < 0.01, axis=-1).mean())


def clear_of_a_minute_turn(seconds: float) -> None:
    """Wait, if need be, until the next `seconds` fall within one minute: the count of the
    minute before then weighs in whole or not at all, and a test can count exactly."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.5)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        workers=1,
        workbench_registration=True,
        deployment_requests_per_minute=PER_MINUTE,
    )
    yield from workbench_client(settings)


def trained(client: TestClient, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    project_id, dataset_id = project_with_cancer(client, headers)
    body = {
        "projectId": project_id,
        "datasetId": dataset_id,
        "targetColumn": "target",
        "templateId": "logistic_regression",
    }
    model = ok(client.post(f"{API}/models/train", json=body, headers=headers))["model"]
    return project_id, model


def test_keys_auth_limits_cap_and_stop_start(client: TestClient) -> None:
    ada = bearer(register(client, "ada@example.org"))
    bob = bearer(register(client, "bob@example.org"))
    project_id, model = trained(client, ada)
    create = {"modelId": model["modelId"], "projectId": project_id, "name": "cancer v1"}
    deployment = ok(client.post(f"{API}/deployments", json=create, headers=ada), 201)["deployment"]
    assert deployment["status"] == "healthy" and deployment["modelId"] == model["modelId"]
    deployment_id = deployment["deploymentId"]
    predict = f"{API}/deployments/{deployment_id}/predict"
    assert deployment["endpointUrl"] == predict

    made = ok(
        client.post(
            f"{API}/deployments/{deployment_id}/api-keys", json={"name": "web"}, headers=ada
        ),
        201,
    )
    raw_key = made["rawKey"]
    assert raw_key.startswith("ak_") and len(raw_key) == 67
    int(raw_key[3:], 16)  # 64 hex characters
    assert made["key"]["keyPrefix"] == raw_key[:11]
    listed = ok(client.get(f"{API}/deployments/{deployment_id}/api-keys", headers=ada))["keys"]
    assert [k["keyId"] for k in listed] == [made["key"]["keyId"]]
    assert all(set(k) == set(made["key"]) for k in listed)
    assert raw_key not in str(listed) and "keyHash" not in listed[0]

    row = model["sampleRequest"]
    clear_of_a_minute_turn(30)  # every counted call below, in one minute
    answer = ok(client.post(predict, json=row, headers={"x-api-key": raw_key}))
    assert answer["prediction"] in ("benign", "malignant")
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-9
    by_token = ok(client.post(predict, json=row, headers=ada))
    assert by_token == answer
    explained = ok(client.post(predict, params={"explain": "true"}, json=row, headers=ada))
    contributions = explained.pop("shap_values")
    assert explained == answer
    assert {c["feature"] for c in contributions} == set(model["featureColumns"])
    sizes = [abs(c["value"]) for c in contributions]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 0

    # Every way of being refused.
    refused(client.post(predict, json=row), 401)
    refused(client.post(predict, json=row, headers={"x-api-key": "ak_" + "0" * 64}), 403)
    refused(client.post(predict, json=row, headers={"x-api-key": raw_key[:-1] + "x"}), 403)
    refused(client.post(predict, json=row, headers=bob), 404)
    other = ok(client.post(f"{API}/deployments", json=create | {"name": "v2"}, headers=ada), 201)
    other_id = other["deployment"]["deploymentId"]
    refused(
        client.post(
            f"{API}/deployments/{other_id}/predict", json=row, headers={"x-api-key": raw_key}
        ),
        403,
    )
    big = {"padding": "x" * (1024 * 1024)}
    assert client.post(predict, json=big, headers={"x-api-key": raw_key}).status_code == 413
    refused(client.post(predict, json=[1, 2], headers={"x-api-key": raw_key}), 400, "body")
    refused(
        client.post(predict, json=row | {"nope": 1}, headers={"x-api-key": raw_key}), 400, "nope"
    )

    # The limit: requests so far count; then 429 until the minute ends.
    used = 3 + 1  # three answers and the call refused by the model; the others were not let in
    statuses = [
        client.post(predict, json=row, headers={"x-api-key": raw_key}).status_code
        for _ in range(PER_MINUTE - used + 2)
    ]
    assert statuses.count(200) == PER_MINUTE - used and statuses[-1] == 429
    limited = client.post(predict, json=row, headers={"x-api-key": raw_key})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == f"Rate limit exceeded. Max {PER_MINUTE} requests per minute."

    # Revoked: refused at once.
    key_id = made["key"]["keyId"]
    revoke = client.delete(f"{API}/deployments/{deployment_id}/api-keys/{key_id}", headers=ada)
    assert revoke.status_code == 204
    refused(client.post(predict, json=row, headers={"x-api-key": raw_key}), 403)
    revoked = ok(client.get(f"{API}/deployments/{deployment_id}/api-keys", headers=ada))["keys"]
    assert revoked[0]["revokedAt"] is not None
    refused(client.delete(f"{API}/deployments/{deployment_id}/api-keys/nope", headers=ada), 404)

    # The cap: 5 active per project; a stopped one makes room, and answers no more.
    for n in range(3):
        ok(client.post(f"{API}/deployments", json=create | {"name": f"v{n + 3}"}, headers=ada), 201)
    refused(client.post(f"{API}/deployments", json=create, headers=ada), 409, "Maximum of 5")
    stopped = ok(
        client.patch(f"{API}/deployments/{other_id}", json={"action": "stop"}, headers=ada)
    )["deployment"]
    assert stopped["status"] == "stopped" and stopped["stoppedAt"] is not None
    refused(client.post(f"{API}/deployments/{other_id}/predict", json=row, headers=ada), 503)
    ok(client.post(f"{API}/deployments", json=create | {"name": "v6"}, headers=ada), 201)
    refused(
        client.patch(f"{API}/deployments/{other_id}", json={"action": "start"}, headers=ada),
        409,
        "Maximum of 5",
    )
    listed_all = ok(client.get(f"{API}/deployments", params={"projectId": project_id}, headers=ada))
    assert len(listed_all["deployments"]) == 6

    # Another tenant sees none of it.
    for path in ("", "/api-keys"):
        refused(client.get(f"{API}/deployments/{deployment_id}{path}", headers=bob), 404)
    refused(client.delete(f"{API}/deployments/{deployment_id}", headers=bob), 404)

    # Every call that reached the model is logged, with its latency.
    platform = client.app.state.platform
    assert platform.prediction_log.flush()
    with platform.store.session() as session:
        logged = session.scalars(
            select(Prediction).where(Prediction.deployment_id == deployment_id)
        ).all()
        statuses_logged = sorted(p.status for p in logged)
        assert statuses_logged.count("completed") == PER_MINUTE - 1  # all but the refused
        assert statuses_logged.count("failed") == 1  # the unknown feature
        assert all(p.latency_ms is not None and p.latency_ms > 0 for p in logged)
        latencies = sorted(p.latency_ms for p in logged)

    logs = f"{API}/deployments/{deployment_id}/logs"
    everything = ok(client.get(logs, params={"limit": 100}, headers=ada))
    assert everything["total"] == PER_MINUTE and len(everything["logs"]) == PER_MINUTE
    newest = everything["logs"][0]
    assert newest["status"] == "success" and newest["inputFeatures"] == row
    assert newest["prediction"] == answer["prediction"] and newest["latencyMs"] > 0
    failed = ok(client.get(logs, params={"status": "error"}, headers=ada))
    assert failed["total"] == 1 and "nope" in failed["logs"][0]["errorMessage"]
    pages = [
        ok(client.get(logs, params={"limit": 3, "offset": offset}, headers=ada))["logs"]
        for offset in (0, 3, 6)
    ]
    assert [log["id"] for page in pages for log in page] == [
        log["id"] for log in everything["logs"]
    ]
    future = ok(client.get(logs, params={"startTime": "2099-01-01T00:00:00Z"}, headers=ada))
    assert future == {"logs": [], "total": 0}
    refused(client.get(logs, params={"status": "maybe"}, headers=ada), 400, "status")
    refused(client.get(logs, params={"limit": 501}, headers=ada), 400)

    stats = ok(client.get(f"{API}/deployments/{deployment_id}/stats", headers=ada))
    assert stats["range"] == "24h"
    assert sum(b["requestCount"] for b in stats["stats"]) == PER_MINUTE
    assert sum(b["errorCount"] for b in stats["stats"]) == 1
    if len(stats["stats"]) == 1:  # all in one hour (the usual case)
        bucket = stats["stats"][0]
        assert bucket["latencyAvg"] == pytest.approx(sum(latencies) / len(latencies))
        assert bucket["latencyP50"] == pytest.approx(float(np.percentile(latencies, 50)))
        assert bucket["latencyP50"] <= bucket["latencyP95"] <= bucket["latencyP99"]
    refused(
        client.get(f"{API}/deployments/{deployment_id}/stats", params={"range": "2d"}, headers=ada),
        400,
        "range",
    )
    stats_url = f"{API}/deployments/{deployment_id}/stats"
    picture = picture_of(client.get(stats_url, params={"format": "png"}, headers=ada))
    assert picture.shape[:2] == (600, 900)  # two panels, 9 by 6 inches at 100 dpi
    assert colour_share(picture, charts.ANSWERED_COLOUR) > 0.01
    without_errors = {
        **stats,
        "stats": [{**bucket, "errorCount": 0} for bucket in stats["stats"]],
    }
    drawn_without = png(charts.stats_figure("no errors", without_errors))
    error_share = colour_share(picture, charts.ERROR_COLOUR)  # the legend's patch, and a bar
    assert error_share > colour_share(pixels(drawn_without), charts.ERROR_COLOUR)
    refused(client.get(stats_url, params={"format": "gif"}, headers=ada), 400, "format")

    schema = ok(client.get(f"{API}/deployments/{deployment_id}/schema", headers=ada))
    assert schema["featureColumns"] == model["featureColumns"]
    assert schema["classLabels"] == ["benign", "malignant"]
    radius = schema["featureRanges"]["mean_radius"]
    assert radius["min"] == pytest.approx(6.981) and radius["max"] == pytest.approx(28.11)
    assert schema["sampleRequest"] == row and schema["taskType"] == "classification"


def test_a_clustering_is_not_deployed(client: TestClient) -> None:
    ada = bearer(register(client, "ada@example.org"))
    project_id, dataset_id = project_with_cancer(client, ada)
    body = {"projectId": project_id, "datasetId": dataset_id, "templateId": "kmeans"}
    model = ok(client.post(f"{API}/models/train", json=body, headers=ada))["model"]
    create = {"modelId": model["modelId"], "projectId": project_id, "name": "groups"}
    refused(client.post(f"{API}/deployments", json=create, headers=ada), 400, "classification")
    # its page in the console stands, though it predicts no column
    signed = {"username": "ada@example.org", "password": "correct horse 1"}
    assert client.post("/console/login", data=signed, follow_redirects=False).status_code == 303
    from lakehouse.store.workbench import WorkbenchModel

    with client.app.state.platform.store.session(writes=False) as session:
        found = session.get(WorkbenchModel, model["modelId"])
        assert found is not None
        predictor_id = found.predictor_id
    page = client.get(f"/console/models/{predictor_id}")
    assert page.status_code == 200 and "predicting" not in page.text


@pytest.fixture
def roomy_client(tmp_path: Path) -> Iterator[TestClient]:
    """A client whose deployments take 5,000 calls a minute."""
    settings = make_settings(
        tmp_path, workers=1, workbench_registration=True, deployment_requests_per_minute=5000
    )
    yield from workbench_client(settings)


def test_drift_is_green_on_data_like_the_training_data_and_red_on_shifted_data(
    roomy_client: TestClient,
) -> None:
    import pandas as pd

    from tests.api.profiles.test_workbench_profile import cancer_csv

    client = roomy_client
    ada = bearer(register(client, "ada@example.org"))
    project_id, model = trained(client, ada)
    frame = pd.read_csv(io.BytesIO(cancer_csv())).drop(columns="target")
    sample = frame.sample(400, random_state=3)

    def deployed(name: str) -> str:
        create = {"modelId": model["modelId"], "projectId": project_id, "name": name}
        found = ok(client.post(f"{API}/deployments", json=create, headers=ada), 201)
        deployment_id: str = found["deployment"]["deploymentId"]
        return deployment_id

    def drift(deployment_id: str, rows: pd.DataFrame) -> dict[str, Any]:
        predict = f"{API}/deployments/{deployment_id}/predict"
        for record in rows.to_dict(orient="records"):
            ok(client.post(predict, json=record, headers=ada))
        assert client.app.state.platform.prediction_log.flush()
        report: dict[str, Any] = ok(
            client.post(f"{API}/deployments/{deployment_id}/drift", headers=ada)
        )
        return report

    like = deployed("like")
    early = drift(like, sample.head(5))
    assert early["available"] is False and early["reason"] == "insufficient_predictions"
    report = drift(like, sample.iloc[5:])
    assert report["available"] is True and report["calls"] == 400
    assert report["overallStatus"] == "green", [
        (f["feature"], f["psi"]) for f in report["features"] if f["status"] != "green"
    ]
    radius = next(f for f in report["features"] if f["feature"] == "mean_radius")
    assert radius["testType"] == "ks" and radius["pValue"] > 0.01
    assert abs(sum(radius["baselineDistribution"].values()) - 1) < 1e-9
    assert report["predictionDrift"]["testType"] == "chi2"

    shifted = deployed("shifted")
    moved = sample.head(200) * 1.6
    report = drift(shifted, moved)
    assert report["overallStatus"] == "red"
    radius = next(f for f in report["features"] if f["feature"] == "mean_radius")
    assert radius["status"] == "red" and radius["pValue"] < 1e-6

    def drawn(deployment_id: str) -> Any:
        url = f"{API}/deployments/{deployment_id}/drift"
        return picture_of(client.post(url, params={"format": "png"}, headers=ada))

    green, red = (charts.STATUS_COLOURS[status] for status in ("green", "red"))
    calm, alarmed = drawn(like), drawn(shifted)
    assert colour_share(calm, green) > 0.01 and colour_share(calm, red) == 0
    assert colour_share(alarmed, red) > 0.01


def test_the_rate_limit_holds_across_two_api_processes(tmp_path: Path) -> None:
    """Two API processes on one metadata store answer one deployment: together they let
    through no more calls a minute than the limit."""
    import subprocess
    import sys

    import httpx

    from api.app import create_app
    from lakehouse.settings import child_env
    from tests.processes import ROOT, free_port, stop

    limit = 10
    settings = make_settings(
        tmp_path, workers=1, workbench_registration=True, deployment_requests_per_minute=limit
    )
    with TestClient(create_app(settings), timeout=120) as client:
        ada = bearer(register(client, "ada@example.org"))
        project_id, model = trained(client, ada)
        create = {"modelId": model["modelId"], "projectId": project_id, "name": "shared"}
        deployment = ok(client.post(f"{API}/deployments", json=create, headers=ada), 201)
        deployment_id = deployment["deployment"]["deploymentId"]
        raw_key = ok(
            client.post(
                f"{API}/deployments/{deployment_id}/api-keys", json={"name": "k"}, headers=ada
            ),
            201,
        )["rawKey"]
    serving = settings.model_copy(update={"workers": 0})  # these processes only predict
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env=child_env(serving, with_secrets=True),
            start_new_session=True,
        )
        for port in ports
    ]  # fmt: skip
    try:
        for port in ports:
            deadline = time.monotonic() + 120
            while True:
                assert all(p.poll() is None for p in processes), "an API process exited"
                try:
                    url = f"http://127.0.0.1:{port}/api/v1/utils/health-check/"
                    if httpx.get(url, timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "an API process did not start"
                time.sleep(0.5)
        clear_of_a_minute_turn(20)
        statuses = [
            httpx.post(
                f"http://127.0.0.1:{ports[n % 2]}{API}/deployments/{deployment_id}/predict",
                json=model["sampleRequest"],
                headers={"x-api-key": raw_key},
                timeout=30,
            ).status_code
            for n in range(limit + 6)
        ]
    finally:
        stop(processes)
    assert statuses.count(200) == limit and statuses.count(429) == 6, statuses
    # both processes answered, and both refused: the count is shared, not per process
    assert {statuses[n] for n in range(0, len(statuses), 2)} >= {200}
    assert 429 in statuses[-2:] and statuses[-1] == statuses[-2] == 429
