"""What the real-time path reads of a predictor, on a real metadata store and Iceberg catalog:
its serving state per tenant, the version it serves, and a forecast's latest series values."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from lakehouse.accounts import users
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError
from lakehouse.lake.catalog import open_catalog, replace_table
from lakehouse.lake.naming import tenant_namespace
from lakehouse.ml.spec import Algorithm, ForecastSetup, ProblemType, TrainedModel
from lakehouse.predictors.serving_state import (
    ServingState,
    series_history,
    servable,
    serving_state,
)
from lakehouse.states import ValidationState, WorkState
from lakehouse.store import Dataset, MetadataStore, Predictor
from tests.conftest import make_settings

COLUMNS = [
    {"column_name": "customer", "attribute_name": "Id"},
    {"column_name": "region", "attribute_name": "Feature"},
    {"column_name": "churned", "attribute_name": "Target"},
    {"column_name": "visits", "attribute_name": "Feature"},
]


@dataclass
class Lake:
    """A migrated metadata store, an Iceberg catalog and the ids of two tenants."""

    store: MetadataStore
    catalog: SqlCatalog
    home: str
    other: str


@pytest.fixture
def lake(tmp_path: Path, database_url: str) -> Iterator[Lake]:
    store = MetadataStore(database_url)
    store.migrate()
    with store.session() as session:
        home = users.create_tenant(session, "home").id
        other = users.create_tenant(session, "other").id
    yield Lake(store, open_catalog(make_settings(tmp_path, database_url=database_url)), home, other)
    store.dispose()


def add_predictor(lake: Lake, tenant_id: str, name: str = "churn_model", **state: Any) -> int:
    """A predictor record as its runs leave it, no training run needed."""
    with lake.store.session() as session:
        predictor = Predictor(
            tenant_id=tenant_id,
            predictor_name=name,
            table_name=name,
            domain="retail",
            problem_type="Classification",
            columns=COLUMNS,
            algorithm="auto",
            created_by="ann",
            **state,
        )
        session.add(predictor)
        session.flush()
        return predictor.id


def state_of(lake: Lake, tenant_id: str, predictor_id: int) -> ServingState:
    with lake.store.session(writes=False) as session:
        return serving_state(session, tenant_id, predictor_id)


# serving_state


def test_serving_state_reads_what_the_real_time_path_needs(lake: Lake) -> None:
    predictor_id = add_predictor(
        lake, lake.home, training_status=WorkState.COMPLETED, model_version=3, accuracy=0.91
    )
    state = state_of(lake, lake.home, predictor_id)
    assert state == ServingState(
        id=predictor_id,
        tenant_id=lake.home,
        table_name="churn_model",
        training_status=WorkState.COMPLETED,
        model_version=3,
        accuracy=0.91,
        columns=COLUMNS,
    )
    assert state.model_name == f"{tenant_namespace(lake.home)}.churn_model"
    assert state.target == "churned"


def test_serving_state_of_a_predictor_never_trained_has_no_version(lake: Lake) -> None:
    predictor_id = add_predictor(lake, lake.home)
    state = state_of(lake, lake.home, predictor_id)
    assert (state.training_status, state.model_version, state.accuracy) == (
        WorkState.SUBMITTED,
        None,
        None,
    )


def test_serving_state_finds_only_the_tenants_predictors(lake: Lake) -> None:
    home_id = add_predictor(lake, lake.home, model_version=1)
    other_id = add_predictor(lake, lake.other, model_version=2)  # same name, other tenant
    assert state_of(lake, lake.other, other_id).model_version == 2
    assert state_of(lake, lake.other, other_id).model_name.startswith(tenant_namespace(lake.other))
    for tenant_id, wanted in ((lake.other, home_id), (lake.home, other_id + 1000)):
        with pytest.raises(NotFoundError) as raised:
            state_of(lake, tenant_id, wanted)
        assert raised.value.field == "train_id"
        assert raised.value.message == f"training {wanted} not found"


# servable


def state(status: str, version: int | None) -> ServingState:
    return ServingState(7, "t", "churn_model", status, version, None, COLUMNS)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (WorkState.SUBMITTED, "predictor 7 is still training (submitted)"),
        (WorkState.RUNNING, "predictor 7 is still training (running)"),
        (WorkState.FAILED, "predictor 7 has no trained model (failed)"),
        (WorkState.COMPLETED, "predictor 7 has no trained model (completed)"),
    ],
)
def test_servable_refuses_a_predictor_without_a_version(status: str, message: str) -> None:
    with pytest.raises(ConflictError) as raised:
        servable(state(status, None))
    assert raised.value.field == "train_id"
    assert raised.value.message == message


@pytest.mark.parametrize(
    "status", [WorkState.SUBMITTED, WorkState.RUNNING, WorkState.COMPLETED, WorkState.FAILED]
)
def test_servable_answers_the_current_version_while_the_next_trains_or_fails(
    status: str,
) -> None:
    assert servable(state(status, 4)) == 4


def test_servable_reads_a_stored_predictor_and_its_serving_state_alike(lake: Lake) -> None:
    training = add_predictor(lake, lake.home, "first", training_status=WorkState.RUNNING)
    retraining = add_predictor(
        lake, lake.home, "second", training_status=WorkState.RUNNING, model_version=2
    )
    with lake.store.session(writes=False) as session:
        for read in (session.get(Predictor, training), serving_state(session, lake.home, training)):
            assert read is not None
            with pytest.raises(ConflictError, match=f"predictor {training} is still training"):
                servable(read)
        stored = session.get(Predictor, retraining)
        assert stored is not None
        assert servable(stored) == servable(serving_state(session, lake.home, retraining)) == 2


# series_history


def forecast_model(series: str | None = "store", lags: int = 3) -> TrainedModel:
    setup = ForecastSetup("sales", "day", series, lags, sigma=1.0, frequency="D", history={})
    return TrainedModel(
        pipeline=Pipeline([("model", LinearRegression())]),
        algorithm=Algorithm.LINEAR,
        problem_type=ProblemType.FORECAST,
        features=[],
        classes=None,
        metrics={},
        forecast=setup,
    )


def day(n: int) -> date:
    return date(2024, 3, 1) + timedelta(days=n)


def add_dataset(
    lake: Lake, rows: pa.Table | None, status: str = ValidationState.VALID, **figures: Any
) -> int:
    with lake.store.session() as session:
        dataset = Dataset(
            tenant_id=lake.home,
            dataset_name="sales",
            usage="tp",
            iceberg_table_name="sales",
            data_source="csv",
            created_by="ann",
            validation_status=status,
            **figures,
        )
        session.add(dataset)
        session.flush()
        if rows is not None:
            replace_table(lake.catalog, dataset.tables.silver, rows)
        return dataset.id


def history(
    lake: Lake, dataset_id: int, model: TrainedModel, unique_id: str | None
) -> list[tuple[str, float]]:
    with lake.store.session(writes=False) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        return series_history(lake.catalog, dataset, model, unique_id)


SALES = pa.table(
    {
        # Out of order, with a gap in "b" and a row of "b" without a value.
        "store": ["b", "a", "b", "b", "a", "b", "b", "a", "b"],
        "day": [day(4), day(0), day(1), day(0), day(1), day(3), day(2), day(2), day(5)],
        "sales": [14.0, 1.0, 11.0, 10.0, 2.0, 13.0, 12.0, 3.0, None],
        "_file_id": pa.array([1] * 9, pa.int64()),
    }
)


def test_series_history_gives_the_latest_values_of_one_series_oldest_first(lake: Lake) -> None:
    dataset_id = add_dataset(lake, SALES)
    assert history(lake, dataset_id, forecast_model(), "b") == [
        ("2024-03-03T00:00:00", 12.0),
        ("2024-03-04T00:00:00", 13.0),
        ("2024-03-05T00:00:00", 14.0),
    ]
    assert history(lake, dataset_id, forecast_model(lags=12), "a") == [
        ("2024-03-01T00:00:00", 1.0),
        ("2024-03-02T00:00:00", 2.0),
        ("2024-03-03T00:00:00", 3.0),
    ]
    assert history(lake, dataset_id, forecast_model(), "c") == []


def test_series_history_without_a_series_reads_every_row(lake: Lake) -> None:
    dataset_id = add_dataset(lake, SALES)
    assert history(lake, dataset_id, forecast_model(series=None, lags=2), None) == [
        ("2024-03-04T00:00:00", 13.0),
        ("2024-03-05T00:00:00", 14.0),
    ]


def test_series_history_reads_times_as_text_and_series_ids_as_numbers(lake: Lake) -> None:
    rows = pa.table(
        {
            "store": pa.array([7, 7, 8, 7], pa.int64()),
            "day": ["2024-03-02", "2024-03-01T12:30:00", "2024-03-05", "2024-03-03"],
            "sales": [2.0, 1.0, 99.0, 3.0],
        }
    )
    dataset_id = add_dataset(lake, rows)
    assert history(lake, dataset_id, forecast_model(), "7") == [
        ("2024-03-01T12:30:00", 1.0),
        ("2024-03-02T00:00:00", 2.0),
        ("2024-03-03T00:00:00", 3.0),
    ]


def test_series_history_refuses_a_model_that_does_not_forecast(lake: Lake) -> None:
    dataset_id = add_dataset(lake, SALES)
    model = forecast_model()
    model.forecast = None
    with pytest.raises(InvalidInputError) as raised:
        history(lake, dataset_id, model, "a")
    assert raised.value.field == "train_id"
    assert raised.value.message == "this predictor does not forecast"


def test_series_history_refuses_a_dataset_lacking_a_column_the_model_reads(lake: Lake) -> None:
    dataset_id = add_dataset(lake, SALES.drop_columns(["store"]))
    with pytest.raises(InvalidInputError) as raised:
        history(lake, dataset_id, forecast_model(), "a")
    assert raised.value.field == "dataset_id"
    assert raised.value.message == f"dataset {dataset_id} lacks the column 'store' the model reads"


def test_series_history_refuses_values_that_are_not_numbers(lake: Lake) -> None:
    rows = pa.table({"day": [day(0), day(1)], "sales": ["10", "many"]})
    dataset_id = add_dataset(lake, rows)
    with pytest.raises(InvalidInputError) as raised:
        history(lake, dataset_id, forecast_model(series=None), None)
    assert raised.value.field == "dataset_id"
    assert raised.value.message == (
        f"dataset {dataset_id} does not hold dates in 'day' and numbers in 'sales' as the "
        "model was trained on"
    )


def test_series_history_refuses_a_dataset_that_is_not_valid(lake: Lake) -> None:
    invalid = add_dataset(
        lake,
        SALES,
        ValidationState.INVALID,
        validation_error="column 'sales' is missing",
        passed_rows=9,
        total_rows=9,
        usability_threshold=0.5,
    )
    with pytest.raises(InvalidInputError) as raised:
        history(lake, invalid, forecast_model(), "a")
    assert raised.value.field == "dataset_id"
    assert raised.value.message == (
        f"dataset {invalid} is not valid: column 'sales' is missing; its usability is 100%, "
        "and a valid dataset needs 50%"
    )
