"""The jobs profile through the real app: CSV training jobs followed by status and logs,
batch scoring of a CSV, merges with signed tokens; each backed by Dagster runs, Iceberg
tables and MLflow models of the caller's tenant."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from litestar.testing import TestClient

from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, new_tenant_with_admin
from tests.conftest import make_settings

LABEL = "koi_disposition"
CLASSES = {0: "CANDIDATE", 1: "CONFIRMED", 2: "FALSE POSITIVE"}
BASE = "http://testserver.local"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, workers=1)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


def koi_like() -> pd.DataFrame:
    """scikit-learn's wine data dressed as a catalogue of objects: ids, names, a label."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    frame = wine.drop(columns=["target"]).rename(columns=lambda c: c.replace("/", "_"))
    frame.insert(0, "KEP_ID", range(9_000_000, 9_000_000 + len(frame)))
    frame.insert(1, "KOI_Name", [f"K{i:05d}.01" for i in range(len(frame))])
    frame[LABEL] = wine["target"].map(CLASSES)
    return frame


def as_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def post(
    client: TestClient, path: str, headers: dict[str, str], files: Any = None, **form: Any
) -> Any:
    """A multipart form as a browser sends it: files, and fields as parts without a file."""
    parts = {**(files or {}), **{name: (None, value) for name, value in form.items()}}
    return client.post(path, headers=headers, files=parts)


def follow(
    client: TestClient, headers: dict[str, str], started: dict[str, Any]
) -> tuple[list[str], set[str]]:
    """Poll a job's logs from offset to offset until it is done: the lines, once each, and
    the statuses seen on the way."""
    lines: list[str] = []
    seen: set[str] = set()
    offset, deadline = 0, time.monotonic() + 300
    logs_path = started["logs_url"].removeprefix(BASE)
    while time.monotonic() < deadline:
        page = client.get(logs_path, params={"offset": offset}, headers=headers).json()
        assert page["ok"] and page["offset"] == offset, page
        lines.extend(page["lines"])
        seen.add(page["status"])
        offset = page["next_offset"]
        assert offset == len(lines)
        if page["done"]:
            return lines, seen
        time.sleep(0.2)
    raise AssertionError("the job did not finish")


