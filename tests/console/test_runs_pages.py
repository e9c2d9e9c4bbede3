"""The console's run pages in a real browser: the tenant's runs with state and duration, each
linked to the Dagster UI, and a running run's log followed on its page without reloading it."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.conftest import ADMIN_PASSWORD
from tests.console.conftest import Server, screenshot
from tests.console.test_datasets_pages import sign_in, wait_until


def test_a_running_runs_log_grows_on_its_page(server: Server, browser: Any) -> None:
    sign_in(browser, server, "admin", ADMIN_PASSWORD, "/console/runs")
    check = {"rows": 25, "hold_seconds": 6}
    held = server.api("POST", "/api/v1/utils/self-check", params=check)["run_id"]
    browser.get(f"{server.url}/console/runs/{held}")
    assert browser.find_element(By.CSS_SELECTOR, "#run-state .state").text != "success"
    assert browser.find_element(By.TAG_NAME, "h1").text == "platform_selfcheck_job"
    first_lines = len(browser.find_elements(By.CSS_SELECTOR, "#log tbody tr"))
    browser.execute_script("window.notReloaded = true")
    wait_until(
        browser,
        lambda b: b.find_element(By.CSS_SELECTOR, "#run-state .state").text == "success",
        "the run succeed",
        120,
    )
    assert browser.execute_script("return window.notReloaded") is True  # followed, not reloaded
    messages = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#log td.message")]
    assert len(messages) > first_lines
    assert "writing 25 rows to platform.selfcheck" in messages
    logged = server.api("GET", f"/api/v1/runs/{held}/logs", params={"limit": 5000})["events"]
    assert messages == [e["message"] for e in logged]  # every line once, in order
    screenshot(browser, "run")

    browser.get(f"{server.url}/console/runs")
    row = browser.find_element(By.XPATH, f"//a[code[.='{held[:8]}']]/ancestor::tr")
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[1] == "platform_selfcheck_job" and cells[2] == "success"
    seconds = float(cells[5].removesuffix(" s"))
    assert 6 <= seconds < 120  # it held for 6 s
    link = row.find_element(By.LINK_TEXT, "open").get_attribute("href")
    assert link.endswith(f":3000/runs/{held}")
    screenshot(browser, "runs")
