"""Templates through the API: reference shapes, checks, tenancy and permissions."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.api.helpers import admin_headers, bearer, create_user, login, me, new_tenant_with_admin

TELECOM: dict[str, Any] = {
    "template_name": "Telecom Customer Usage",
    "template_schema": [
        {"column_name": "CustomerID", "data_type": "String", "default_value": "CUST-0000"},
        {"column_name": "DataUsageGB", "data_type": "double", "default_value": "0.0"},
    ],
}


def create(client: TestClient, headers: dict[str, str], body: dict[str, Any] = TELECOM) -> int:
    response = client.post("/api/v1/template/", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == 201
    assert response.json()["message"] == "Template created successfully."
    template_id: int = response.json()["id"]
    return template_id


def test_template_lifecycle(client: TestClient) -> None:
    headers = admin_headers(client)
    template_id = create(client, headers)

    listed = client.get("/api/v1/template/list", headers=headers).json()
    assert listed["total"] == 1
    [summary] = listed["data"]
    assert summary["template_name"] == "Telecom Customer Usage"
    assert summary["no_of_columns"] == 2
    assert summary["created_by"] == summary["modified_by"] == "admin"
    assert summary["tenant_id"] == me(client, headers)["tenant_id"]

    detail = client.get(f"/api/v1/template/{template_id}", headers=headers).json()
    assert [
        (c["column_name"], c["data_type"], c["default_value"]) for c in detail["template_schema"]
    ] == [
        ("CustomerID", "String", "CUST-0000"),
        ("DataUsageGB", "Float", "0.0"),
    ]

    update = {
        "template_name": "Telecom Customer Usage V2",
        "template_schema": [
            {"column_name": "CustomerID", "data_type": "String"},
            {"column_name": "DataUsageGB", "data_type": "Float"},
            {"column_name": "PlanType", "data_type": "String", "allowed_values": ["basic", "pro"]},
        ],
    }
    updated = client.put(f"/api/v1/template/update/{template_id}", json=update, headers=headers)
    assert updated.status_code == 200
    body = updated.json()
    assert body["template_name"] == "Telecom Customer Usage V2"
    assert [c["default_value"] for c in body["template_schema"]] == [None, None, None]
    assert body["template_schema"][2]["allowed_values"] == ["basic", "pro"]
    assert (
        client.get(f"/api/v1/template/{template_id}", headers=headers).json()["no_of_columns"] == 3
    )

    deleted = client.delete(f"/api/v1/template/{template_id}", headers=headers)
    assert deleted.json() == {"status_code": 200, "message": "Template deleted successfully"}
    assert client.get(f"/api/v1/template/{template_id}", headers=headers).status_code == 404


def test_bad_template_names_the_column_and_keeps_nothing(client: TestClient) -> None:
    headers = admin_headers(client)
    body = {
        "template_name": "Broken",
        "template_schema": [
            {"column_name": "Age", "data_type": "int", "default_value": "forty"},
        ],
    }
    response = client.post("/api/v1/template/", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["field"] == "template_schema[0].default_value"
    assert "column 'Age'" in response.json()["detail"]
    assert client.get("/api/v1/template/list", headers=headers).json()["total"] == 0
    missing_type = {"template_name": "X", "template_schema": [{"column_name": "Age"}]}
    assert client.post("/api/v1/template/", json=missing_type, headers=headers).status_code == 422


def test_duplicate_template_name_is_409(client: TestClient) -> None:
    headers = admin_headers(client)
    first = create(client, headers)
    assert client.post("/api/v1/template/", json=TELECOM, headers=headers).status_code == 409
    other = create(client, headers, {"template_name": "Other", "template_schema": []})
    renamed = client.put(
        f"/api/v1/template/update/{other}",
        json={"template_name": TELECOM["template_name"]},
        headers=headers,
    )
    assert renamed.status_code == 409
    assert client.get(f"/api/v1/template/{first}", headers=headers).status_code == 200


def test_templates_of_another_tenant_are_404(client: TestClient) -> None:
    headers = admin_headers(client)
    _, acme = new_tenant_with_admin(client, headers, "acme")
    _, globex = new_tenant_with_admin(client, headers, "globex")
    template_id = create(client, acme)
    # The same name is free in another tenant.
    create(client, globex)
    assert client.get(f"/api/v1/template/{template_id}", headers=globex).status_code == 404
    assert (
        client.put(
            f"/api/v1/template/update/{template_id}", json=TELECOM, headers=globex
        ).status_code
        == 404
    )
    assert client.delete(f"/api/v1/template/{template_id}", headers=globex).status_code == 404
    assert client.get("/api/v1/template/list", headers=globex).json()["total"] == 1
    assert client.get(f"/api/v1/template/{template_id}", headers=acme).status_code == 200


def test_templates_need_their_permissions(client: TestClient) -> None:
    headers = admin_headers(client)
    create_user(client, headers, me(client, headers)["tenant_id"], "analyst")
    analyst = bearer(login(client, "analyst", "analyst-password")["access_token"])
    assert client.get("/api/v1/template/list", headers=analyst).status_code == 403
    response = client.post("/api/v1/template/", json=TELECOM, headers=analyst)
    assert response.status_code == 403
    assert response.json()["detail"] == "this action needs the 'templates:manage' permission"