def refused(response: Any, status: int, field: str, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and words in body["error"] and body.get("field") == field, body


def test_train_follow_predict_and_merge(client: TestClient) -> None:
    headers = admin_headers(client)
    frame = koi_like()
    train, test = frame.iloc[:150], frame.iloc[150:]

    started = post(
        client,
        "/api/train",
        headers,
        files={"file": ("koi_train.csv", as_csv(train), "text/csv")},
        label=LABEL,
        model="xgb",
        satellite="KOI",
    )
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["ok"] and body["message"] == "Training started" and body["status"] == "PENDING"
    job_id = body["job_id"]
    assert body["status_url"] == f"http://testserver.local/api/train/{job_id}/status"
    assert body["logs_url"] == f"http://testserver.local/api/train/{job_id}/logs"
    assert body["info"] is None

    lines, seen = follow(client, headers, body)
    assert seen & {"PENDING", "RUNNING"} and "SUCCEEDED" in seen, seen  # polled while it ran
    assert any("boosting round" in line for line in lines), lines
    assert any("test metrics" in line for line in lines), lines

    state = client.get(f"/api/train/{job_id}/status", headers=headers).json()
    assert state["ok"] and state["status"] == "SUCCEEDED" and state["error"] is None, state
    assert state["params"] == {
        "data_path": "koi_train.csv",
        "satellite": "KOI",
        "model": "xgb",
        "label": LABEL,
    }
    result = state["result"]
    assert result["accuracy"] > 0.8 and result["auc_score"] > 0.9, result
    assert 0 < result["cv_mean"] <= 1 and result["cv_std"] >= 0 and result["elapsed_sec"] > 0
    for key in ("cm_image_url", "cm_norm_image_url"):
        image = client.get(result[key], headers=headers)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG"), key
    model = client.get(result["model_url"], headers=headers)
    assert model.status_code == 200 and model.content.startswith(b"PK")  # skops is a zip
    assert result["model_path"].startswith("models:/")

    # The job is a predictor of the tenant: the main API lists it with its identifiers kept.
    [listed] = client.get("/api/v1/train/list", headers=headers).json()["data"]
    assert listed["training_status"] == "completed" and listed["algorithm"] == "XGBoost"

    scored = post(
        client,
        "/api/predict",
        headers,
        files={"file": ("koi_test.csv", as_csv(test), "text/csv")},
        job_id=job_id,
    )
    assert scored.status_code == 200, scored.text
    answer = scored.json()
    assert answer["ok"] and answer["satellite"] == "KOI" and answer["total_predicted"] == len(test)
    assert (answer["from_row"], answer["to_row"]) == (0, len(test) - 1)
    first = answer["results"][0]
    assert first["Row_Number"] == 0 and first["KEP_ID"] == int(test["KEP_ID"].iloc[0])
    assert first["KOI_Name"] == test["KOI_Name"].iloc[0]
    assert first["Actual_Class"] == test[LABEL].iloc[0]
    probabilities = {f"Prob_{c}" for c in CLASSES.values()}
    assert probabilities <= set(first)
    assert first["Confidence"] == max(first[p] for p in probabilities)
    assert first["Predicted_Class"] in CLASSES.values()
    matches = [r["Match"] == "Yes" for r in answer["results"]]
    assert all(
        (r["Match"] == "Yes") == (r["Actual_Class"] == r["Predicted_Class"])
        for r in answer["results"]
    )
    assert sum(matches) / len(matches) > 0.8
    download = client.get(
        answer["csv_file"].removeprefix("http://testserver.local"), headers=headers
    )
    assert download.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(download.text)))) == len(test)

    page = post(
        client,
        "/api/predict",
        headers,
        filename="koi_test.csv",
        model="xgb",
        satellite="KOI",
        from_row="5",
        to_row="6",
    ).json()
    assert [r["Row_Number"] for r in page["results"]] == [5, 6]
    assert page["results"] == answer["results"][5:7]

    # The same file again is the same dataset; other content under its name is stored anew.
    again = post(
        client,
        "/api/train",
        headers,
        files={"file": ("koi_train.csv", as_csv(train), "text/csv")},
        label=LABEL,
        model="rf",
    ).json()
    assert again["info"] == "File exists. Using existing: koi_train.csv"
    changed = post(
        client,
        "/api/train",
        headers,
        files={"file": ("koi_train.csv", as_csv(train.iloc[:120]), "text/csv")},
        label=LABEL,
        model="logreg",
    ).json()
    assert "stored as koi_train-2.csv" in changed["info"]

    halves = [("koi_a.csv", as_csv(train.iloc[:70])), ("koi_b.csv", as_csv(train.iloc[70:]))]
    merged = post(
        client,
        "/api/merge",
        headers,
        files={"file1": (*halves[0], "text/csv"), "file2": (*halves[1], "text/csv")},
    )
    assert merged.status_code == 200, merged.text
    merge = merged.json()
    assert merge["ok"] and merge["message"] == "Merge complete" and merge["merged_rows"] == 150
    assert merge["merged_filename"].startswith("merged__koi_a__koi_b__")
    assert merge["expires_in"] == 1800
    content = client.get(
        merge["merged_url"].removeprefix("http://testserver.local"), headers=headers
    )
    assert content.status_code == 200
    assert pd.read_csv(io.StringIO(content.text))["KEP_ID"].tolist() == train["KEP_ID"].tolist()
    from_merge = post(
        client, "/api/train", headers, merge_token=merge["merge_token"], label=LABEL, model="lgbm"
    )
    assert from_merge.status_code == 202, from_merge.text
    for started_job in (again, changed, from_merge.json()):
        follow(client, headers, started_job)
        path = f"/api/train/{started_job['job_id']}/status"
        assert client.get(path, headers=headers).json()["status"] == "SUCCEEDED"

    # Tokens: altered, expired, or of another tenant, are refused.
    token = merge["merge_token"]
    altered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    platform = client.app.state.platform
    relative = f"mergefiles/{merge['merged_filename']}"
    tenant_id = client.post("/api/v1/login/test-token", headers=headers).json()["tenant_id"]
    expired = platform.issuer.signer.sign(
        "merge", {"tid": tenant_id, "rel": relative}, timedelta(seconds=-1)
    )
    elsewhere = platform.issuer.signer.sign(
        "merge", {"tid": "another-tenant", "rel": relative}, timedelta(minutes=5)
    )
    for bad, words in [
        (altered, "merge_token is invalid"),
        (expired, "merge_token has expired"),
        (elsewhere, "merge_token is invalid"),
        (platform.issuer.signer.issue(1, tenant_id, "session-1"), "merge_token is invalid"),
    ]:
        response = post(client, "/api/train", headers, merge_token=bad, label=LABEL)
        refused(response, 422, "merge_token", words)

    # Another tenant sees none of it.
    _, other = new_tenant_with_admin(client, headers, "other")
    for path in (
        f"/api/train/{job_id}/status",
        f"/api/train/{job_id}/logs",
        result["cm_image_url"],
        result["model_url"],
        f"/media/{relative}",
    ):
        refused(client.get(path, headers=other), 404, client_field(path), "not found")
    foreign = post(
        client,
        "/api/predict",
        other,
        files={"file": ("koi_test.csv", as_csv(test), "text/csv")},
        job_id=job_id,
    )
    refused(foreign, 404, "job_id", "not found")


