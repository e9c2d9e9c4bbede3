"""Real data as it comes, through the API: missing values, validity at a usability threshold,
whole rows for prediction, dates and periods in their usual spellings, early refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from litestar.testing import TestClient

from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, upload
from tests.conftest import make_settings
from tests.e2e.test_models import FINAL, as_csv, call, trained, valid_dataset
from tests.pipelines.runs import wait_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, workers=1)


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from api.app import create_app

    with TestClient(create_app(settings)) as client:
        yield client, admin_headers(client)


def ingested(
    client: TestClient, headers: dict[str, str], name: str, data: bytes, **params: Any
) -> dict[str, Any]:
    """Upload a CSV, wait for its run, and return the dataset's list entry."""
    response = upload(client, headers, [(f"{name}.csv", data)], dataset_name=name, **params)
    assert response.status_code == 201, response.text
    dataset_id = response.json()["dataset_id"]
    listed = call(client, "GET", "dataset/list", headers)["data"]
    run_id = next(d for d in listed if d["id"] == dataset_id)["last_run_id"]
    assert wait_for(client, headers, run_id, FINAL)["status"] == "SUCCESS"
    listed = call(client, "GET", "dataset/list", headers)["data"]
    entry: dict[str, Any] = next(d for d in listed if d["id"] == dataset_id)
    return entry


def silver_rows(client: TestClient, headers: dict[str, str], dataset_id: int) -> list[Any]:
    rows: list[Any] = call(
        client, "GET", "dataset/view", headers, params={"dataset_id": dataset_id}
    )["preview"]
    return rows


GAPPY = (
    b"id,count,price,active,day,moment,note\n"
    b"1,3,1.5,true,2024-03-01,2024-03-01T10:00:00Z,first\n"
    b"2, ,NA,,2024-03-02,,   \n"
    b"3,NA,2.5,N/A,NULL,2024-03-03 08:30,NA\n"
    b"4,null,NaN,None,  ,nan,none\n"
    b"5,7,nan,false,2024-03-05,2024-03-05T00:00:00+02:00,last\n"
)


