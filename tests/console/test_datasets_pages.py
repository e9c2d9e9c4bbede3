"""The console's dataset pages in a real browser: sign in, upload a file with bad rows and read
its validation report and rejected rows, compute statistics and see a histogram, and find
another tenant's dataset not there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import ADMIN_PASSWORD
from tests.console.conftest import Server, screenshot

TEMPLATE = {
    "template_name": "Customers",
    "template_schema": [
        {"column_name": "customer_id", "data_type": "String"},
        {"column_name": "age", "data_type": "Integer"},
        {"column_name": "monthly_spend", "data_type": "Float"},
        {"column_name": "plan", "data_type": "String"},
    ],
}
# 40 good rows, then three bad ones: an age in words, a spend with a decimal comma, a blank age
# the template lets through as null.
GOOD = [f"C{n:03d},{20 + n % 50},{10 + n * 7 % 90}.5,{('basic', 'pro')[n % 2]}" for n in range(40)]
CSV = "\n".join(
    ["customer_id,age,monthly_spend,plan", *GOOD, "C900,forty,12.5,pro", "C901,33,\"12,5\",basic",
     "C902,,40.0,basic"]
) + "\n"  # fmt: skip


def sign_in(browser: Any, server: Server, username: str, password: str, page: str) -> None:
    browser.get(f"{server.url}{page}")
    wait = WebDriverWait(browser, 30)
    wait.until(shown.presence_of_element_located((By.ID, "username")))
    assert "/console/login" in browser.current_url
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(lambda b: "/console/login" not in b.current_url)


def wait_until(browser: Any, condition: Any, what: str, seconds: float = 120) -> None:
    """Until `condition` holds of the browser (pages that are working refresh themselves); if
    it never does, the page as it was is saved and its text told."""
    try:
        # a page that refreshes itself may go from under an element being read
        WebDriverWait(browser, seconds, ignored_exceptions=(StaleElementReferenceException,)).until(
            condition
        )
    except TimeoutException:
        screenshot(browser, f"failed-waiting-for-{what.replace(' ', '-')}")
        page = browser.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"never saw {what}; the page said:\n{page}") from None


def wait_for_text(browser: Any, element_id: str, text: str, seconds: float = 120) -> None:
    def holds(b: Any) -> bool:
        found = b.find_elements(By.ID, element_id)
        return bool(found) and text in found[0].text

    wait_until(browser, holds, f"{text} in {element_id}", seconds)


def test_a_user_uploads_bad_rows_reads_the_report_and_sees_statistics(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    template = server.api("POST", "/api/v1/template/", json=TEMPLATE)
    wrong = WebDriverWait(browser, 30)
    browser.get(f"{server.url}/console/login")
    browser.find_element(By.ID, "username").send_keys("admin")
    browser.find_element(By.ID, "password").send_keys("not the password")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wrong.until(shown.presence_of_element_located((By.ID, "password-error")))
    assert "incorrect" in browser.find_element(By.ID, "password-error").text
    assert browser.find_element(By.ID, "password").get_attribute("aria-invalid") == "true"

    sign_in(browser, server, "admin", ADMIN_PASSWORD, "/console/datasets")
    assert browser.current_url.endswith("/console/datasets")
    screenshot(browser, "datasets-empty")

    # A refused upload keeps the form, the error beside its field.
    source = tmp_path / "customers.csv"
    source.write_text(CSV)
    browser.find_element(By.ID, "files").send_keys(str(source))
    browser.find_element(By.CSS_SELECTOR, "#upload button[type=submit]").click()
    wait_for_text(browser, "dataset_name-error", "name the dataset", 30)

    browser.find_element(By.ID, "dataset_name").send_keys("customers")
    Select(browser.find_element(By.ID, "template_id")).select_by_visible_text("Customers")
    browser.find_element(By.ID, "files").send_keys(str(source))
    browser.find_element(By.CSS_SELECTOR, "#upload button[type=submit]").click()
    WebDriverWait(browser, 60).until(lambda b: "/console/datasets/" in b.current_url)
    wait_for_text(browser, "state", "valid")
    assert browser.find_element(By.ID, "state").text == "valid"  # 41 of 43 rows: over 80%
    assert browser.find_element(By.ID, "usability").text == "95%"

    report = browser.find_element(By.CSS_SELECTOR, "table.report").text
    assert "age" in report and "forty" in report and "monthly_spend" in report
    assert "12,5" in report
    assert browser.find_element(By.ID, "rejected-count").text == "2"
    rejects = browser.find_element(By.ID, "rejects")
    marked = {cell.text.split("\n")[0]: cell.find_element(By.CLASS_NAME, "rule").text
              for cell in rejects.find_elements(By.CSS_SELECTOR, "td.failed")}  # fmt: skip
    assert set(marked) == {"forty", "12,5"}
    assert all(rule.startswith("expect_column_values_to") for rule in marked.values())
    validated = browser.find_element(By.CSS_SELECTOR, "#preview-heading + .scroll table").text
    assert "C000" in validated and "C900" not in validated
    screenshot(browser, "dataset-report")

    browser.find_element(By.CSS_SELECTOR, "#statistics button[type=submit]").click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "statistics-table"), "statistics")
    stats = browser.find_element(By.ID, "statistics-table").text
    assert "monthly_spend" in stats and "Float64" in stats
    image = browser.find_element(By.CSS_SELECTOR, "img[alt='Histogram of age']")
    browser.execute_script("arguments[0].scrollIntoView()", image)
    loaded = "return arguments[0].complete && arguments[0].naturalWidth"
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(loaded, image))
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 600
    top_plans = browser.find_element(By.XPATH, "//figcaption[starts-with(., 'plan')]/..").text
    assert "basic" in top_plans and "pro" in top_plans
    screenshot(browser, "dataset-statistics")

    # The histogram is a real picture of the column: its PNG over HTTP with the same session.
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    picture = httpx.get(image.get_attribute("src"), cookies=cookies, timeout=60)
    assert picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG")
    assert template["id"] >= 1


def test_another_tenants_dataset_is_not_found(server: Server, browser: Any) -> None:
    csv = b"customer_id,age\nC1,30\nC2,41\n"
    uploaded = server.api(
        "POST",
        "/api/v1/dataset/upload",
        params={"dataset_name": "private", "usage": "t"},
        files={"files": ("private.csv", csv)},
    )
    password = server.other_tenant_user("eve")

    sign_in(browser, server, "eve", password, "/console/datasets")
    assert "private" not in browser.find_element(By.TAG_NAME, "main").text
    browser.get(f"{server.url}/console/datasets/{uploaded['dataset_id']}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    screenshot(browser, "not-found")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    answer = httpx.get(
        f"{server.url}/console/datasets/{uploaded['dataset_id']}", cookies=cookies, timeout=60
    )
    assert answer.status_code == 404
    picture = httpx.get(
        f"{server.url}/console/datasets/{uploaded['dataset_id']}/histogram",
        params={"column": "age"},
        cookies=cookies,
        timeout=60,
    )
    assert picture.status_code == 404
    # nor the run that validated it, nor its table
    listed = server.api("GET", "/api/v1/dataset/list")["data"]
    private = next(d for d in listed if d["dataset_name"] == "private")
    for path in (
        f"/console/runs/{private['last_run_id']}",
        f"/console/runs/{private['last_run_id']}/events",
        "/console/datalake/silver/private",
    ):
        assert httpx.get(f"{server.url}{path}", cookies=cookies, timeout=60).status_code == 404
    runs_page = httpx.get(f"{server.url}/console/runs", cookies=cookies, timeout=60)
    assert runs_page.status_code == 200 and private["last_run_id"][:8] not in runs_page.text
