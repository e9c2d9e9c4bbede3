"""Signing in to the console, through the real app: the cookies it sets, renewal with the
refresh token, signing out, where a sign-in may lead, and forms posted from another site."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.console.session import ACCESS_COOKIE, REFRESH_COOKIE
from tests.conftest import ADMIN_PASSWORD, make_settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path)), timeout=60) as test_client:
        yield test_client


def sign_in(client: TestClient, target: str = "/console/datasets") -> None:
    answer = client.post(
        "/console/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "next": target},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def test_signing_in_sets_strict_http_only_cookies_and_leads_back(client: TestClient) -> None:
    away = client.get("/console/datalake", follow_redirects=False)
    assert away.status_code == 303
    assert away.headers["location"] == "/console/login?next=/console/datalake"
    asked = client.get("/console/models/new?dataset_id=3", follow_redirects=False)
    assert asked.headers["location"] == "/console/login?next=/console/models/new%3Fdataset_id%3D3"
    wrong = client.post("/console/login", data={"username": "admin", "password": "nope"})
    assert wrong.status_code == 401 and 'id="password-error"' in wrong.text
    blank = client.post("/console/login", data={"username": " ", "password": "x"})
    assert blank.status_code == 401 and 'id="username-error"' in blank.text

    answer = client.post(
        "/console/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "next": "/console/datalake"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/console/datalake"
    cookies = answer.headers.get_list("set-cookie")
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        (cookie,) = [c for c in cookies if c.startswith(f"{name}=")]
        attributes = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "path=/console", "samesite=strict"} <= attributes
    page = client.get("/console/datalake")
    assert page.status_code == 200 and "admin" in page.text
    # the console's cookies are not the API's credentials
    assert client.get("/api/v1/dataset/list").status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/api/v1/users"])
def test_a_sign_in_leads_only_to_a_console_page(client: TestClient, target: str) -> None:
    answer = client.post(
        "/console/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "next": target},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/console/datasets"


def test_a_run_out_access_token_is_renewed_by_the_refresh_token(client: TestClient) -> None:
    sign_in(client)
    old_refresh = client.cookies[REFRESH_COOKIE]
    client.cookies.set(ACCESS_COOKIE, "run.out.token", path="/console")
    page = client.get("/console/datasets")
    assert page.status_code == 200
    renewed = {c.split("=")[0] for c in page.headers.get_list("set-cookie")}
    assert renewed == {ACCESS_COOKIE, REFRESH_COOKIE}
    assert client.cookies[REFRESH_COOKIE] != old_refresh
    # whatever answers a renewing request carries the new pair: a redirect, an error page
    for method, path in (("GET", "/console/"), ("GET", "/console/datasets/999")):
        spent = client.cookies[REFRESH_COOKIE]
        client.cookies.set(ACCESS_COOKIE, "run.out.token", path="/console")
        answer = client.request(method, path, follow_redirects=False)
        assert answer.status_code in (303, 404), path
        assert client.cookies[REFRESH_COOKIE] != spent, path
        assert client.get("/console/datasets", follow_redirects=False).status_code == 200
    # the refresh token was rotated: the old one renews nothing
    client.cookies.set(ACCESS_COOKIE, "run.out.token", path="/console")
    client.cookies.set(REFRESH_COOKIE, old_refresh, path="/console")
    assert client.get("/console/datasets", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session(client: TestClient) -> None:
    sign_in(client)
    refresh = client.cookies[REFRESH_COOKIE]
    access = client.cookies[ACCESS_COOKIE]
    out = client.post("/console/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert client.get("/console/datasets", follow_redirects=False).status_code == 303
    client.cookies.set(REFRESH_COOKIE, refresh, path="/console")
    assert client.get("/console/datasets", follow_redirects=False).status_code == 303
    client.cookies.set(ACCESS_COOKIE, access, path="/console")  # its session has ended
    assert client.get("/console/datasets", follow_redirects=False).status_code == 303


def test_a_form_posted_from_another_site_is_refused(client: TestClient) -> None:
    sign_in(client)
    forged = client.post(
        "/console/datalake/sql",
        data={"sql": "SELECT 1"},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403 and "console itself" in forged.text
    missing = client.get("/console/datasets/12345")
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
    unknown = client.get("/console/datasets/not-a-number")
    assert unknown.status_code == 404 and "<h1>Not found</h1>" in unknown.text


def test_out_of_range_ids_and_odd_addresses_are_answered_not_failed(client: TestClient) -> None:
    sign_in(client)
    huge = "9" * 30
    for path in (
        f"/console/datasets/{huge}",
        f"/console/models/{huge}",
        f"/console/models/new?dataset_id={huge}",
        "/console/models/1/plots/..%2F..%2Fsecrets",
        "/console/runs/no%00such",
        "/console/datalake/silver/nothing",
    ):
        answer = client.get(path)
        assert answer.status_code in (400, 404), (path, answer.status_code)
        assert "<html" in answer.text
    for path, form in (
        ("/console/models/new", {"dataset_id": huge}),
        ("/console/models/1/batch", {"dataset_id": "one"}),
    ):
        answer = client.post(path, data=form)
        assert answer.status_code == 400 and "dataset_id" in answer.text, path
    upload = client.post(
        "/console/datasets",
        data={"dataset_name": "x", "usage": "t", "template_id": huge},
        files={"files": ("x.csv", b"a\n1\n")},
    )
    assert upload.status_code == 400 and 'id="template_id-error"' in upload.text
