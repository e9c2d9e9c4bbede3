"""Small helpers for driving the API as a client would."""

from __future__ import annotations

import io
from typing import Any

from litestar.testing import TestClient

from tests.conftest import ADMIN_PASSWORD


def login(
    client: TestClient, username: str = "admin", password: str = ADMIN_PASSWORD
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/login/access-token", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(client: TestClient) -> dict[str, str]:
    return bearer(login(client)["access_token"])


def me(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/api/v1/login/test-token", headers=headers).json()
    return body


def create_user(
    client: TestClient, headers: dict[str, str], tenant_id: str, username: str, **extra: Any
) -> dict[str, Any]:
    payload = {
        "tenant_id": tenant_id,
        "email": f"{username}@example.com",
        "username": username,
        "password": f"{username}-password",
        **extra,
    }
    response = client.post("/api/v1/users/create-user", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def new_tenant_with_admin(
    client: TestClient, headers: dict[str, str], name: str
) -> tuple[str, dict[str, str]]:
    """A new tenant and the headers of a user holding that tenant's admin role."""
    tenant = client.post("/api/v1/tenants/", json={"name": name}, headers=headers).json()
    user = create_user(client, headers, tenant["id"], f"{name}-admin")
    roles = client.get(
        "/api/v1/rbac/roles/", params={"tenant_id": tenant["id"]}, headers=headers
    ).json()
    admin_role = next(r for r in roles["data"] if r["name"] == "admin")
    granted = client.post(
        f"/api/v1/users/{user['id']}/roles", json={"role_id": admin_role["id"]}, headers=headers
    )
    assert granted.status_code == 201, granted.text
    token = login(client, user["username"], f"{name}-admin-password")["access_token"]
    return tenant["id"], bearer(token)


def upload(
    client: TestClient,
    headers: dict[str, str],
    files: list[tuple[str, bytes]],
    **params: Any,
) -> Any:
    """POST the files to /api/v1/dataset/upload as multipart `files` (usage `t` unless given)."""
    params.setdefault("usage", "t")
    return client.post(
        "/api/v1/dataset/upload",
        params=params,
        files=[("files", (name, io.BytesIO(data))) for name, data in files],
        headers=headers,
    )
