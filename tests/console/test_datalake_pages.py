"""The console's datalake pages in a real browser: schemas and tables, a table's metadata and
column statistics checked against the data, and the SQL box answering as a table and as CSV,
or saying beside it why a query is refused."""

from __future__ import annotations

import csv
import io
import statistics
import time
from typing import Any

import httpx
from selenium.webdriver.common.by import By

from tests.conftest import ADMIN_PASSWORD
from tests.console.conftest import Server, screenshot
from tests.console.test_datasets_pages import sign_in, wait_until

ROWS = [(f"S{n:02d}", ("north", "south", "east")[n % 3], 100 + n * 3.5) for n in range(30)]


def validated(server: Server, name: str, data: bytes) -> None:
    """A dataset of `data` (CSV) uploaded through the API, once it is validated."""
    uploaded = server.api(
        "POST",
        "/api/v1/dataset/upload",
        params={"dataset_name": name, "usage": "tp"},
        files={"files": (f"{name}.csv", data)},
    )
    deadline = time.monotonic() + 120
    while True:
        found = server.api("GET", "/api/v1/dataset/list")["data"]
        state = next(d for d in found if d["id"] == uploaded["dataset_id"])["validation_status"]
        if state == "valid":
            return
        assert state in ("pending", "running") and time.monotonic() < deadline, state
        time.sleep(0.5)


def test_an_analyst_browses_a_table_and_queries_it(server: Server, browser: Any) -> None:
    body = "region_id,region,amount\n" + "".join(f"{i},{r},{a}\n" for i, r, a in ROWS)
    validated(server, "sales", body.encode())
    sign_in(browser, server, "admin", ADMIN_PASSWORD, "/console/datalake")
    layers = browser.find_element(By.CLASS_NAME, "layers").text
    assert "silver.sales" in layers
    browser.find_element(By.LINK_TEXT, "silver.sales").click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "columns"), "the columns")
    assert browser.find_element(By.ID, "row-count").text == "30"
    cells = {
        row.find_element(By.TAG_NAME, "th").text: [
            td.text for td in row.find_elements(By.TAG_NAME, "td")
        ]
        for row in browser.find_elements(By.CSS_SELECTOR, "#columns tbody tr")
    }
    assert cells["region"][:2] == ["varchar", "3"]
    amounts = [a for _, _, a in ROWS]
    kind, distinct, count, mean, std, low, median, high = cells["amount"]
    assert (kind, distinct, count) == ("double", "30", "30")
    assert float(mean) == round(statistics.mean(amounts), 4)
    assert abs(float(std) - statistics.stdev(amounts)) < 1e-3
    assert (float(low), float(median), float(high)) == (100.0, statistics.median(amounts), 201.5)
    screenshot(browser, "datalake-table")

    box = browser.find_element(By.ID, "sql")
    box.clear()
    box.send_keys(
        "SELECT region, count(*) AS sales, sum(amount) AS total FROM silver.sales "
        "GROUP BY region ORDER BY region"
    )
    browser.find_element(By.CSS_SELECTOR, "#sql-form button[type=submit]").click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "result"), "the result")
    header = [th.text.split()[0] for th in browser.find_elements(By.CSS_SELECTOR, "#result th")]
    assert header == ["region", "sales", "total"]
    rows = [
        [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "#result tbody tr")
    ]
    expected = {
        region: sum(a for _, r, a in ROWS if r == region) for region in ("east", "north", "south")
    }
    assert [(r, int(n), float(t)) for r, n, t in rows] == [
        (region, 10, total) for region, total in sorted(expected.items())
    ]
    screenshot(browser, "datalake-query")

    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    answer = httpx.post(
        f"{server.url}/console/datalake/sql.csv",
        data={"sql": "SELECT region_id, amount FROM silver.sales ORDER BY region_id"},
        cookies=cookies,
        headers={"Origin": server.url},
        timeout=60,
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    parsed = list(csv.reader(io.StringIO(answer.text)))
    assert parsed[0] == ["region_id", "amount"]
    assert [(i, float(a)) for i, a in parsed[1:]] == [(i, a) for i, _, a in ROWS]

    box = browser.find_element(By.ID, "sql")
    box.clear()
    box.send_keys("DROP TABLE silver.sales")
    browser.find_element(By.CSS_SELECTOR, "#sql-form button[type=submit]").click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "sql-error"), "the query refused")
    assert browser.find_element(By.ID, "sql").get_attribute("aria-invalid") == "true"
    assert "SELECT" in browser.find_element(By.ID, "sql-error").text
    forged = httpx.post(
        f"{server.url}/console/datalake/sql",
        data={"sql": "SELECT 1"},
        cookies=cookies,
        headers={"Origin": "http://evil.example"},
        timeout=60,
    )
    assert forged.status_code == 403
