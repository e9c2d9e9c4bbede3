"""Tenants: only the platform administrator creates and lists them."""

from __future__ import annotations

from litestar.testing import TestClient

from lakehouse.accounts.rbac import TENANT_PERMISSIONS
from tests.api.helpers import admin_headers, new_tenant_with_admin


def test_platform_admin_creates_and_lists_tenants(client: TestClient) -> None:
    headers = admin_headers(client)
    created = client.post("/api/v1/tenants/", json={"name": "acme"}, headers=headers)
    assert created.status_code == 201
    assert created.json()["name"] == "acme"
    listed = client.get("/api/v1/tenants/", headers=headers).json()
    assert listed["count"] == 2
    assert [t["name"] for t in listed["data"]] == ["default", "acme"]
    # A new tenant starts with the built-in permissions and an admin role holding them.
    roles = client.get(
        "/api/v1/rbac/roles/", params={"tenant_id": created.json()["id"]}, headers=headers
    ).json()
    assert [(r["name"], sorted(r["permissions"])) for r in roles["data"]] == [
        ("admin", sorted(TENANT_PERMISSIONS))
    ]


def test_duplicate_tenant_is_409(client: TestClient) -> None:
    headers = admin_headers(client)
    assert (
        client.post("/api/v1/tenants/", json={"name": "acme"}, headers=headers).status_code == 201
    )
    response = client.post("/api/v1/tenants/", json={"name": "acme"}, headers=headers)
    assert response.status_code == 409
    assert response.json() == {
        "status_code": 409,
        "detail": "tenant 'acme' already exists",
        "field": "name",
    }


def test_tenant_admin_cannot_manage_tenants(client: TestClient) -> None:
    _, acme_admin = new_tenant_with_admin(client, admin_headers(client), "acme")
    assert client.get("/api/v1/tenants/", headers=acme_admin).status_code == 403
    response = client.post("/api/v1/tenants/", json={"name": "evil"}, headers=acme_admin)
    assert response.status_code == 403
    assert response.json()["detail"] == "this action needs the 'tenants:manage' permission"
