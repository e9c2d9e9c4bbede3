"""Roles, permissions and grants; the guard they feed; the tenant wall around them."""

from __future__ import annotations

from litestar.testing import TestClient

from lakehouse.accounts.rbac import TENANT_PERMISSIONS
from tests.api.helpers import admin_headers, bearer, create_user, login, me, new_tenant_with_admin


def test_create_role_and_permission_with_reference_shapes(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    role = client.post(
        "/api/v1/rbac/roles/",
        json={"name": "data_scientist", "tenant_id": tenant_id},
        headers=headers,
    )
    assert role.status_code == 201
    assert role.json() == {
        "id": role.json()["id"],
        "tenant_id": tenant_id,
        "name": "data_scientist",
        "permissions": [],
    }
    permission = client.post(
        "/api/v1/rbac/permissions/",
        json={"name": "can_train_models", "tenant_id": tenant_id},
        headers=headers,
    )
    assert permission.status_code == 201
    assert permission.json() == {
        "id": permission.json()["id"],
        "name": "can_train_models",
        "tenant_id": tenant_id,
    }

    roles = client.get("/api/v1/rbac/roles/", headers=headers).json()
    by_name = {r["name"]: r for r in roles["data"]}
    assert roles["count"] == 2
    # The admin role holds every permission, including one created after it.
    assert set(by_name["admin"]["permissions"]) == {*TENANT_PERMISSIONS, "can_train_models"}
    permissions = client.get("/api/v1/rbac/permissions/", headers=headers).json()
    assert {p["name"] for p in permissions["data"]} == {*TENANT_PERMISSIONS, "can_train_models"}


def test_duplicate_role_and_permission_are_409(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    body = {"name": "analyst", "tenant_id": tenant_id}
    assert client.post("/api/v1/rbac/roles/", json=body, headers=headers).status_code == 201
    again = client.post("/api/v1/rbac/roles/", json=body, headers=headers)
    assert again.status_code == 409
    assert again.json()["detail"] == "role 'analyst' already exists in this tenant"
    assert client.post("/api/v1/rbac/permissions/", json=body, headers=headers).status_code == 201
    assert client.post("/api/v1/rbac/permissions/", json=body, headers=headers).status_code == 409


def test_names_are_unique_per_tenant_only(client: TestClient) -> None:
    headers = admin_headers(client)
    acme_id, acme_admin = new_tenant_with_admin(client, headers, "acme")
    globex_id, globex_admin = new_tenant_with_admin(client, headers, "globex")
    for tenant_id, tenant_headers in ((acme_id, acme_admin), (globex_id, globex_admin)):
        response = client.post(
            "/api/v1/rbac/roles/",
            json={"name": "analyst", "tenant_id": tenant_id},
            headers=tenant_headers,
        )
        assert response.status_code == 201
        assert response.json()["tenant_id"] == tenant_id


def test_malformed_rbac_bodies_are_422(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    for payload, field in (
        ({"tenant_id": tenant_id}, "name"),
        ({"name": "x y", "tenant_id": tenant_id}, "name"),
        ({"name": "ok"}, "tenant_id"),
    ):
        response = client.post("/api/v1/rbac/roles/", json=payload, headers=headers)
        assert response.status_code == 422
        assert response.json()["field"] == field


def test_granted_role_opens_the_guard(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    create_user(client, headers, tenant_id, "reader")
    reader = bearer(login(client, "reader", "reader-password")["access_token"])
    assert client.get("/api/v1/users/read-users/", headers=reader).status_code == 403

    role = client.post(
        "/api/v1/rbac/roles/", json={"name": "user_reader", "tenant_id": tenant_id}, headers=headers
    ).json()
    permissions = client.get("/api/v1/rbac/permissions/", headers=headers).json()["data"]
    users_read = next(p for p in permissions if p["name"] == "users:read")
    granted = client.post(
        f"/api/v1/rbac/roles/{role['id']}/permissions",
        json={"permission_id": users_read["id"]},
        headers=headers,
    )
    assert granted.json()["permissions"] == ["users:read"]
    reader_id = me(client, reader)["id"]
    assigned = client.post(
        f"/api/v1/users/{reader_id}/roles", json={"role_id": role["id"]}, headers=headers
    )
    assert assigned.json() == {
        "user_id": reader_id,
        "roles": ["user_reader"],
        "permissions": ["users:read"],
    }

    listed = client.get("/api/v1/users/read-users/", headers=reader)
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    # Still no permission to create users.
    created = client.post(
        "/api/v1/users/create-user",
        json={
            "tenant_id": tenant_id,
            "email": "q@example.com",
            "username": "q",
            "password": "password-1",
        },
        headers=reader,
    )
    assert created.status_code == 403

    revoked = client.delete(f"/api/v1/users/{reader_id}/roles/{role['id']}", headers=headers)
    assert revoked.json()["roles"] == []
    assert client.get("/api/v1/users/read-users/", headers=reader).status_code == 403


def test_admin_role_keeps_every_permission(client: TestClient) -> None:
    headers = admin_headers(client)
    roles = client.get("/api/v1/rbac/roles/", headers=headers).json()["data"]
    admin = next(r for r in roles if r["name"] == "admin")
    permission = client.get("/api/v1/rbac/permissions/", headers=headers).json()["data"][0]
    response = client.delete(
        f"/api/v1/rbac/roles/{admin['id']}/permissions/{permission['id']}", headers=headers
    )
    assert response.status_code == 409


def test_rbac_across_tenants_is_404(client: TestClient) -> None:
    headers = admin_headers(client)
    acme_id, acme_admin = new_tenant_with_admin(client, headers, "acme")
    globex_id, globex_admin = new_tenant_with_admin(client, headers, "globex")
    globex_role = client.post(
        "/api/v1/rbac/roles/",
        json={"name": "secret_role", "tenant_id": globex_id},
        headers=globex_admin,
    ).json()
    globex_user = create_user(client, globex_admin, globex_id, "gus")
    acme_role = client.post(
        "/api/v1/rbac/roles/", json={"name": "acme_role", "tenant_id": acme_id}, headers=acme_admin
    ).json()

    assert (
        client.post(
            "/api/v1/rbac/roles/", json={"name": "x", "tenant_id": globex_id}, headers=acme_admin
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/v1/rbac/permissions/",
            json={"name": "x", "tenant_id": globex_id},
            headers=acme_admin,
        ).status_code
        == 404
    )
    assert (
        client.get(
            "/api/v1/rbac/roles/", params={"tenant_id": globex_id}, headers=acme_admin
        ).status_code
        == 404
    )
    listed = client.get("/api/v1/rbac/roles/", headers=acme_admin).text
    assert "secret_role" not in listed
    # Granting another tenant's role, or to another tenant's user: not found.
    assert (
        client.post(
            f"/api/v1/users/{globex_user['id']}/roles",
            json={"role_id": acme_role["id"]},
            headers=acme_admin,
        ).status_code
        == 404
    )
    acme_user = create_user(client, acme_admin, acme_id, "ann")
    assert (
        client.post(
            f"/api/v1/users/{acme_user['id']}/roles",
            json={"role_id": globex_role["id"]},
            headers=acme_admin,
        ).status_code
        == 404
    )
    # Even the platform administrator cannot mix tenants in one grant.
    mixed = client.post(
        f"/api/v1/users/{acme_user['id']}/roles",
        json={"role_id": globex_role["id"]},
        headers=headers,
    )
    assert mixed.status_code == 404
    assert (
        client.get(f"/api/v1/users/{acme_user['id']}/roles", headers=acme_admin).json()["roles"]
        == []
    )
