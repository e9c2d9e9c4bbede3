"""Whatever a client sends, the answer is a 4xx in the API's error shape, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.api.helpers import admin_headers

HUGE = 10**30
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("get", "/api/v1/files/download/", {"params": {"file_path": "a\x00b"}}),
    ("get", "/api/v1/files/download/", {"params": {"file_path": "~" * 1000}}),
    ("get", "/api/v1/files/download/", {}),
    ("get", "/api/v1/files/view", {"params": {"file_id": HUGE}}),
    ("get", "/api/v1/dataset/get_dataset_by_id", {"params": {"dataset_id": "x"}}),
    (
        "post",
        "/api/v1/dataset/upload",
        {"params": {"dataset_name": "d", "usage": "t"}, "data": {"files": "text"}},
    ),
    (
        "post",
        "/api/v1/dataset/upload",
        {
            "params": {"dataset_name": "d", "usage": "t"},
            "files": [("files", ("../\x00", b"a\n1\n"))],
        },
    ),
    (
        "post",
        "/api/v1/dataset/upload",
        {
            "params": {"dataset_name": "\x00", "usage": "t"},
            "files": [("files", ("a.csv", b"a\n1\n"))],
        },
    ),
    ("get", f"/api/v1/template/{HUGE}", {}),
    ("delete", "/api/v1/template/0", {}),
    ("put", "/api/v1/template/update/1", {"json": {"template_name": "\x00"}}),
    ("post", "/api/v1/template/", {"json": {"template_name": "t", "template_schema": {"a": 1}}}),
    (
        "post",
        "/api/v1/template/",
        {
            "json": {
                "template_name": "t",
                "template_schema": [{"column_name": "a\x00", "data_type": "int"}],
            }
        },
    ),
    ("get", f"/api/v1/users/{HUGE}", {}),
    ("get", f"/api/v1/users/{HUGE}/roles", {}),
    ("post", "/api/v1/users/1/roles", {"json": {"role_id": HUGE}}),
    ("post", "/api/v1/users/1/roles", {"json": {"role_id": "one"}}),
    ("delete", f"/api/v1/users/1/roles/{HUGE}", {}),
    ("post", f"/api/v1/rbac/roles/{HUGE}/permissions", {"json": {"permission_id": 1}}),
    ("post", "/api/v1/rbac/roles/1/permissions", {"json": {"permission_id": 2**63}}),
    ("post", "/api/v1/users/create-user", {"json": []}),
    ("post", "/api/v1/users/create-user", {"json": None}),
    (
        "post",
        "/api/v1/users/create-user",
        {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}},
    ),
    (
        "post",
        "/api/v1/users/create-user",
        {"json": {"tenant_id": "\x00", "email": "a@b.co", "username": "u", "password": "p" * 9}},
    ),
    (
        "post",
        "/api/v1/users/create-user",
        {
            "json": {
                "tenant_id": "t",
                "email": "a@b.co",
                "username": "u",
                "password": "p" * 9,
                "is_platform_admin": True,
            }
        },
    ),
    (
        "post",
        "/api/v1/login/access-token",
        {
            "content": b"\xff\xfe=\xff",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
    ),
    ("post", "/api/v1/login/access-token", {"json": {"username": "admin", "password": "x"}}),
    (
        "post",
        "/api/v1/login/access-token",
        {"data": {"username": "\x00", "password": "b" * 100_000}},
    ),
    ("post", "/api/v1/refresh", {"params": {"refresh_token": "a" * 20_000}}),
    ("post", "/api/v1/logout", {"params": {"refresh_token": "\x00"}}),
    ("post", "/api/v1/reset-password", {"params": {"user_name": "\x00", "new_password": "a" * 12}}),
    ("get", "/api/v1/runs/%00", {}),
    ("get", "/api/v1/runs/" + "x" * 2000, {}),
    ("get", "/api/v1/runs/abc/logs", {"params": {"offset": -1}}),
    ("get", "/api/v1/runs/abc/logs", {"params": {"offset": HUGE}}),
    ("post", "/api/v1/utils/self-check", {"params": {"rows": "abc"}}),
    ("post", "/api/v1/utils/self-check", {"params": {"hold_seconds": "nan"}}),
    ("post", "/api/v1/utils/self-check", {"params": {"hold_seconds": "inf"}}),
    ("post", "/api/v1/ray/terminate_ray_job", {"params": {"ray_job_id": "x"}}),
    ("get", "/api/v1/rbac/roles/", {"params": {"tenant_id": "\x00"}}),
    ("post", "/api/v1/tenants/", {"json": {"name": ""}}),
    ("get", "/api/v1/validate-token", {"headers": {"Authorization": "Bearer a.b.c"}}),
    ("get", "/api/v1/validate-token", {"headers": {"Authorization": "Basic YWRtaW46YWRtaW4="}}),
    ("post", "/api/v1/train/", {"json": {"dataset_id": HUGE}}),
    (
        "post",
        "/api/v1/train/",
        {
            "json": {
                "dataset_id": 1,
                "predictor_name": "p\x00",
                "domain": "d",
                "problem_type": "Classification",
                "columns": [{"column_name": "a", "attribute_name": "Target"}],
            }
        },
    ),
    ("post", "/api/v1/train/", {"json": {"dataset_id": 1, "columns": "all"}}),
    ("post", "/api/v1/train/get_details", {"json": []}),
    ("get", "/api/v1/train/model-summary", {"params": {"train_id": "x"}}),
    ("get", "/api/v1/train/view-feature-importance", {"params": {"train_id": HUGE}}),
    ("delete", "/api/v1/train/delete/0", {}),
    ("get", "/api/v1/train/download-schema/-1", {}),
    ("post", "/api/v1/train/update/", {"json": {"train_id": 1, "preprocess_id": "x"}}),
    ("post", "/api/v1/train/result", {"json": {"result": {}}}),
    ("post", "/api/v1/train/shap-result", {"json": {"training_id": 1, "result": {"a": "nan?"}}}),
    ("post", "/api/v1/inference/", {"json": {"train_id": 1, "features": [1, 2]}}),
    ("post", "/api/v1/inference/", {"json": {"train_id": 1, "features": {"a": {"b": 1}}}}),
    (
        "post",
        "/api/v1/inference/",
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
    ),
    (
        "post",
        "/api/v1/inference/forecast",
        {"json": {"train_id": 1, "steps": HUGE, "frequency": "Week", "unique_id": "a"}},
    ),
    ("post", "/api/v1/inference/batchPrediction", {"json": {"train_id": 1, "dataset_id": HUGE}}),
    ("get", "/api/v1/inference/result", {"params": {"prediction_id": "\x00"}}),
    ("get", "/api/v1/inference/predictions", {"params": {"train_id": 0}}),
    ("get", "/api/v1/inference/form-based-prediction", {"params": {"id": HUGE}}),
]


@pytest.mark.parametrize(
    ("method", "path", "options"), CASES, ids=[f"{m} {p[:40]}" for m, p, _ in CASES]
)
def test_hostile_input_gets_a_clear_4xx(
    client: TestClient, method: str, path: str, options: dict[str, Any]
) -> None:
    options = dict(options)
    headers = {**admin_headers(client), **options.pop("headers", {})}
    response = getattr(client, method)(path, headers=headers, **options)
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["status_code"] == response.status_code
    assert isinstance(body["detail"], str) and body["detail"]


NUL_NAMES = [b"\x00", b"../\x00/..", b"a\x00.doc", b"\x00.exe"]


@pytest.mark.parametrize("file_name", NUL_NAMES, ids=[repr(n) for n in NUL_NAMES])
def test_nul_in_a_multipart_file_name_is_a_4xx_that_commits_nothing(
    client: TestClient, file_name: bytes
) -> None:
    headers = admin_headers(client)
    # Sent byte for byte: HTTP clients percent-encode a NUL in a file name.
    body = (
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="'
        + file_name
        + b'"\r\nContent-Type: text/csv\r\n\r\na\n1\n\r\n--b--\r\n'
    )
    response = client.post(
        "/api/v1/dataset/upload",
        params={"dataset_name": "d", "usage": "t"},
        content=body,
        headers={**headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "files"
    assert "\x00" not in response.json()["detail"]
    assert client.get("/api/v1/dataset/list", headers=headers).json()["total"] == 0
