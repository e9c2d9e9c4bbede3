"""The console's model pages in a real browser: train a model from the form, read its metrics,
plots and SHAP importance, and make a prediction through the form built from its inputs."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pandas as pd
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.conftest import ADMIN_PASSWORD
from tests.console.conftest import Server, screenshot
from tests.console.test_datalake_pages import validated
from tests.console.test_datasets_pages import sign_in, wait_until


def iris_csv() -> bytes:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame: pd.DataFrame = iris.frame.rename(
        columns=lambda c: c.replace(" (cm)", "").replace(" ", "_")
    )
    frame["species"] = [str(iris.target_names[t]) for t in frame.pop("target")]
    frame.insert(0, "flower_id", [f"F{n:03d}" for n in range(len(frame))])
    return frame.to_csv(index=False).encode()


def browser_cookies(browser: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in browser.get_cookies()}


def settled(browser: Any) -> bool:
    """The model's page shows SHAP importance and no longer refreshes itself."""
    refreshing = browser.find_elements(By.CSS_SELECTOR, "meta[http-equiv='refresh']")
    return bool(browser.find_elements(By.ID, "importance")) and not refreshing


def loaded(browser: Any, image: Any) -> int:
    """The image's width once the browser has it (0 if it could not be shown)."""
    browser.execute_script("arguments[0].scrollIntoView()", image)
    done = "return arguments[0].complete"
    wait_until(browser, lambda b: b.execute_script(done, image), "an image", 60)
    return int(browser.execute_script("return arguments[0].naturalWidth", image))


def test_a_user_trains_a_model_and_predicts_through_the_form(server: Server, browser: Any) -> None:
    validated(server, "iris", iris_csv())
    sign_in(browser, server, "admin", ADMIN_PASSWORD, "/console/models")
    assert "No models yet" in browser.find_element(By.TAG_NAME, "main").text
    Select(browser.find_element(By.ID, "dataset_id")).select_by_visible_text("iris")
    browser.find_element(
        By.CSS_SELECTOR, "#dataset_id ~ button, form[action='/console/models/new'] button"
    ).click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "train"), "the training form")

    browser.find_element(By.CSS_SELECTOR, "#train button[type=submit]").click()  # no name
    wait_until(browser, lambda b: b.find_elements(By.ID, "predictor_name-error"), "the error")
    browser.find_element(By.ID, "predictor_name").send_keys("iris species")
    Select(browser.find_element(By.ID, "problem_type")).select_by_value("Classification")
    Select(browser.find_element(By.ID, "target")).select_by_value("species")
    Select(browser.find_element(By.ID, "algorithm")).select_by_value("Linear")
    browser.find_element(By.NAME, "shap_enabled").click()
    flower_role = browser.find_element(By.XPATH, "//label[.='flower_id']/../..//select")
    Select(flower_role).select_by_value("Id")
    browser.find_element(By.CSS_SELECTOR, "#train button[type=submit]").click()
    wait_until(
        browser,
        lambda b: "/console/models/" in b.current_url and "new" not in b.current_url,
        "the model page",
        30,
    )
    wait_until(browser, settled, "SHAP importance", 240)

    metrics = {
        row.find_element(By.TAG_NAME, "th").text: float(row.find_element(By.TAG_NAME, "td").text)
        for row in browser.find_elements(By.CSS_SELECTOR, "#metrics tbody tr")
    }
    assert 0.8 <= metrics["accuracy"] <= 1
    model_id = int(browser.current_url.rstrip("/").split("/")[-1].split("?")[0])
    summary = server.api("GET", "/api/v1/train/model-summary", params={"train_id": model_id})
    assert metrics["accuracy"] == round(summary["model_summary"]["accuracy"], 4)
    titles = [f.text for f in browser.find_elements(By.CSS_SELECTOR, ".charts figcaption")]
    assert "Confusion matrix" in titles and "Learning curve" in titles
    for image in browser.find_elements(By.CSS_SELECTOR, ".charts img"):
        assert loaded(browser, image) > 100, image.get_attribute("alt")
    screenshot(browser, "model")

    row = {"sepal_length": "6.7", "sepal_width": "3.0", "petal_length": "5.2", "petal_width": "2.3"}
    for name, value in row.items():
        browser.find_element(By.NAME, name).send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "#predict button[type=submit]").click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "prediction"), "the prediction")
    prediction = browser.find_element(By.ID, "prediction").text
    probabilities = {
        r.find_element(By.TAG_NAME, "th").text: float(r.find_element(By.TAG_NAME, "td").text)
        for r in browser.find_elements(By.CSS_SELECTOR, "#probabilities tbody tr")
    }
    assert set(probabilities) == {"setosa", "versicolor", "virginica"}
    assert abs(sum(probabilities.values()) - 1) < 0.01
    assert prediction == max(probabilities, key=probabilities.__getitem__) == "virginica"
    answer = server.api(
        "POST",
        "/api/v1/inference/",
        json={"train_id": model_id, "features": {k: float(v) for k, v in row.items()}},
    )
    assert answer["prediction"] == prediction
    screenshot(browser, "model-prediction")

    Select(browser.find_element(By.ID, "batch-dataset")).select_by_visible_text("iris")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/batch'] button").click()
    wait_until(browser, lambda b: b.find_elements(By.LINK_TEXT, "CSV"), "the batch's CSV", 180)
    csv_url = browser.find_element(By.LINK_TEXT, "CSV").get_attribute("href")
    download = httpx.get(csv_url, cookies=browser_cookies(browser), timeout=60)
    assert download.status_code == 200, download.text
    assert download.headers["content-disposition"].startswith("attachment")
    scored = pd.read_csv(io.BytesIO(download.content))
    assert len(scored) == 150 and set(scored["prediction"]) <= set(probabilities)

    browser.find_element(By.NAME, "sepal_length").clear()
    browser.find_element(By.NAME, "sepal_length").send_keys("long")
    browser.find_element(By.CSS_SELECTOR, "#predict button[type=submit]").click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "sepal_length-error"), "the field's error")

    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    model_url = f"{server.url}/console/models/{model_id}"
    picture = httpx.get(f"{model_url}/importance", cookies=cookies, timeout=60)
    assert picture.headers["content-type"] == "image/png"
    unlisted = httpx.get(f"{model_url}/plots/model.skops", cookies=cookies, timeout=60)
    assert unlisted.status_code == 404 and "no plot" in unlisted.text  # only the listed plots

    # Another tenant's user finds none of it.
    other = other_tenant_cookies(server, "models-other")
    for path in ("", "/importance", "/plots/confusion_matrix.png", "/forecast?steps=2"):
        answer = httpx.get(f"{model_url}{path}", cookies=other, timeout=60)
        assert answer.status_code == 404, path
    forged = httpx.post(
        f"{model_url}/predict", data=row, cookies=other, headers={"Origin": server.url}, timeout=60
    )
    assert forged.status_code == 404