def client_field(path: str) -> str:
    return "file_path" if path.startswith("/media/mergefiles") else "job_id"


def test_bad_requests_get_clear_errors(client: TestClient) -> None:
    headers = admin_headers(client)
    frame = koi_like()
    train = as_csv(frame.iloc[:100])
    file = {"file": ("koi.csv", train, "text/csv")}
    cases: list[tuple[dict[str, Any], Any, int, str, str]] = [
        ({"label": LABEL, "model": "svm"}, file, 422, "model", "unknown model 'svm'"),
        ({"model": "xgb"}, file, 422, "label", "label names the column"),
        ({"label": "nope"}, file, 422, "label", "label column 'nope' is not in the file"),
        ({"label": LABEL}, None, 422, "file", "send a CSV"),
        ({"label": LABEL, "filename": "never.csv"}, None, 404, "filename", "no uploaded file"),
        ({"label": LABEL, "satellite": "../x"}, file, 422, "satellite", "satellite must be"),
        (
            {"label": LABEL},
            {"file": ("koi.pkl", b"x", "application/octet-stream")},
            422,
            "file",
            "not a CSV",
        ),
    ]
    for form, files, status, field, words in cases:
        refused(post(client, "/api/train", headers, files=files, **form), status, field, words)

    mismatched = frame.iloc[:50].rename(columns={"alcohol": "ethanol"})
    response = post(
        client,
        "/api/merge",
        headers,
        files={
            "file1": ("a.csv", train, "text/csv"),
            "file2": ("b.csv", as_csv(mismatched), "text/csv"),
        },
    )
    refused(response, 422, "files", "only in a.csv: alcohol; only in b.csv: ethanol")
    refused(post(client, "/api/merge", headers, files=file), 422, "file1", "file1")
    refused(
        post(client, "/api/predict", headers, files=file, job_id="not-a-job"),
        404,
        "job_id",
        "not found",
    )
    refused(post(client, "/api/predict", headers, files=file), 422, "job_id", "name the model")
    assert client.get("/media/../../etc/passwd", headers=headers).status_code == 404
    refused(client.get("/media/plots/x/secret.png", headers=headers), 404, "path", "no media")
    refused(
        client.get("/media/mergefiles/..%2F..%2Fsecret_key", headers=headers),
        404,
        "path",
        "no media",
    )
    unauthenticated = client.get("/api/train/x/status")
    assert unauthenticated.status_code == 401 and unauthenticated.json()["ok"] is False


def test_hostile_input_gets_a_clear_4xx(client: TestClient) -> None:
    headers = admin_headers(client)
    file = {"file": ("koi.csv", as_csv(koi_like().iloc[:40]), "text/csv")}
    responses = [
        client.get("/api/train/a%00b/status", headers=headers),
        client.get("/api/train/x/logs", params={"offset": -1}, headers=headers),
        client.get("/api/train/x/logs", params={"offset": 10**30}, headers=headers),
        client.get("/api/train/x/logs", params={"limit": "many"}, headers=headers),
        client.get("/media/predictions/a%00b.csv", headers=headers),
        client.get("/media/mergefiles/" + "~" * 1000, headers=headers),
        post(client, "/api/train", headers, files=file, label="x" * 10_000),
        post(client, "/api/train", headers, merge_token="A" * 5000, label=LABEL),
        post(
            client,
            "/api/train",
            headers,
            files={"file": ("k.csv", b"\x00\xff" * 50, "text/csv")},
            label=LABEL,
        ),
        post(client, "/api/predict", headers, files=file, job_id="x", from_row="-1"),
        post(client, "/api/predict", headers, files=file, job_id="x", from_row="9" * 40),
        post(client, "/api/predict", headers, files=file, model="xgb", to_row="abc"),
        post(client, "/api/predict", headers, files=file, model="xgb", from_row="²"),
        client.post("/api/merge", headers=headers, content=b"--x\r\n", params={}),
    ]
    for response in responses:
        assert 400 <= response.status_code < 500, response.text
        body = response.json()
        assert body.get("ok") is False and isinstance(body["error"], str), (response.url, body)
