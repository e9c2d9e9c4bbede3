"""The workbench profile through the real app: accounts by email, projects, datasets uploaded
into them (ingested by real runs into Iceberg tables) and paged, and the features this
platform cannot serve answering 501."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from litestar.testing import TestClient

from lakehouse.settings import Settings
from tests.conftest import ADMIN_PASSWORD, make_settings

API = "/api"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, workers=1, workbench_registration=True)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from workbench_client(settings)


def workbench_client(settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(settings), timeout=120) as test_client:
        yield test_client


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def refused(response: Any, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) <= {"error", "field"} and body["error"], body
    for word in words:
        assert word in body["error"] or word == body.get("field"), body
    return body


def register(client: TestClient, email: str, name: str = "Ada") -> dict[str, Any]:
    body: dict[str, Any] = ok(
        client.post(
            f"{API}/auth/register",
            json={"email": email, "password": "correct horse 1", "name": name},
        ),
        201,
    )
    return body


def bearer(signed_in: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {signed_in['accessToken']}"}


def sales() -> pd.DataFrame:
    """A small sales table with the blanks and markers real files have."""
    import numpy as np

    rng = np.random.default_rng(5)
    n = 240
    frame = pd.DataFrame(
        {
            "order_id": range(1000, 1000 + n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "units": rng.integers(1, 50, n),
            "price": rng.uniform(1.0, 99.0, n).round(2),
            "ordered_on": pd.date_range("2026-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    frame["price"] = frame["price"].astype(object)
    frame.loc[3, "price"] = ""  # a blank
    frame.loc[17, "price"] = "N/A"  # a marker, in a column of numbers
    frame.loc[29, "region"] = ""
    return frame


def upload(client: TestClient, headers: dict[str, str], name: str, data: bytes, **form: str) -> Any:
    parts: dict[str, Any] = {"file": (name, io.BytesIO(data))}
    parts.update({key: (None, value) for key, value in form.items()})
    return client.post(f"{API}/upload/dataset", headers=headers, files=parts)


def test_accounts_register_sign_in_refresh_and_sign_out(client: TestClient) -> None:
    signed_in = register(client, "Ada@Example.org", "Ada Lovelace")
    user = signed_in["user"]
    assert set(user) == {
        "user_id",
        "email",
        "name",
        "role",
        "email_verified",
        "created_at",
        "updated_at",
        "last_login_at",
    }
    assert user["email"] == "ada@example.org" and user["name"] == "Ada Lovelace"
    assert user["role"] == "user" and user["created_at"].endswith("Z")
    assert user["last_login_at"] is not None
    assert ok(client.get(f"{API}/auth/me", headers=bearer(signed_in)))["user"] == user

    again = client.post(
        f"{API}/auth/register",
        json={"email": "ada@example.org", "password": "another one 2", "name": "Ada"},
    )
    refused(again, 409, "Email already registered")
    refused(
        client.post(
            f"{API}/auth/register", json={"email": "x@y.z", "password": "short", "name": "X"}
        ),
        400,
        "password",
    )

    wrong = client.post(f"{API}/auth/login", json={"email": "ada@example.org", "password": "nope"})
    refused(wrong, 401, "Invalid email or password")
    unknown = client.post(f"{API}/auth/login", json={"email": "who@example.org", "password": "x"})
    refused(unknown, 401, "Invalid email or password")
    logged = ok(
        client.post(
            f"{API}/auth/login", json={"email": "ADA@example.org", "password": "correct horse 1"}
        )
    )
    assert logged["user"]["user_id"] == user["user_id"] and logged["user"]["last_login_at"]

    # a refresh rotates the token; the old one presented again ends the session
    rotated = ok(client.post(f"{API}/auth/refresh", json={"refreshToken": logged["refreshToken"]}))
    assert set(rotated) == {"accessToken", "refreshToken"}
    reused = client.post(f"{API}/auth/refresh", json={"refreshToken": logged["refreshToken"]})
    refused(reused, 401)
    refused(client.post(f"{API}/auth/refresh", json={"refreshToken": rotated["refreshToken"]}), 401)

    # sign out with the bearer alone: its session's tokens stop working
    assert client.post(f"{API}/auth/logout", headers=bearer(signed_in)).status_code == 204
    refused(client.get(f"{API}/auth/me", headers=bearer(signed_in)), 401)
    refused(
        client.post(f"{API}/auth/refresh", json={"refreshToken": signed_in["refreshToken"]}), 401
    )

    # a Strata user signs in with its email too
    admin = ok(
        client.post(
            f"{API}/auth/login", json={"email": "admin@strata.local", "password": ADMIN_PASSWORD}
        )
    )
    assert admin["user"]["role"] == "admin"


def test_registration_is_off_unless_the_platform_allows_it(tmp_path: Path) -> None:
    from api.app import create_app

    with TestClient(create_app(make_settings(tmp_path))) as client:
        response = client.post(
            f"{API}/auth/register",
            json={"email": "eve@example.org", "password": "long enough 1", "name": "Eve"},
        )
        refused(response, 403, "Registration is disabled")


def test_projects_belong_to_their_tenant(client: TestClient) -> None:
    ada, bob = (
        bearer(register(client, "ada@example.org")),
        bearer(register(client, "bob@example.org")),
    )
    created = ok(
        client.post(
            f"{API}/projects",
            json={"name": "Churn", "color": "#ff0000", "metadata": {"currentPhase": "upload"}},
            headers=ada,
        ),
        201,
    )["project"]
    assert created["name"] == "Churn" and created["metadata"] == {"currentPhase": "upload"}
    assert created["color"] == "#ff0000" and "description" not in created
    project_id = created["id"]
    changed = ok(
        client.patch(
            f"{API}/projects/{project_id}",
            json={"description": "who leaves", "metadata": {"currentPhase": "training"}},
            headers=ada,
        )
    )["project"]
    assert changed["name"] == "Churn" and changed["description"] == "who leaves"
    assert changed["metadata"] == {"currentPhase": "training"}
    assert [p["id"] for p in ok(client.get(f"{API}/projects", headers=ada))["projects"]] == [
        project_id
    ]

    # another user's project is not found, whatever is asked of it
    assert ok(client.get(f"{API}/projects", headers=bob))["projects"] == []
    refused(client.get(f"{API}/projects/{project_id}", headers=bob), 404, "Project not found")
    refused(client.patch(f"{API}/projects/{project_id}", json={"name": "x"}, headers=bob), 404)
    refused(client.delete(f"{API}/projects/{project_id}", headers=bob), 404)
    refused(client.post(f"{API}/projects", json={"name": ""}, headers=ada), 400, "name")
    refused(client.delete(f"{API}/projects/reset", headers=ada), 403)
    refused(client.get(f"{API}/projects"), 401)

    assert client.delete(f"{API}/projects/{project_id}", headers=ada).status_code == 204
    refused(client.get(f"{API}/projects/{project_id}", headers=ada), 404)


def test_datasets_upload_profile_page_and_delete(client: TestClient) -> None:
    ada, bob = (
        bearer(register(client, "ada@example.org")),
        bearer(register(client, "bob@example.org")),
    )
    project_id = ok(client.post(f"{API}/projects", json={"name": "Sales"}, headers=ada), 201)[
        "project"
    ]["id"]
    frame = sales()
    uploaded = ok(
        upload(
            client, ada, "Q1 sales.csv", frame.to_csv(index=False).encode(), projectId=project_id
        ),
        201,
    )["dataset"]
    assert uploaded["filename"] == "Q1 sales.csv" and uploaded["fileType"] == "csv"
    assert uploaded["n_rows"] == len(frame) and uploaded["n_cols"] == 5
    assert uploaded["columns"] == list(frame.columns)
    assert uploaded["dtypes"] == {
        "order_id": "integer",
        "region": "string",
        "units": "integer",
        "price": "float",
        "ordered_on": "date",
    }
    assert uploaded["null_counts"]["price"] == 2 and uploaded["null_counts"]["region"] == 1
    assert uploaded["tableName"] == "q1_sales" and uploaded["queryable"] is True
    assert uploaded["sample"][0]["order_id"] == 1000 and len(uploaded["sample"]) == 10
    dataset_id = uploaded["datasetId"]

    listed = ok(client.get(f"{API}/datasets", params={"projectId": project_id}, headers=ada))
    [entry] = listed["datasets"]
    assert entry["datasetId"] == dataset_id and entry["nRows"] == len(frame)
    assert {c["name"]: c["dtype"] for c in entry["columns"]} == uploaded["dtypes"]
    assert entry["projectId"] == project_id and entry["tableName"] == "q1_sales"

    sample = ok(client.get(f"{API}/datasets/{dataset_id}/sample", headers=ada))
    assert sample["rowCount"] == len(frame) and sample["columns"] == list(frame.columns)

    page = ok(client.get(f"{API}/datasets/{dataset_id}/rows", params={"offset": 230}, headers=ada))
    assert page["offset"] == 230 and page["limit"] == 200 and page["rowCount"] == len(frame)
    assert [r["order_id"] for r in page["rows"]] == list(range(1230, 1240))
    first = ok(client.get(f"{API}/datasets/{dataset_id}/rows", params={"limit": 3}, headers=ada))
    assert [r["order_id"] for r in first["rows"]] == [1000, 1001, 1002]
    refused(
        client.get(f"{API}/datasets/{dataset_id}/rows", params={"limit": 1001}, headers=ada),
        400,
        "limit",
    )
    refused(
        client.get(f"{API}/datasets/{dataset_id}/rows", params={"offset": -1}, headers=ada),
        400,
        "offset",
    )

    # a legacy workbook, and a file over the limit, are refused; nothing is kept of them
    refused(upload(client, ada, "old.xls", b"\xd0\xcf\x11\xe0"), 400, ".xls")
    refused(upload(client, ada, "notes.txt", b"a,b\n1,2\n"), 400, "Unsupported")

    # another tenant sees none of it
    for path in (f"/datasets/{dataset_id}/sample", f"/datasets/{dataset_id}/rows"):
        refused(client.get(f"{API}{path}", headers=bob), 404, "Dataset not found")
    refused(client.delete(f"{API}/datasets/{dataset_id}", headers=bob), 404)
    refused(client.get(f"{API}/datasets", params={"projectId": project_id}, headers=bob), 404)
    assert ok(client.get(f"{API}/datasets", headers=bob))["datasets"] == []
    refused(upload(client, bob, "x.csv", b"a\n1\n", projectId=project_id), 404, "Project not found")

    assert client.delete(f"{API}/datasets/{dataset_id}", headers=ada).status_code == 204
    refused(client.get(f"{API}/datasets/{dataset_id}/sample", headers=ada), 404)
    assert ok(client.get(f"{API}/datasets", headers=ada))["datasets"] == []


def test_an_upload_over_the_workbench_limit_is_413(tmp_path: Path) -> None:
    from api.app import create_app

    settings = make_settings(
        tmp_path, workers=1, workbench_registration=True, workbench_upload_bytes=1000
    )
    with TestClient(create_app(settings)) as client:
        ada = bearer(register(client, "ada@example.org"))
        refused(upload(client, ada, "big.csv", b"a,b\n" + b"1,2\n" * 500), 413)
        assert ok(client.get(f"{API}/datasets", headers=ada))["datasets"] == []


def test_features_needing_a_model_service_or_sandbox_answer_501(client: TestClient) -> None:
    from api.profiles.workbench.unavailable import UNAVAILABLE

    ada = bearer(register(client, "ada@example.org"))
    for path, methods, feature, needs in UNAVAILABLE:
        concrete = path.replace(":str}", "}").format(
            run_id="r1",
            session_id="s1",
            project_id="p1",
            notebook_id="n1",
            cell_id="c1",
            savepoint_id="v1",
        )
        for method in methods:
            response = client.request(method, f"{API}{concrete}", headers=ada)
            body = refused(response, 501, "not available")
            assert body["error"] == f"{feature} is not available: it needs {needs}"
    assert "language-model" in UNAVAILABLE[0][3] and "sandbox" in UNAVAILABLE[9][3]


def customers() -> bytes:
    return b"customer_id,region,tier\n1,north,gold\n2,south,silver\n3,east,gold\n4,west,bronze\n"


def test_read_only_sql_over_the_projects_own_tables(client: TestClient) -> None:
    ada, bob = (
        bearer(register(client, "ada@example.org")),
        bearer(register(client, "bob@example.org")),
    )

    def project(headers: dict[str, str], name: str) -> str:
        created = ok(client.post(f"{API}/projects", json={"name": name}, headers=headers), 201)
        return str(created["project"]["id"])

    mine, other = project(ada, "Sales"), project(ada, "Other")
    theirs = project(bob, "Theirs")
    frame = sales()
    ok(upload(client, ada, "sales.csv", frame.to_csv(index=False).encode(), projectId=mine), 201)
    ok(upload(client, ada, "regions.csv", customers(), projectId=mine), 201)
    ok(upload(client, ada, "elsewhere.csv", customers(), projectId=other), 201)
    ok(upload(client, bob, "secret.csv", customers(), projectId=theirs), 201)

    def query(sql: str, project_id: str = mine, headers: dict[str, str] = ada) -> Any:
        return client.post(
            f"{API}/query/sql", json={"projectId": project_id, "sql": sql}, headers=headers
        )

    answer = ok(
        query(
            "SELECT s.region, count(*) AS orders, sum(s.units) AS units FROM sales s "
            "JOIN regions r ON r.region = s.region WHERE r.tier = 'gold' "
            "GROUP BY s.region ORDER BY s.region"
        )
    )["query"]
    gold = frame[frame["region"].isin(["north", "east"])]
    expected = gold.groupby("region")["units"].agg(["count", "sum"]).sort_index()
    assert [r["region"] for r in answer["rows"]] == list(expected.index)
    assert [r["orders"] for r in answer["rows"]] == expected["count"].tolist()
    assert [r["units"] for r in answer["rows"]] == expected["sum"].tolist()
    assert [c["name"] for c in answer["columns"]] == ["region", "orders", "units"]
    assert answer["columns"][1]["dataTypeID"] == 20 and answer["columns"][0]["dataTypeID"] == 1043
    assert answer["sql"].endswith("LIMIT 200") and answer["cached"] is False
    assert answer["rowCount"] == 2 and answer["eda"]["rowCount"] == 2
    assert isinstance(answer["executionMs"], float) and answer["queryId"]

    # the same query again is answered from the cache while the tables stay as they are
    again = ok(
        query(
            "SELECT s.region, count(*) AS orders, sum(s.units) AS units FROM sales s "
            "JOIN regions r ON r.region = s.region WHERE r.tier = 'gold' "
            "GROUP BY s.region ORDER BY s.region"
        )
    )["query"]
    assert again["cached"] is True and again["rows"] == answer["rows"]
    assert again["cacheTimestamp"].endswith("Z") and again["queryId"] != answer["queryId"]

    # rows: 200 without a LIMIT, at most 1000 with one, dates as ISO text
    assert ok(query("SELECT * FROM sales"))["query"]["rowCount"] == 200
    everything = ok(query("SELECT order_id, ordered_on FROM sales LIMIT 5000"))["query"]
    assert everything["rowCount"] == len(frame) and everything["sql"].endswith("LIMIT 1000")
    assert everything["rows"][0] == {"order_id": 1000, "ordered_on": "2026-01-01"}

    refusals = {
        "SELECT 1; DROP TABLE sales": "Multiple statements",
        "DROP TABLE sales": "DROP",
        "INSERT INTO sales SELECT * FROM sales": "INSERT",
        "SELECT * FROM elsewhere": "Unknown table elsewhere",  # another project's
        "SELECT * FROM secret": "Unknown table secret",  # another tenant's
        "SELECT * FROM information_schema.tables": "Unknown table information_schema.tables",
        "SELECT * FROM read_csv('/etc/passwd')": "read_csv",
        "SELECT * FROM sales WHERE nope = 1": "The query failed",
    }
    for sql, named in refusals.items():
        body = refused(query(sql), 400, named)
        assert body["field"] == "sql"
    refused(query("SELECT * FROM sales", project_id=theirs), 404, "Project not found")
    refused(query("SELECT * FROM secret", project_id=theirs), 404, "Project not found")
    assert ok(query("SELECT count(*) AS n FROM secret", theirs, bob))["query"]["rows"] == [{"n": 4}]

    config = ok(client.get(f"{API}/query/cache/config", headers=ada))
    assert config == {
        "ttlMs": 300_000,
        "maxEntries": 500,
        "sqlDefaultLimit": 200,
        "sqlMaxRows": 1000,
        "statementTimeoutMs": 5000,
    }


def test_a_query_running_past_the_time_limit_is_stopped(tmp_path: Path) -> None:
    from api.app import create_app

    settings = make_settings(
        tmp_path, workers=1, workbench_registration=True, sql_timeout_seconds=0.5
    )
    with TestClient(create_app(settings), timeout=120) as client:
        ada = bearer(register(client, "ada@example.org"))
        project = ok(client.post(f"{API}/projects", json={"name": "P"}, headers=ada), 201)
        project_id = project["project"]["id"]
        ok(
            upload(
                client, ada, "sales.csv", sales().to_csv(index=False).encode(), projectId=project_id
            ),
            201,
        )
        slow = (
            "SELECT count(*) AS n FROM sales a, sales b, sales c, sales d "
            "WHERE a.units + b.units + c.units + d.units = 7"
        )
        response = client.post(
            f"{API}/query/sql", json={"projectId": project_id, "sql": slow}, headers=ada
        )
        refused(response, 400, "longer than the 0.5 s allowed")


def test_repeated_column_names_keep_every_value(client: TestClient) -> None:
    ada = bearer(register(client, "ada@example.org"))
    project = ok(client.post(f"{API}/projects", json={"name": "P"}, headers=ada), 201)
    project_id = project["project"]["id"]
    ok(upload(client, ada, "regions.csv", customers(), projectId=project_id), 201)
    answer = ok(
        client.post(
            f"{API}/query/sql",
            json={
                "projectId": project_id,
                "sql": "SELECT a.tier, b.tier FROM regions a JOIN regions b "
                "ON a.customer_id = b.customer_id ORDER BY a.customer_id LIMIT 1",
            },
            headers=ada,
        )
    )["query"]
    assert [c["name"] for c in answer["columns"]] == ["tier", "tier_2"]
    assert answer["rows"] == [{"tier": "gold", "tier_2": "gold"}]
    odd = client.post(
        f"{API}/query/sql",
        json={"projectId": project_id, "sql": "SELECT INTERVAL 1000000000 DAY AS i FROM regions"},
        headers=ada,
    )
    refused(odd, 400, "The query failed")


def test_model_templates_list_their_parameters(client: TestClient) -> None:
    ada = bearer(register(client, "ada@example.org"))
    templates = {
        t["id"]: t for t in ok(client.get(f"{API}/models/templates", headers=ada))["templates"]
    }
    assert {
        "random_forest_classifier",
        "logistic_regression",
        "random_forest_regressor",
        "linear_regression",
        "ridge_regression",
        "knn_classifier",
        "gradient_boosting_classifier",
        "kmeans",
        "xgboost_classifier",
        "lightgbm_regressor",
    } <= set(templates)
    knn = templates["knn_classifier"]
    assert knn["taskType"] == "classification" and knn["modelClass"] == "KNeighborsClassifier"
    assert knn["parameters"][0] == {
        "key": "n_neighbors",
        "label": "Neighbours",
        "type": "number",
        "default": 5,
        "min": 1,
        "max": 200,
        "step": 1,
    }
    assert knn["parameters"][1]["options"] == ["uniform", "distance"]
    assert templates["kmeans"]["metrics"] == ["silhouette", "inertia"]
    refused(client.get(f"{API}/models/templates"), 401)


def cancer_csv() -> bytes:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    return bytes(frame.to_csv(index=False).encode())


def test_models_train_from_templates_and_download_as_skops(client: TestClient) -> None:
    import skops.io as sio

    ada, bob = (
        bearer(register(client, "ada@example.org")),
        bearer(register(client, "bob@example.org")),
    )
    project_id = ok(client.post(f"{API}/projects", json={"name": "Cancer"}, headers=ada), 201)[
        "project"
    ]["id"]
    dataset_id = ok(upload(client, ada, "cancer.csv", cancer_csv(), projectId=project_id), 201)[
        "dataset"
    ]["datasetId"]

    def train(**body: Any) -> Any:
        request = {"projectId": project_id, "datasetId": dataset_id, "targetColumn": "target"}
        return client.post(f"{API}/models/train", json=request | body, headers=ada)

    forest = ok(
        train(
            templateId="random_forest_classifier",
            parameters={"n_estimators": 40, "max_depth": 6},
            testSize=0.2,
            name="Forest",
        )
    )
    assert forest["success"] is True
    model = forest["model"]
    assert model["name"] == "Forest" and model["taskType"] == "classification"
    assert model["algorithm"] == "RandomForestClassifier" and model["library"] == "sklearn"
    assert model["parameters"] == {"n_estimators": 40, "max_depth": 6}
    assert model["metrics"]["accuracy"] > 0.85 and 0.5 < model["metrics"]["roc_auc"] <= 1
    assert model["targetColumn"] == "target" and len(model["featureColumns"]) == 30
    assert "target" not in model["featureColumns"]
    assert model["featureTypes"]["mean_radius"] == "float"
    assert set(model["sampleRequest"]) == set(model["featureColumns"])
    assert model["status"] == "completed" and model["metadata"]["testSize"] == 0.2
    assert model["sampleCount"] == 569 and model["trainingMs"] > 0
    logistic = ok(train(templateId="logistic_regression", parameters={"C": 0.5}))["model"]
    assert (
        logistic["algorithm"] == "LogisticRegression" and logistic["metadata"]["testSize"] == 0.15
    )

    listed = ok(client.get(f"{API}/models", params={"projectId": project_id}, headers=ada))
    assert [m["modelId"] for m in listed["models"]] == [logistic["modelId"], model["modelId"]]
    fetched = ok(client.get(f"{API}/models/{model['modelId']}", headers=ada))["model"]
    # the same record, but for its evaluation, which a run computes meanwhile
    assert fetched | {"evaluationStatus": None} == model | {"evaluationStatus": None}

    artifact = client.get(f"{API}/models/{model['modelId']}/artifact", headers=ada)
    assert artifact.status_code == 200 and artifact.content[:2] == b"PK"  # a skops zip
    path = Path(client.app.state.platform.settings.data_dir) / "downloaded.skops"
    path.write_bytes(artifact.content)
    from lakehouse.model_files import TRUSTED_TYPES

    pipeline = sio.load(
        path, trusted=sorted(set(sio.get_untrusted_types(file=path)) & TRUSTED_TYPES)
    )
    frame = pd.DataFrame([model["sampleRequest"]])
    assert pipeline.predict(frame).shape == (1,)

    refusals: list[tuple[dict[str, Any], int, str]] = [
        ({"templateId": "svm"}, 404, "Unknown template 'svm'"),
        ({"templateId": "kmeans", "parameters": {"n_clusters": 1}}, 400, "n_clusters"),
        ({"templateId": "knn_classifier", "parameters": {"k": 3}}, 400, "unknown parameter 'k'"),
        ({"templateId": "knn_classifier", "parameters": {"n_neighbors": 0}}, 400, "n_neighbors"),
        ({"templateId": "knn_classifier", "targetColumn": "nope"}, 400, "targetColumn 'nope'"),
        ({"templateId": "knn_classifier", "testSize": 0.9}, 400, "testSize"),
    ]
    for body, status, named in refusals:
        refused(train(**body), status, named)
    refused(client.get(f"{API}/models/{model['modelId']}", headers=bob), 404, "Model not found")
    refused(client.get(f"{API}/models/{model['modelId']}/artifact", headers=bob), 404)
    refused(client.delete(f"{API}/models/{model['modelId']}", headers=bob), 404)
    assert ok(client.get(f"{API}/models", headers=bob))["models"] == []

    from tests.api.profiles.test_workbench_experiments import evaluated

    evaluated(client, model["modelId"], ada)  # a model is deleted once no run writes it
    assert client.delete(f"{API}/models/{model['modelId']}", headers=ada).status_code == 204
    refused(client.get(f"{API}/models/{model['modelId']}", headers=ada), 404)
    assert len(ok(client.get(f"{API}/models", headers=ada))["models"]) == 1
