"""Login, tokens, refresh rotation, logout and password reset through the real app."""

from __future__ import annotations

from datetime import timedelta

from litestar.testing import TestClient

from lakehouse.accounts.security import TokenSigner
from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, bearer, create_user, login, me


def test_login_returns_bearer_and_refresh_tokens(client: TestClient) -> None:
    tokens = login(client)
    assert tokens["token_type"] == "bearer"
    assert tokens["access_token"].count(".") == 2
    assert len(tokens["refresh_token"]) >= 40
    assert tokens["expires_in"] == 30 * 60


def test_test_token_returns_the_user(client: TestClient) -> None:
    body = me(client, admin_headers(client))
    assert body["username"] == "admin"
    assert body["is_active"] is True
    assert set(body) == {
        "id",
        "tenant_id",
        "first_name",
        "last_name",
        "email",
        "username",
        "is_active",
    }


def test_wrong_password_is_401(client: TestClient) -> None:
    response = client.post(
        "/api/v1/login/access-token", data={"username": "admin", "password": "wrong-password"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "incorrect username or password"
    unknown = client.post(
        "/api/v1/login/access-token", data={"username": "nobody", "password": "wrong-password"}
    )
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == response.json()["detail"]


def test_login_without_password_is_422_naming_it(client: TestClient) -> None:
    response = client.post("/api/v1/login/access-token", data={"username": "admin"})
    assert response.status_code == 422
    assert "password" in response.json()["detail"]


def test_missing_token_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/validate-token")
    assert response.status_code == 401
    assert "bearer token" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_validate_token(client: TestClient) -> None:
    response = client.get("/api/v1/validate-token", headers=admin_headers(client))
    assert response.status_code == 200
    assert response.json() == {"status": "success", "message": "Token is valid."}


def test_expired_token_is_401(client: TestClient, settings: Settings) -> None:
    user_id = me(client, admin_headers(client))["id"]
    tenant_id = me(client, admin_headers(client))["tenant_id"]
    assert settings.secret_key is not None
    expired = TokenSigner(settings.secret_key.get_secret_value(), timedelta(minutes=-1)).issue(
        user_id, tenant_id, "session-1"
    )
    response = client.get("/api/v1/validate-token", headers=bearer(expired))
    assert response.status_code == 401
    assert response.json()["detail"] == "access token has expired"


def test_tampered_token_is_401(client: TestClient) -> None:
    header, payload, signature = login(client)["access_token"].split(".")
    forged_signature = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    for token in (
        f"{header}.{payload}.{forged_signature}",
        f"{header}.{payload[::-1]}.{signature}",
    ):
        response = client.get("/api/v1/validate-token", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["detail"] == "access token is invalid"


def test_token_signed_with_another_secret_is_401(client: TestClient) -> None:
    user = me(client, admin_headers(client))
    foreign = TokenSigner("another-secret-" + "y" * 40, timedelta(minutes=5)).issue(
        user["id"], user["tenant_id"], "session-1"
    )
    response = client.post("/api/v1/login/test-token", headers=bearer(foreign))
    assert response.status_code == 401


def test_refresh_rotates_and_rejects_reuse(client: TestClient) -> None:
    first = login(client)["refresh_token"]
    rotated = client.post("/api/v1/refresh", params={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    assert (
        client.get(
            "/api/v1/validate-token", headers=bearer(rotated.json()["access_token"])
        ).status_code
        == 200
    )

    reused = client.post("/api/v1/refresh", params={"refresh_token": first})
    assert reused.status_code == 401
    assert reused.json()["detail"] == "refresh token has already been used"
    # Reuse of a rotated token ends the whole chain, including the token it was rotated into.
    after_theft = client.post("/api/v1/refresh", params={"refresh_token": second})
    assert after_theft.status_code == 401


def test_logout_then_refresh_is_401(client: TestClient) -> None:
    token = login(client)["refresh_token"]
    response = client.post("/api/v1/logout", params={"refresh_token": token})
    assert response.status_code == 200
    assert response.json() == {"status": 200, "message": "User successfully logged out"}
    refused = client.post("/api/v1/refresh", params={"refresh_token": token})
    assert refused.status_code == 401
    assert client.post("/api/v1/logout", params={"refresh_token": token}).status_code == 401


def test_logout_leaves_other_sessions_alone(client: TestClient) -> None:
    kept, ended = login(client)["refresh_token"], login(client)["refresh_token"]
    assert client.post("/api/v1/logout", params={"refresh_token": ended}).status_code == 200
    assert client.post("/api/v1/refresh", params={"refresh_token": kept}).status_code == 200


def test_unknown_refresh_token_is_401(client: TestClient) -> None:
    response = client.post("/api/v1/refresh", params={"refresh_token": "not-a-token"})
    assert response.status_code == 401
    assert response.json()["field"] == "refresh_token"


def test_refresh_without_token_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/refresh")
    assert response.status_code == 422
    assert response.json()["field"] == "refresh_token"


def test_reset_own_password(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    create_user(client, headers, tenant_id, "alice")
    alice = login(client, "alice", "alice-password")
    response = client.post(
        "/api/v1/reset-password",
        params={"user_name": "alice", "new_password": "alice-new-password"},
        headers=bearer(alice["access_token"]),
    )
    assert response.status_code == 200
    assert response.json() == {"status": 200, "message": "Password has been reset successfully"}
    old = client.post(
        "/api/v1/login/access-token", data={"username": "alice", "password": "alice-password"}
    )
    assert old.status_code == 401
    assert login(client, "alice", "alice-new-password")["token_type"] == "bearer"
    # A reset ends the sessions opened with the old password.
    assert (
        client.post("/api/v1/refresh", params={"refresh_token": alice["refresh_token"]}).status_code
        == 401
    )


def test_reset_password_rules(client: TestClient) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    create_user(client, headers, tenant_id, "bob")
    create_user(client, headers, tenant_id, "carol")
    bob = bearer(login(client, "bob", "bob-password")["access_token"])

    no_token = client.post(
        "/api/v1/reset-password", params={"user_name": "bob", "new_password": "whatever-123"}
    )
    assert no_token.status_code == 401
    other = client.post(
        "/api/v1/reset-password",
        params={"user_name": "carol", "new_password": "whatever-123"},
        headers=bob,
    )
    assert other.status_code == 403
    assert "users:update" in other.json()["detail"]
    by_admin = client.post(
        "/api/v1/reset-password",
        params={"user_name": "carol", "new_password": "by-admin-123"},
        headers=headers,
    )
    assert by_admin.status_code == 200
    assert login(client, "carol", "by-admin-123")["access_token"]
    short = client.post(
        "/api/v1/reset-password", params={"user_name": "bob", "new_password": "short"}, headers=bob
    )
    assert short.status_code == 422
    assert short.json()["field"] == "new_password"
    unknown = client.post(
        "/api/v1/reset-password",
        params={"user_name": "nobody", "new_password": "whatever-123"},
        headers=headers,
    )
    assert unknown.status_code == 404
