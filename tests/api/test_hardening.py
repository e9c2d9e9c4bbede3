"""Inputs that once answered 500: each is now a 4xx in the API's error shape, with nothing
committed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from litestar.testing import TestClient

from api.openapi import openapi_document
from tests.api.helpers import admin_headers, login

DEEP_ARRAY = "[" * 990 + "]" * 990
DEEP_OBJECT = '{"a":' * 990 + "1" + "}" * 990


def json_operations(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) whose documented body is JSON, path parameters filled with 1."""
    document = openapi_document(client.app)
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                concrete = "/".join(
                    "1" if part.startswith("{") else part for part in path.split("/")
                )
                found.append((method.upper(), concrete))
    return found


def tenants(client: TestClient, headers: dict[str, str]) -> list[str]:
    body = client.get("/api/v1/tenants/", headers=headers).json()
    return sorted(t["name"] for t in body["data"])


@pytest.mark.parametrize(
    "body", [DEEP_ARRAY.encode(), DEEP_OBJECT.encode(), b"\x1a\xff", b"{", b'{"a": "\xe9"}']
)
def test_every_json_endpoint_refuses_a_body_it_cannot_decode(
    client: TestClient, body: bytes
) -> None:
    headers = {**admin_headers(client), "Content-Type": "application/json"}
    before = tenants(client, headers)
    operations = json_operations(client)
    assert ("POST", "/api/v1/tenants") in operations or ("POST", "/api/v1/tenants/") in operations
    for method, path in operations:
        response = client.request(method, path, content=body, headers=headers)
        assert 400 <= response.status_code < 500, (method, path, response.text)
        # the main API's error shape, the orchestrator profile's, or the workbench's
        answer = response.json()
        assert answer.get("detail") or answer.get("Error") or answer.get("error"), (
            method,
            path,
            answer,
        )
    assert tenants(client, headers) == before


def test_a_json_endpoint_refuses_text_plain_with_415(client: TestClient) -> None:
    headers = {**admin_headers(client), "Content-Type": "text/plain"}
    response = client.post("/api/v1/tenants/", content=b'{"name": "plain"}', headers=headers)
    assert response.status_code == 415
    assert response.json() == {
        "status_code": 415,
        "detail": "the body must be application/json, not text/plain",
    }
    assert "plain" not in tenants(client, admin_headers(client))


def test_a_log_offset_beyond_any_integer_is_422(client: TestClient) -> None:
    headers = admin_headers(client)
    response = client.get("/api/v1/runs/none/logs", params={"offset": 2**63}, headers=headers)
    assert response.status_code == 422
    assert response.json()["field"] == "offset"


def test_options_needs_no_credentials_and_lists_every_method(client: TestClient) -> None:
    for path in ("/api/v1/tenants", "/api/v1/users/1/roles"):
        response = client.options(path)
        assert response.status_code == 204, response.text
        assert response.headers["Allow"] == "GET, OPTIONS, POST"
    # Still no data without credentials.
    assert client.get("/api/v1/tenants").status_code == 401


def refresh_all(client: TestClient, token: str, times: int) -> list[int]:
    with ThreadPoolExecutor(max_workers=times) as pool:
        responses = list(
            pool.map(
                lambda _: client.post("/api/v1/refresh", data={"refresh_token": token}),
                range(times),
            )
        )
    return sorted(r.status_code for r in responses)


def test_ten_concurrent_refreshes_give_one_pair_and_no_server_error(client: TestClient) -> None:
    for _ in range(3):
        assert refresh_all(client, login(client)["refresh_token"], 10) == [200] + [401] * 9


def test_a_server_error_keeps_its_internals_to_the_log(client: TestClient) -> None:
    from litestar.exceptions import InternalServerException

    from api.errors import http_error

    response = http_error(None, InternalServerException("secret detail of the code"))  # type: ignore[arg-type]
    assert response.status_code == 500
    assert response.content == {"status_code": 500, "detail": "internal server error"}
