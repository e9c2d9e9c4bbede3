"""Concurrent requests racing on one token or one name: one wins, the rest get a clear 4xx."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from litestar.testing import TestClient

from tests.api.helpers import admin_headers, login, me


def test_concurrent_refreshes_of_one_token_yield_one_new_pair(client: TestClient) -> None:
    token = login(client)["refresh_token"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(
                lambda _: client.post("/api/v1/refresh", params={"refresh_token": token}), range(4)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 401, 401, 401]
    # The losers saw reuse and ended the chain, so the winner's new token is dead as well.
    winner = next(r for r in responses if r.status_code == 200).json()["refresh_token"]
    assert client.post("/api/v1/refresh", params={"refresh_token": winner}).status_code == 401


def test_concurrent_duplicate_users_yield_one_user(client: TestClient) -> None:
    headers = admin_headers(client)
    payload = {
        "tenant_id": me(client, headers)["tenant_id"],
        "email": "twin@example.com",
        "username": "twin",
        "password": "twin-password",
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(
                lambda _: client.post("/api/v1/users/create-user", json=payload, headers=headers),
                range(4),
            )
        )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    users = client.get("/api/v1/users/read-users/", headers=headers).json()["data"]
    assert [u["username"] for u in users].count("twin") == 1


def test_concurrent_duplicate_tenants_yield_one_tenant(client: TestClient) -> None:
    headers = admin_headers(client)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(
                lambda _: client.post("/api/v1/tenants/", json={"name": "acme"}, headers=headers),
                range(4),
            )
        )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    conflicts = [r.json() for r in responses if r.status_code == 409]
    assert all("already exists" in body["detail"] for body in conflicts)


def test_concurrent_uploads_of_one_tenant_answer_without_server_errors(
    client: TestClient,
) -> None:
    """Each upload holds the metadata store's write lock while it waits for its tenant's place
    in the run queue; none may hold that place while it waits for the lock in turn."""
    headers = admin_headers(client)

    def upload(index: int) -> int:
        response = client.post(
            "/api/v1/dataset/upload",
            params={"dataset_name": f"race-{index}", "usage": "t"},
            files={"files": (f"race-{index}.csv", b"a,b\n1,2\n3,4\n", "text/csv")},
            headers=headers,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(upload, range(6)))
    # No run workers here: every upload is refused as unable to start, none fails on the lock.
    assert statuses == [503] * 6
    listed = client.get("/api/v1/dataset/list", headers=headers).json()["data"]
    assert sorted(d["dataset_name"] for d in listed) == sorted(f"race-{i}" for i in range(6))
    assert {d["validation_status"] for d in listed} == {"failed"}