def test_blank_and_marked_cells_are_missing_in_every_type(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    # Without a template: the gaps do not make the columns text.
    inferred = ingested(client, headers, "gappy", GAPPY)
    assert (inferred["validation_status"], inferred["dataset_usability"]) == ("valid", "100%")
    columns = call(
        client,
        "POST",
        "train/get_details",
        headers,
        json={
            "dataset_id": inferred["id"],
            "predictor_name": "p",
            "domain": "d",
            "problem_type": "Classification",
        },
    )["dataset_schema"]
    assert {c["column_name"]: c["data_type"] for c in columns} == {
        "id": "Integer",
        "count": "Integer",
        "price": "Float",
        "active": "Boolean",
        "day": "Date",
        "moment": "DateTime",
        "note": "String",
    }
    rows = sorted(silver_rows(client, headers, inferred["id"]), key=lambda r: r["id"])
    assert [r["count"] for r in rows] == [3, None, None, None, 7]
    assert [r["price"] for r in rows] == [1.5, None, 2.5, None, None]
    assert [r["active"] for r in rows] == [True, None, None, None, False]
    assert [r["day"] for r in rows] == ["2024-03-01", "2024-03-02", None, None, "2024-03-05"]
    assert rows[1]["moment"] is None and rows[3]["moment"] is None
    assert rows[4]["moment"].startswith("2024-03-04T22:00:00")
    # Text keeps the markers as text; only a blank note is missing.
    assert [r["note"] for r in rows] == ["first", None, "NA", "none", "last"]

    # Statistics and the datalake count the gaps as nulls.
    job = call(
        client,
        "POST",
        "dataset/generate_statistics",
        headers,
        params={"dataset_id": inferred["id"]},
    )["job_id"]
    assert wait_for(client, headers, job, FINAL)["status"] == "SUCCESS"
    stats = call(
        client, "GET", "dataset/statistics", headers, params={"dataset_id": inferred["id"]}
    )
    nulls = {row["column_name"]: row["nulls"] for row in stats["statistics"]}
    assert nulls == {
        "id": 0,
        "count": 3,
        "price": 3,
        "active": 3,
        "day": 2,
        "moment": 2,
        "note": 1,
    }
    numeric = call(
        client,
        "GET",
        "datalake/numeric_stats",
        headers,
        params={"schema_name": "silver", "table_name": "gappy", "column_name": "count"},
    )
    assert (numeric["min"], numeric["max"]) == (3, 7), numeric

    # With a template: a gap fails only `required`, takes a default, and the template's own
    # markers make text missing too.
    template = {
        "template_name": "gappy",
        "null_markers": ["NA", "-", "none"],
        "template_schema": [
            {"column_name": "id", "data_type": "Integer", "required": True},
            {"column_name": "count", "data_type": "Integer", "default_value": "0"},
            {"column_name": "price", "data_type": "Float"},
            {"column_name": "active", "data_type": "Boolean", "required": True},
            {"column_name": "day", "data_type": "Date"},
            {"column_name": "moment", "data_type": "DateTime"},
            {"column_name": "note", "data_type": "String"},
        ],
    }
    template_id = call(client, "POST", "template/", headers, json=template)["id"]
    stored = call(client, "GET", f"template/{template_id}", headers)
    assert stored["null_markers"] == ["NA", "-", "none"] and stored["min_usability"] is None
    # Its markers replace the usual ones: "NULL", "null", "NaN"... are no longer missing.
    body = GAPPY.replace(b"NULL", b"NA").replace(b"null", b"-").replace(b"NaN", b"NA")
    body = body.replace(b"None", b"-").replace(b"nan", b"NA").replace(b"N/A", b"NA")
    templated = ingested(client, headers, "gappy-templated", body, template_id=template_id)
    # Rows 2, 3 and 4 have no `active`: required fails them alone.
    assert (templated["validation_status"], templated["dataset_usability"]) == ("invalid", "40%")
    assert "below the 80% a valid dataset needs" in templated["validation_error"]
    rows = silver_rows(client, headers, templated["id"])
    assert sorted((r["id"], r["count"], r["note"]) for r in rows) == [
        (1, 3, "first"),
        (5, 7, "last"),
    ]
    files = call(client, "GET", "files/list", headers, params={"dataset_id": templated["id"]})
    report = files["data"][0]["error_report"]
    assert report["failed_rows"] == 3
    [failure] = report["failed_expectations"]
    assert (failure["column"], failure["expectation"], failure["failed_count"]) == (
        "active",
        "expect_column_values_to_not_be_null",
        3,
    )
    assert [s["value"] for s in failure["samples"]] == ["", "NA", "-"]


def classes(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer": [f"C{i:05d}" for i in range(rows)],
            "tenure": rng.integers(0, 72, rows).astype(float),
            "charges": np.round(rng.uniform(20, 120, rows), 2),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "notes": rng.choice(["", "called twice", "moved"], rows),
        }
    )
    frame["churn"] = np.where(frame["tenure"] + rng.normal(0, 8, rows) < 30, "left", "stayed")
    frame.loc[rng.choice(rows, rows // 10, replace=False), "charges"] = np.nan
    return frame


def test_a_few_bad_rows_still_train_and_the_figures_say_so(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    frame = classes(600).astype({"tenure": object})
    bad = list(range(0, 600, 100))  # 1% of the rows hold text in a number column
    frame.loc[bad, "tenure"] = "unknown"
    entry = ingested(client, headers, "churn", as_csv(frame))
    assert (entry["validation_status"], entry["is_valid"], entry["dataset_usability"]) == (
        "valid",
        True,
        "99%",  # 594 of 600: rounded down, never up to 100% while rows failed
    )
    request = {
        "dataset_id": entry["id"],
        "predictor_name": "churn",
        "domain": "Telecom",
        "problem_type": "Classification",
        "algorithm": "XGBoost",
        "columns": [
            {"column_name": "customer", "attribute_name": "Id"},
            {"column_name": "tenure", "attribute_name": "Feature"},
            {"column_name": "charges", "attribute_name": "Feature"},
            {"column_name": "plan", "attribute_name": "Feature"},
            {"column_name": "notes", "attribute_name": "Ignore"},
            {"column_name": "churn", "attribute_name": "Target"},
        ],
    }
    model = trained(client, headers, request)
    assert (model["rows_used"], model["rows_rejected"]) == (594, 6)
    summary = call(client, "GET", "train/model-summary", headers, params={"train_id": model["id"]})
    assert summary["model_summary"]["rows_used"] == 594
    assert summary["model_summary"]["rows_rejected"] == 6

    # A whole row as the dataset holds it predicts: Id, Target and Ignore columns are read and
    # left unused; the gap-feature `charges` may be missing, null or blank.
    row = {
        "customer": "C99999",
        "tenure": 3,
        "charges": 80.5,
        "plan": "pro",
        "notes": "moved",
        "churn": "left",
    }
    full = call(
        client, "POST", "inference/", headers, json={"train_id": model["id"], "features": row}
    )
    assert full["prediction"] in ("left", "stayed")
    assert set(full["probabilities"]) == {"left", "stayed"}
    for gap in ({"charges": None}, {"charges": ""}, {"charges": "  "}, {"charges": "NA"}):
        answer = call(
            client,
            "POST",
            "inference/",
            headers,
            json={"train_id": model["id"], "features": {**row, **gap}},
        )
        assert answer["prediction"] in ("left", "stayed")
    without = {k: v for k, v in row.items() if k != "charges"}
    imputed = call(
        client, "POST", "inference/", headers, json={"train_id": model["id"], "features": without}
    )
    median = frame["charges"].median()
    as_median = call(
        client,
        "POST",
        "inference/",
        headers,
        json={"train_id": model["id"], "features": {**row, "charges": median}},
    )
    assert imputed["probabilities"] == pytest.approx(as_median["probabilities"], abs=0.05)
    form = call(
        client, "GET", "inference/form-based-prediction", headers, params={"id": model["id"]}
    )
    required = {f["column_name"]: f["required"] for f in form["headers"]}
    assert required == {"tenure": True, "charges": False, "plan": True}
    refused = client.post(
        "/api/v1/inference/",
        json={"train_id": model["id"], "features": {**row, "region": "north"}},
        headers=headers,
    )
    assert refused.status_code == 422 and refused.json()["field"] == "features.region"
    missing = client.post(
        "/api/v1/inference/",
        json={"train_id": model["id"], "features": {k: v for k, v in row.items() if k != "plan"}},
        headers=headers,
    )
    assert missing.status_code == 422 and missing.json()["field"] == "features.plan"

    # A batch file without the gap-feature is scored, the gaps imputed.
    batch = frame.drop(columns=["charges", "churn"]).iloc[1:51]  # row 0 holds "unknown"
    batch_id = valid_dataset(client, headers, "churn-batch", as_csv(batch))
    submitted = call(
        client,
        "POST",
        "inference/batchPrediction",
        headers,
        json={"train_id": model["id"], "dataset_id": batch_id},
    )
    assert wait_for(client, headers, submitted["job_id"], FINAL)["status"] == "SUCCESS"
    result = call(
        client,
        "GET",
        "inference/result",
        headers,
        params={"prediction_id": submitted["prediction_id"]},
    )
    assert (result["status"], result["no_of_records"]) == ("completed", 50)


def test_a_dataset_below_the_threshold_is_refused_with_its_figures(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    frame = classes(40).astype({"tenure": object})
    frame.loc[::2, "tenure"] = "n/a?"  # half the rows
    template = {
        "template_name": "strict numbers",
        "template_schema": [
            {"column_name": "customer", "data_type": "String"},
            {"column_name": "tenure", "data_type": "Float"},
            {"column_name": "charges", "data_type": "Float"},
            {"column_name": "plan", "data_type": "String"},
            {"column_name": "notes", "data_type": "String"},
            {"column_name": "churn", "data_type": "String"},
        ],
    }
    template_id = call(client, "POST", "template/", headers, json=template)["id"]
    entry = ingested(client, headers, "half", as_csv(frame), template_id=template_id)
    assert (entry["validation_status"], entry["dataset_usability"]) == ("invalid", "50%")
    refused = client.post(
        "/api/v1/train/",
        json={
            "dataset_id": entry["id"],
            "predictor_name": "half",
            "domain": "Telecom",
            "problem_type": "Classification",
            "columns": [
                {"column_name": "tenure", "attribute_name": "Feature"},
                {"column_name": "churn", "attribute_name": "Target"},
            ],
        },
        headers=headers,
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "usability 50%" in detail and "20 of 40 rows" in detail and "80%" in detail, detail
    assert call(client, "GET", "train/list", headers)["data"] == []

    # A template may ask for less: the same rows are valid at min_usability 0.5.
    lenient = call(
        client,
        "POST",
        "template/",
        headers,
        json={**template, "template_name": "lenient", "min_usability": 0.5},
    )["id"]
    entry = ingested(client, headers, "half-lenient", as_csv(frame), template_id=lenient)
    assert (entry["validation_status"], entry["dataset_usability"]) == ("valid", "50%")


def periods(spelling: str, count: int) -> list[str]:
    start = pd.Timestamp("2010-01-01")
    if spelling == "quarter":
        return [f"{m.year} Q{m.quarter}" for m in pd.date_range(start, periods=count, freq="QS")]
    if spelling == "month name":
        return [m.strftime("%b %Y") for m in pd.date_range(start, periods=count, freq="MS")]
    return [m.strftime("%d/%m/%Y") for m in pd.date_range(start, periods=count, freq="D")]


@pytest.mark.parametrize(
    ("spelling", "frequency", "step_days", "contradiction"),
    [("quarter", "Quarter", (89, 92), "Day"), ("month name", "Month", (28, 31), "Year")],
)
def test_periods_ingest_typed_and_forecast_after_the_last_one(
    api: tuple[TestClient, dict[str, str]],
    spelling: str,
    frequency: str,
    step_days: tuple[int, int],
    contradiction: str,
) -> None:
    client, headers = api
    count = 48
    values = 100 + np.arange(count) * 2.0 + np.sin(np.arange(count)) * 3
    frame = pd.DataFrame({"period": periods(spelling, count), "visitors": values})
    entry = ingested(client, headers, "tourism", as_csv(frame))
    assert entry["validation_status"] == "valid"
    rows = silver_rows(client, headers, entry["id"])
    assert sorted(r["period"] for r in rows)[:2] == (
        ["2010-01-01", "2010-04-01"] if spelling == "quarter" else ["2010-01-01", "2010-02-01"]
    )
    model = trained(
        client,
        headers,
        {
            "dataset_id": entry["id"],
            "predictor_name": "visitors",
            "domain": "Tourism",
            "problem_type": "Forecast",
            "algorithm": "Linear",
            "columns": [
                {"column_name": "period", "attribute_name": "Timestamp"},
                {"column_name": "visitors", "attribute_name": "Target"},
            ],
        },
    )
    last = pd.Timestamp("2010-01-01") + pd.tseries.frequencies.to_offset(
        "QS" if spelling == "quarter" else "MS"
    ) * (count - 1)
    for asked in (None, frequency):
        body = {"train_id": model["id"], "steps": 3, **({"frequency": asked} if asked else {})}
        points = call(client, "POST", "inference/forecast", headers, json=body)["forecast"]
        dates = pd.to_datetime([p["date"] for p in points])
        assert dates[0] > last and all(d.day == 1 for d in dates), points
        low, high = step_days
        assert all(low <= step.days <= high for step in dates[1:] - dates[:-1]), points
        assert low <= (dates[0] - last).days <= high
    # From the dataset's own rows, read as training read them, the forecast is the same.
    from_rows = call(
        client,
        "POST",
        "inference/forecast",
        headers,
        json={"train_id": model["id"], "steps": 3, "dataset_id": entry["id"]},
    )["forecast"]
    assert from_rows == points
    refused = client.post(
        "/api/v1/inference/forecast",
        json={"train_id": model["id"], "steps": 3, "frequency": contradiction},
        headers=headers,
    )
    assert refused.status_code == 422 and refused.json()["field"] == "frequency"
    assert contradiction in refused.json()["detail"] and frequency in refused.json()["detail"]


def test_day_first_dates_are_told_from_their_values_and_ambiguity_is_named(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    frame = pd.DataFrame({"day": periods("day-first", 40), "sales": np.arange(40.0)})
    entry = ingested(client, headers, "daily", as_csv(frame))
    assert entry["validation_status"] == "valid"
    days = sorted(r["day"] for r in silver_rows(client, headers, entry["id"]))
    # 02/01/2010 is the 2nd of January: 13/01/2010 and its like say the column is day-first.
    assert days[:2] == ["2010-01-01", "2010-01-02"] and "2010-01-13" in days

    ambiguous = pd.DataFrame(
        {"day": ["01/02/2024", "03/04/2024", "05/06/2024"], "sales": [1, 2, 3]}
    )
    entry = ingested(client, headers, "ambiguous", as_csv(ambiguous))
    assert entry["validation_status"] == "invalid"
    assert "column 'day'" in entry["validation_error"] and "day-first" in entry["validation_error"]


def test_a_timestamp_that_does_not_parse_is_refused_before_anything_is_recorded(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    frame = pd.DataFrame(
        {
            "when": ["soon", "later", "2024 Q1", "2024 Q2", "next year", "then"] * 4,
            "value": np.arange(24.0),
        }
    )
    entry = ingested(client, headers, "vague", as_csv(frame))
    request = {
        "dataset_id": entry["id"],
        "predictor_name": "vague",
        "domain": "Tourism",
        "problem_type": "Forecast",
        "columns": [
            {"column_name": "when", "attribute_name": "Timestamp"},
            {"column_name": "value", "attribute_name": "Target"},
        ],
    }
    refused = client.post("/api/v1/train/", json=request, headers=headers)
    assert refused.status_code == 422, refused.text
    assert "'when'" in refused.json()["detail"] and "'soon'" in refused.json()["detail"]
    short = pd.DataFrame({"when": ["2024 Q1", "2024 Q2", "2024 Q3"], "value": [1.0, 2.0, 3.0]})
    short_entry = ingested(client, headers, "short", as_csv(short))
    refused = client.post(
        "/api/v1/train/", json={**request, "dataset_id": short_entry["id"]}, headers=headers
    )
    assert refused.status_code == 422 and "at least 5" in refused.json()["detail"], refused.text
    assert call(client, "GET", "train/list", headers)["data"] == []


def test_a_text_timestamp_forecasts_from_its_dataset_rows_in_time_order(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    template = {
        "template_name": "text periods",
        "template_schema": [
            {"column_name": "period", "data_type": "String"},
            {"column_name": "visitors", "data_type": "Float"},
        ],
    }
    template_id = call(client, "POST", "template/", headers, json=template)["id"]
    # Month names sort alphabetically (Apr before Jan): only reading them orders them in time.
    frame = pd.DataFrame(
        {"period": periods("month name", 36), "visitors": 100 + np.arange(36) * 3.0}
    ).sample(frac=1, random_state=0)
    entry = ingested(client, headers, "months", as_csv(frame), template_id=template_id)
    model = trained(
        client,
        headers,
        {
            "dataset_id": entry["id"],
            "predictor_name": "months",
            "domain": "Tourism",
            "problem_type": "Forecast",
            "algorithm": "Linear",
            "columns": [
                {"column_name": "period", "attribute_name": "Timestamp"},
                {"column_name": "visitors", "attribute_name": "Target"},
            ],
        },
    )
    body = {"train_id": model["id"], "steps": 2}
    trained_on = call(client, "POST", "inference/forecast", headers, json=body)["forecast"]
    from_rows = call(
        client, "POST", "inference/forecast", headers, json={**body, "dataset_id": entry["id"]}
    )["forecast"]
    assert [p["date"] for p in from_rows] == ["2013-01-01", "2013-02-01"]
    assert from_rows == trained_on
    assert from_rows[0]["value"] == pytest.approx(100 + 36 * 3.0, abs=6)