def other_tenant_cookies(server: Server, name: str) -> dict[str, str]:
    """The console cookies of the admin of a new tenant of its own."""
    password = server.other_tenant_user(name)
    signed = httpx.post(
        f"{server.url}/console/login",
        data={"username": name, "password": password},
        headers={"Origin": server.url},
        timeout=60,
    )
    assert signed.status_code == 303, signed.text
    return dict(signed.cookies)


def test_a_forecast_is_drawn_with_its_interval(server: Server, browser: Any) -> None:
    import numpy as np

    days = pd.date_range("2026-01-01", periods=90, freq="D")
    rows = [
        (day.strftime("%Y-%m-%d"), store, round(100 + 10 * (store == "B") + 5 * np.sin(n / 3), 3))
        for n, day in enumerate(days)
        for store in ("A", "B")
    ]
    data = "day,store,sales\n" + "".join(f"{d},{s},{v}\n" for d, s, v in rows)
    validated(server, "store sales", data.encode())
    found = server.api("GET", "/api/v1/dataset/list")["data"]
    dataset_id = next(d["id"] for d in found if d["dataset_name"] == "store sales")
    created = server.api(
        "POST",
        "/api/v1/train/",
        json={
            "dataset_id": dataset_id,
            "predictor_name": "sales ahead",
            "domain": "Retail",
            "problem_type": "Forecast",
            "columns": [
                {"column_name": "day", "attribute_name": "Timestamp"},
                {"column_name": "store", "attribute_name": "Series"},
                {"column_name": "sales", "attribute_name": "Target"},
            ],
        },
    )
    sign_in(browser, server, "admin", ADMIN_PASSWORD, f"/console/models/{created['id']}")
    wait_until(browser, lambda b: b.find_elements(By.ID, "forecast-form"), "the forecast form", 180)
    assert not browser.find_elements(By.ID, "predict")  # a forecast reads no row of features
    Select(browser.find_element(By.ID, "series")).select_by_value("B")
    steps = browser.find_element(By.ID, "steps")
    steps.clear()
    steps.send_keys("7")
    browser.find_element(By.CSS_SELECTOR, "#forecast-form button[type=submit]").click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "forecast"), "the forecast")
    table = [
        [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "#forecast tbody tr")
    ]
    answer = server.api(
        "POST",
        "/api/v1/inference/forecast",
        json={"train_id": created["id"], "unique_id": "B", "steps": 7},
    )["forecast"]
    assert [row[0] for row in table] == [p["date"] for p in answer]
    assert table[0][0] == "2026-04-01"  # the day after the last one known
    for row, point in zip(table, answer, strict=True):
        shown = [float(cell) for cell in row[1:]]
        expected = [point["value"], point["lower"], point["upper"]]
        assert all(abs(a - b) <= 0.01 * abs(b) for a, b in zip(shown, expected, strict=True))
    assert loaded(browser, browser.find_element(By.ID, "forecast-chart")) == 800
    screenshot(browser, "model-forecast")

    browser.get(f"{server.url}/console/models/{created['id']}?series=Z&steps=3")
    assert "unknown series" in browser.find_element(By.ID, "series-error").text
