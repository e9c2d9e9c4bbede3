"""Users: creation, listing, reading, and the tenant wall around them."""

from __future__ import annotations

from litestar.testing import TestClient

from tests.api.helpers import admin_headers, bearer, create_user, login, me, new_tenant_with_admin


def test_create_and_read_user(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    created = create_user(client, headers, tenant_id, "jane", first_name="Jane", last_name="Doe")
    assert created == {
        "id": created["id"],
        "tenant_id": tenant_id,
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@example.com",
        "username": "jane",
        "is_active": True,
    }
    assert client.get(f"/api/v1/users/{created['id']}", headers=headers).json() == created
    listed = client.get("/api/v1/users/read-users/", headers=headers).json()
    assert listed["count"] == 2
    assert [u["username"] for u in listed["data"]] == ["admin", "jane"]
    assert "password" not in str(listed)


def test_duplicate_username_or_email_is_409(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    create_user(client, headers, tenant_id, "dup")
    again = client.post(
        "/api/v1/users/create-user",
        json={
            "tenant_id": tenant_id,
            "email": "other@example.com",
            "username": "dup",
            "password": "password-1",
        },
        headers=headers,
    )
    assert again.status_code == 409
    assert again.json()["field"] == "username"
    same_email = client.post(
        "/api/v1/users/create-user",
        json={
            "tenant_id": tenant_id,
            "email": "dup@example.com",
            "username": "dup2",
            "password": "password-1",
        },
        headers=headers,
    )
    assert same_email.status_code == 409
    assert same_email.json()["field"] == "email"


def test_malformed_user_bodies_are_422(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    cases = {
        "email": {
            "tenant_id": tenant_id,
            "email": "not-an-email",
            "username": "x1",
            "password": "password-1",
        },
        "password": {
            "tenant_id": tenant_id,
            "email": "x2@example.com",
            "username": "x2",
            "password": "short",
        },
        "username": {"tenant_id": tenant_id, "email": "x3@example.com", "password": "password-1"},
    }
    for field, payload in cases.items():
        response = client.post("/api/v1/users/create-user", json=payload, headers=headers)
        assert response.status_code == 422, (field, response.text)
        assert field in response.json()["detail"]
    not_json = client.post(
        "/api/v1/users/create-user",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 422
    assert client.get("/api/v1/users/read-users/", headers=headers).json()["count"] == 1


def test_user_without_permission_gets_403(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    create_user(client, headers, tenant_id, "plain")
    plain = bearer(login(client, "plain", "plain-password")["access_token"])
    response = client.get("/api/v1/users/read-users/", headers=plain)
    assert response.status_code == 403
    assert response.json()["detail"] == "this action needs the 'users:read' permission"
    created = client.post(
        "/api/v1/users/create-user",
        json={
            "tenant_id": tenant_id,
            "email": "z@example.com",
            "username": "z",
            "password": "password-1",
        },
        headers=plain,
    )
    assert created.status_code == 403
    # Reading yourself needs no permission.
    own_id = me(client, plain)["id"]
    assert client.get(f"/api/v1/users/{own_id}", headers=plain).json()["username"] == "plain"
    admin_id = me(client, headers)["id"]
    assert client.get(f"/api/v1/users/{admin_id}", headers=plain).status_code == 403


def test_tenant_admin_cannot_reach_another_tenant(client: TestClient) -> None:
    platform_admin = admin_headers(client)
    home_tenant = me(client, platform_admin)["tenant_id"]
    acme_id, acme_admin = new_tenant_with_admin(client, platform_admin, "acme")
    globex_id, globex_admin = new_tenant_with_admin(client, platform_admin, "globex")
    globex_user = create_user(client, globex_admin, globex_id, "gina")

    # Reading a user of another tenant: not found, never data.
    response = client.get(f"/api/v1/users/{globex_user['id']}", headers=acme_admin)
    assert response.status_code == 404
    assert "gina" not in response.text
    # Creating a user in another tenant: the tenant does not exist for a tenant admin.
    response = client.post(
        "/api/v1/users/create-user",
        json={
            "tenant_id": globex_id,
            "email": "m@example.com",
            "username": "mallory",
            "password": "password-1",
        },
        headers=acme_admin,
    )
    assert response.status_code == 404
    assert response.json()["field"] == "tenant_id"
    # Listing shows only the caller's tenant, whatever tenant is asked for.
    listed = client.get("/api/v1/users/read-users/", headers=acme_admin).json()
    assert [u["username"] for u in listed["data"]] == ["acme-admin"]
    assert (
        client.get(
            "/api/v1/users/read-users/", params={"tenant_id": home_tenant}, headers=acme_admin
        ).status_code
        == 404
    )
    # The platform administrator may act in any tenant.
    made = create_user(client, platform_admin, acme_id, "acme-user")
    assert made["tenant_id"] == acme_id
    assert (
        client.get(f"/api/v1/users/{globex_user['id']}", headers=platform_admin).status_code == 200
    )


def test_unknown_user_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/users/999999", headers=admin_headers(client))
    assert response.status_code == 404
    assert response.json()["detail"] == "user 999999 not found"
