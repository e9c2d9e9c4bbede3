"""Login throttling and the end of sessions: throttled guesses, and access tokens that stop
working at logout and password reset rather than at expiry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from api.app import create_app
from lakehouse.settings import Settings
from lakehouse.store.models import User
from tests.api.helpers import admin_headers, bearer, create_user, login, me
from tests.conftest import ADMIN_PASSWORD, make_settings

WINDOW = 2


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url=database_url,
        login_failures_allowed=3,
        login_throttle_seconds=WINDOW,
        principal_cache_seconds=0.5,
    )


def attempt(client: TestClient, username: str, password: str) -> int:
    response = client.post(
        "/api/v1/login/access-token", data={"username": username, "password": password}
    )
    return response.status_code


def test_guessing_is_throttled_and_the_right_password_works_after_the_window(
    client: TestClient,
) -> None:
    assert [attempt(client, "admin", f"wrong-{i}") for i in range(3)] == [401, 401, 401]
    refused = client.post(
        "/api/v1/login/access-token", data={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW
    assert refused.json()["detail"] == "too many failed logins; try again later"

    time.sleep(int(refused.headers["Retry-After"]) + 0.2)
    assert attempt(client, "admin", ADMIN_PASSWORD) == 200


def test_a_success_resets_the_count(client: TestClient) -> None:
    statuses = [attempt(client, "admin", "wrong-1"), attempt(client, "admin", "wrong-2")]
    statuses.append(attempt(client, "admin", ADMIN_PASSWORD))
    statuses += [attempt(client, "admin", "wrong-3"), attempt(client, "admin", "wrong-4")]
    assert statuses == [401, 401, 200, 401, 401]
    assert attempt(client, "admin", ADMIN_PASSWORD) == 200


def test_guessing_many_names_from_one_address_is_throttled(client: TestClient) -> None:
    statuses = [attempt(client, f"nobody-{i}", "wrong-password") for i in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_the_throttle_holds_across_api_processes(settings: Settings) -> None:
    """Two apps on one metadata store stand for two API worker processes."""
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        assert attempt(first, "admin", "wrong-1") == 401
        assert attempt(second, "admin", "wrong-2") == 401
        assert attempt(first, "admin", "wrong-3") == 401
        assert attempt(second, "admin", ADMIN_PASSWORD) == 429


def test_an_access_token_dies_with_its_logout(client: TestClient) -> None:
    ended, kept = login(client), login(client)
    assert client.get("/api/v1/validate-token", headers=bearer(ended["access_token"])).is_success
    out = client.post("/api/v1/logout", data={"refresh_token": ended["refresh_token"]})
    assert out.status_code == 200, out.text

    refused = client.get("/api/v1/validate-token", headers=bearer(ended["access_token"]))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "access token's session has ended; log in again"
    # Another login session of the same user goes on.
    assert client.get("/api/v1/validate-token", headers=bearer(kept["access_token"])).is_success


def test_a_logout_in_one_process_ends_the_token_in_another(settings: Settings) -> None:
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        pair = login(first)
        headers = bearer(pair["access_token"])
        assert second.get("/api/v1/validate-token", headers=headers).is_success  # now cached
        assert first.post(
            "/api/v1/logout", json={"refresh_token": pair["refresh_token"]}
        ).is_success
        time.sleep(settings.principal_cache_seconds + 0.1)
        assert second.get("/api/v1/validate-token", headers=headers).status_code == 401


def test_a_password_reset_ends_every_session_of_the_user(client: TestClient) -> None:
    headers = admin_headers(client)
    user = create_user(client, headers, me(client, headers)["tenant_id"], "carol")
    sessions = [login(client, "carol", "carol-password") for _ in range(2)]
    reset = client.post(
        "/api/v1/reset-password",
        json={"user_name": "carol", "new_password": "carol-new-password"},
        headers=headers,
    )
    assert reset.status_code == 200, reset.text
    for pair in sessions:
        answer = client.get("/api/v1/validate-token", headers=bearer(pair["access_token"]))
        assert answer.status_code == 401
        assert (
            client.post(
                "/api/v1/refresh", data={"refresh_token": pair["refresh_token"]}
            ).status_code
            == 401
        )
    assert login(client, "carol", "carol-new-password")["access_token"]
    assert user["username"] == "carol"


def test_deactivation_ends_the_users_access_tokens(client: TestClient) -> None:
    headers = admin_headers(client)
    user = create_user(client, headers, me(client, headers)["tenant_id"], "dave")
    pair = login(client, "dave", "dave-password")
    platform = client.app.state.platform
    with platform.store.session() as session:
        session.get(User, user["id"]).is_active = False
    platform.forget_principals()
    refused = client.get("/api/v1/validate-token", headers=bearer(pair["access_token"]))
    assert refused.status_code == 401


@pytest.mark.parametrize("encoding", ["query", "form", "json"])
def test_refresh_takes_its_token_in_the_query_a_form_or_json(
    client: TestClient, encoding: str
) -> None:
    token = login(client)["refresh_token"]
    carried = {
        "query": {"params": {"refresh_token": token}},
        "form": {"data": {"refresh_token": token}},
        "json": {"json": {"refresh_token": token}},
    }[encoding]
    response = client.post("/api/v1/refresh", **carried)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] != token


def test_a_secret_in_an_unknown_body_type_is_415(client: TestClient) -> None:
    token = login(client)["refresh_token"]
    response = client.post(
        "/api/v1/refresh", content=f"refresh_token={token}", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "text/plain" in response.json()["detail"]


def test_refresh_without_a_token_anywhere_is_422_naming_it(client: TestClient) -> None:
    response = client.post("/api/v1/refresh", json={})
    assert response.status_code == 422
    assert response.json()["field"] == "refresh_token"
