"""No tenant role reaches the platform administrator's powers or account."""

from __future__ import annotations

from litestar.testing import TestClient

from tests.api.helpers import admin_headers, bearer, create_user, login, me


def second_admin_in_home_tenant(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """A user of the platform admin's own tenant holding that tenant's admin role."""
    tenant_id = me(client, headers)["tenant_id"]
    user = create_user(client, headers, tenant_id, "deputy")
    roles = client.get("/api/v1/rbac/roles/", headers=headers).json()["data"]
    admin_role = next(r for r in roles if r["name"] == "admin")
    client.post(
        f"/api/v1/users/{user['id']}/roles", json={"role_id": admin_role["id"]}, headers=headers
    )
    return bearer(login(client, "deputy", "deputy-password")["access_token"])


def test_platform_permission_names_are_reserved(client: TestClient) -> None:
    headers = admin_headers(client)
    deputy = second_admin_in_home_tenant(client, headers)
    tenant_id = me(client, deputy)["tenant_id"]
    response = client.post(
        "/api/v1/rbac/permissions/",
        json={"name": "tenants:manage", "tenant_id": tenant_id},
        headers=deputy,
    )
    assert response.status_code == 422
    assert "reserved" in response.json()["detail"]
    assert client.get("/api/v1/tenants/", headers=deputy).status_code == 403


def test_tenant_admin_cannot_touch_the_platform_admin(client: TestClient) -> None:
    headers = admin_headers(client)
    deputy = second_admin_in_home_tenant(client, headers)
    platform_admin = me(client, headers)
    reset = client.post(
        "/api/v1/reset-password",
        params={"user_name": "admin", "new_password": "taken-over-1"},
        headers=deputy,
    )
    assert reset.status_code == 403
    roles = client.get(f"/api/v1/users/{platform_admin['id']}/roles", headers=deputy).json()
    admin_role_id = next(
        r["id"]
        for r in client.get("/api/v1/rbac/roles/", headers=deputy).json()["data"]
        if r["name"] == "admin"
    )
    assert roles["roles"] == ["admin"]
    stripped = client.delete(
        f"/api/v1/users/{platform_admin['id']}/roles/{admin_role_id}", headers=deputy
    )
    assert stripped.status_code == 403
    assert client.get("/api/v1/tenants/", headers=headers).status_code == 200


def test_platform_admin_keeps_every_permission_without_roles(client: TestClient) -> None:
    headers = admin_headers(client)
    platform_admin = me(client, headers)
    roles = client.get("/api/v1/rbac/roles/", headers=headers).json()["data"]
    admin_role_id = next(r["id"] for r in roles if r["name"] == "admin")
    response = client.delete(
        f"/api/v1/users/{platform_admin['id']}/roles/{admin_role_id}", headers=headers
    )
    assert response.json()["roles"] == []
    assert client.get("/api/v1/users/read-users/", headers=headers).status_code == 200
    assert client.get("/api/v1/rbac/roles/", headers=headers).status_code == 200
