"""A real API process serving the console over HTTP, and headless Chromium driven by Selenium.

The browser is Debian's `chromium` with its `chromium-driver`; `.ci/run` installs both and sets
STRATA_TEST_BROWSER, so in CI a missing browser fails the tests instead of skipping them."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, make_settings
from tests.processes import ROOT, free_port

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "console"


@dataclass
class Server:
    url: str
    admin: dict[str, str]
    """The bootstrap admin's bearer header, to prepare what a test needs through the API."""

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method, f"{self.url}{path}", headers=self.admin, timeout=120, **kwargs
        )
        assert response.status_code < 300, response.text
        return response.json()

    def other_tenant_user(self, name: str) -> str:
        """A user named `name` holding the admin role of a new tenant of the same name; its
        password is answered."""
        password = f"{name}-password-1"
        tenant = self.api("POST", "/api/v1/tenants/", json={"name": name})
        user = self.api(
            "POST",
            "/api/v1/users/create-user",
            json={"tenant_id": tenant["id"], "email": f"{name}@example.com", "username": name,
                  "password": password},
        )  # fmt: skip
        roles = self.api("GET", "/api/v1/rbac/roles/", params={"tenant_id": tenant["id"]})
        admin_role = next(r for r in roles["data"] if r["name"] == "admin")
        self.api("POST", f"/api/v1/users/{user['id']}/roles", json={"role_id": admin_role["id"]})
        return password


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The Strata app in uvicorn on a free port of loopback, with one run worker."""
    import uvicorn

    from api.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("console"), workers=1)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, name="console-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not runner.started:
        assert thread.is_alive(), "the API did not start"
        assert time.monotonic() < deadline, "the API did not start in time"
        time.sleep(0.1)
    url = f"http://127.0.0.1:{port}"
    token = httpx.post(
        f"{url}/api/v1/login/access-token",
        data={"username": "admin", "password": ADMIN_PASSWORD},
        timeout=60,
    ).json()["access_token"]
    try:
        yield Server(url, {"Authorization": f"Bearer {token}"})
    finally:
        runner.should_exit = True
        thread.join(60)


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Headless Chromium, its window wide enough for the console's tables."""
    if not (shutil.which(CHROMEDRIVER) and shutil.which(CHROMIUM)):
        if os.environ.get("STRATA_TEST_BROWSER"):
            pytest.fail(f"STRATA_TEST_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing")
        pytest.skip("needs Debian's chromium and chromium-driver (`.ci/run` installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-gpu",
    ):
        options.add_argument(argument)  # fmt: skip
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """The whole page as a PNG under test-artifacts/console/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(int(height), 800), 6000))
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path
