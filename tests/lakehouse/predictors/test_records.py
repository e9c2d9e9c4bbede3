"""Predictor records on a real metadata store and Iceberg catalog: column roles parsed, specs
checked before any run, predictors created and read per tenant, and dropped with their tables."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy import select

from lakehouse.accounts import users
from lakehouse.accounts.rbac import Principal
from lakehouse.data.landing import LandingStore
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError
from lakehouse.lake.catalog import load_table_or_none, open_catalog, replace_table
from lakehouse.ml.spec import Algorithm, Attribute, ColumnRole, ProblemType, TrainingSpec
from lakehouse.predictors import records
from lakehouse.states import ValidationState, WorkState
from lakehouse.store import Dataset, MetadataStore, Prediction, Predictor
from tests.conftest import make_settings

ROWS = 20


@dataclass
class Lake:
    """A migrated metadata store, an Iceberg catalog, a landing store and two tenants."""

    store: MetadataStore
    catalog: SqlCatalog
    landing: LandingStore
    home: Principal
    other: Principal


def principal(tenant_id: str, username: str) -> Principal:
    return Principal(
        user_id=0,
        tenant_id=tenant_id,
        username=username,
        is_platform_admin=False,
        permissions=frozenset({"models:read", "models:train"}),
    )


@pytest.fixture
def lake(tmp_path: Path, database_url: str) -> Iterator[Lake]:
    settings = make_settings(tmp_path, database_url=database_url)
    store = MetadataStore(database_url)
    store.migrate()
    with store.session() as session:
        home = users.create_tenant(session, "home")
        other = users.create_tenant(session, "other")
    yield Lake(
        store,
        open_catalog(settings),
        LandingStore(settings.landing_dir),
        principal(home.id, "ann"),
        principal(other.id, "olaf"),
    )
    store.dispose()


def customers(rows: int = ROWS) -> pa.Table:
    """Validated rows as silver holds them, bookkeeping columns included."""
    return pa.table(
        {
            "customer": [f"c{i:02d}" for i in range(rows)],
            "region": ["north", "south", "east", "west"] * (rows // 4),
            "visits": pa.array(range(rows), pa.int64()),
            "spend": [10.0 + 2.5 * i for i in range(rows)],
            "churned": ["yes" if i % 3 == 0 else "no" for i in range(rows)],
            "joined": [date(2024, 1, 1) + timedelta(days=i) for i in range(rows)],
            "seen": pa.array(
                [datetime(2025, 1, 1, 8) + timedelta(hours=i) for i in range(rows)],
                pa.timestamp("us"),
            ),
            "member": [i % 2 == 0 for i in range(rows)],
            "plan": ["basic"] * rows,
            "blank": pa.array([None] * rows, pa.float64()),
            "_file_id": pa.array([1] * rows, pa.int64()),
            "_row_number": pa.array(range(1, rows + 1), pa.int64()),
        }
    )


def daily(values: dict[str, int]) -> pa.Table:
    """A forecast's rows: `values[store]` days of sales per store."""
    stores, days, sales = [], [], []
    for store, count in values.items():
        for i in range(count):
            stores.append(store)
            days.append(date(2024, 3, 1) + timedelta(days=i))
            sales.append(100.0 + 7 * i + len(store))
    return pa.table({"store": stores, "day": days, "sales": sales})


def add_dataset(
    lake: Lake,
    actor: Principal,
    name: str,
    rows: pa.Table | None,
    status: str = ValidationState.VALID,
    **figures: Any,
) -> int:
    """A dataset record and, given `rows`, its silver table."""
    with lake.store.session() as session:
        dataset = Dataset(
            tenant_id=actor.tenant_id,
            dataset_name=name,
            usage="t",
            iceberg_table_name=name,
            data_source="csv",
            created_by=actor.username,
            validation_status=status,
            **figures,
        )
        session.add(dataset)
        session.flush()
        if rows is not None:
            replace_table(lake.catalog, dataset.tables.silver, rows)
        return dataset.id


def silver(lake: Lake, dataset_id: int) -> Any:
    with lake.store.session(writes=False) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        return records.validated_table(lake.catalog, dataset)


def role(name: str, attribute: str) -> dict[str, Any]:
    return {"column_name": name, "attribute_name": attribute}


CHURN_COLUMNS = [
    role("customer", "Id"),
    role("region", "feature"),
    role("churned", "TARGET"),
    role("visits", " Feature "),
    role("plan", "Ignore"),
]


def churn_request(
    dataset_id: int, name: str = "Churn Model", **changes: Any
) -> records.NewPredictor:
    values: dict[str, Any] = {
        "dataset_id": dataset_id,
        "predictor_name": name,
        "domain": "retail",
        "problem_type": "classification",
        "columns": CHURN_COLUMNS,
    }
    values.update(changes)
    return records.NewPredictor(**values)


def create(lake: Lake, actor: Principal, new: records.NewPredictor) -> int:
    with lake.store.session() as session:
        return records.create_predictor(session, actor, lake.catalog, new).id


def set_state(lake: Lake, predictor_id: int, **values: Any) -> None:
    records.record_state(lake.store, predictor_id, **values)


def stored(lake: Lake, predictor_id: int) -> Predictor:
    with lake.store.session(writes=False) as session:
        predictor = session.get(Predictor, predictor_id)
        assert predictor is not None
        return predictor


# parse_roles


def test_parse_roles_reads_attributes_in_any_case_in_the_order_sent() -> None:
    known = ["customer", "region", "churned", "visits", "plan"]
    assert records.parse_roles(CHURN_COLUMNS, known) == [
        ColumnRole("customer", Attribute.ID),
        ColumnRole("region", Attribute.FEATURE),
        ColumnRole("churned", Attribute.TARGET),
        ColumnRole("visits", Attribute.FEATURE),
        ColumnRole("plan", Attribute.IGNORE),
    ]


@pytest.mark.parametrize(
    ("columns", "field", "message"),
    [
        (
            [role("region", "Feature"), role("_file_id", "Feature")],
            "columns[1].column_name",
            "column '_file_id' is not in the dataset's validated table",
        ),
        (
            [role("Region", "Feature")],
            "columns[0].column_name",
            "column 'Region' is not in the dataset's validated table",
        ),
        (
            [{"attribute_name": "Feature"}],
            "columns[0].column_name",
            "column '' is not in the dataset's validated table",
        ),
        (
            [role("region", "Feature"), role("churned", "Target"), role("region", "Ignore")],
            "columns[2].column_name",
            "column 'region' is given twice",
        ),
        (
            [role("region", "Feature"), role("churned", "Label")],
            "columns[1].attribute_name",
            "unknown attribute 'Label' for column 'churned'; "
            "expected one of Id, Target, Feature, Timestamp, Series, Ignore",
        ),
        (
            [{"column_name": "churned"}],
            "columns[0].attribute_name",
            "unknown attribute 'None' for column 'churned'",
        ),
    ],
    ids=["bookkeeping", "case", "unnamed", "twice", "unknown-role", "no-role"],
)
def test_parse_roles_refuses_a_column_naming_its_place(
    columns: list[dict[str, Any]], field: str, message: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        records.parse_roles(columns, ["region", "churned", "visits"])
    assert raised.value.field == field
    assert raised.value.message.startswith(message)


@pytest.mark.parametrize(
    ("columns", "count"),
    [
        ([role("region", "Feature"), role("churned", "Target"), role("spend", "Target")], 2),
        ([role("region", "Feature"), role("churned", "Feature")], 0),
    ],
    ids=["two-targets", "no-target"],
)
def test_a_target_count_other_than_one_is_refused_by_the_spec(
    lake: Lake, columns: list[dict[str, Any]], count: int
) -> None:
    roles = records.parse_roles(columns, ["region", "churned", "spend"])
    assert len(roles) == len(columns)  # parse_roles checks columns, the spec checks roles
    spec = TrainingSpec(ProblemType.CLASSIFICATION, roles)
    table = silver(lake, add_dataset(lake, lake.home, "customers", customers()))
    with pytest.raises(InvalidInputError) as raised:
        records.check_spec(spec, table)
    assert raised.value.field == "columns"
    assert raised.value.message == (
        f"exactly one column must have the attribute Target, not {count}"
    )


# check_spec


def spec_of(problem: ProblemType, target: str, *features: str) -> TrainingSpec:
    roles = [ColumnRole(f, Attribute.FEATURE) for f in features]
    return TrainingSpec(problem, [*roles, ColumnRole(target, Attribute.TARGET)])


@pytest.mark.parametrize(
    "spec",
    [
        spec_of(ProblemType.CLASSIFICATION, "churned", "region", "visits"),
        spec_of(ProblemType.CLASSIFICATION, "member", "region"),
        spec_of(ProblemType.REGRESSION, "spend", "region", "visits"),
        spec_of(ProblemType.REGRESSION, "visits", "region"),
    ],
    ids=["text-classes", "boolean-classes", "float-regression", "integer-regression"],
)
def test_check_spec_accepts_a_learnable_target(lake: Lake, spec: TrainingSpec) -> None:
    table = silver(lake, add_dataset(lake, lake.home, "customers", customers()))
    records.check_spec(spec, table)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            spec_of(ProblemType.CLASSIFICATION, "plan", "region"),
            "target column 'plan' has fewer than two distinct values",
        ),
        (
            spec_of(ProblemType.REGRESSION, "churned", "region"),
            "target column 'churned' must be numeric for Regression",
        ),
        (
            spec_of(ProblemType.REGRESSION, "member", "region"),
            "target column 'member' must be numeric for Regression",
        ),
        (
            spec_of(ProblemType.REGRESSION, "blank", "region"),
            "target column 'blank' has no values",
        ),
        (
            spec_of(ProblemType.CLASSIFICATION, "churned"),
            "at least one column must be a Feature",
        ),
    ],
    ids=["one-class", "text-regression", "boolean-regression", "no-values", "no-feature"],
)
def test_check_spec_refuses_a_target_training_would_refuse(
    lake: Lake, spec: TrainingSpec, message: str
) -> None:
    table = silver(lake, add_dataset(lake, lake.home, "customers", customers()))
    with pytest.raises(InvalidInputError) as raised:
        records.check_spec(spec, table)
    assert raised.value.field == "columns"
    assert raised.value.message == message


def test_check_spec_refuses_a_classification_too_small_to_split(lake: Lake) -> None:
    table = silver(lake, add_dataset(lake, lake.home, "customers", customers(rows=4)))
    spec = spec_of(ProblemType.CLASSIFICATION, "churned", "region")
    with pytest.raises(InvalidInputError, match="4 rows are too few to split") as refused:
        records.check_spec(spec, table)
    assert refused.value.field == "dataset_id"
    records.check_spec(spec, table, incremental=True)  # added to the rows already learnt


def forecast_spec(series: bool = False) -> TrainingSpec:
    roles = [ColumnRole("day", Attribute.TIMESTAMP), ColumnRole("sales", Attribute.TARGET)]
    if series:
        roles.append(ColumnRole("store", Attribute.SERIES))
    return TrainingSpec(ProblemType.FORECAST, roles)


def test_check_spec_accepts_a_forecast_of_seven_rows(lake: Lake) -> None:
    table = silver(lake, add_dataset(lake, lake.home, "sales", daily({"a": 7})))
    records.check_spec(forecast_spec(), table)


@pytest.mark.parametrize(
    ("counts", "series", "message"),
    [
        (
            {"a": 6},
            False,
            "the series leave 5 rows to learn from after their first 1 values; "
            "a forecast needs at least 6",
        ),
        (
            {"a": 4},
            False,
            "the series has 4 rows with a value and a time; a forecast needs at least 5 per series",
        ),
        (
            {"a": 30, "b": 4},
            True,
            "series 'b' of column 'store' has 4 rows with a value and a time",
        ),
    ],
    ids=["too-few-to-split", "too-short", "one-series-too-short"],
)
def test_check_spec_refuses_a_forecast_with_too_few_rows(
    lake: Lake, counts: dict[str, int], series: bool, message: str
) -> None:
    table = silver(lake, add_dataset(lake, lake.home, "sales", daily(counts)))
    with pytest.raises(InvalidInputError) as raised:
        records.check_spec(forecast_spec(series), table)
    assert raised.value.field == "columns"
    assert raised.value.message.startswith(message)


def test_an_incremental_forecast_is_not_counted_but_its_columns_are(lake: Lake) -> None:
    table = silver(lake, add_dataset(lake, lake.home, "sales", daily({"a": 3})))
    records.check_spec(forecast_spec(), table, incremental=True)
    no_time = TrainingSpec(ProblemType.FORECAST, [ColumnRole("sales", Attribute.TARGET)])
    with pytest.raises(InvalidInputError) as raised:
        records.check_spec(no_time, table, incremental=True)
    assert raised.value.field == "columns"
    assert raised.value.message == "exactly one column must have the attribute Timestamp, not 0"


# validated_table


@pytest.mark.parametrize(
    ("figures", "problem"),
    [
        (
            {
                "validation_error": "column 'amount' is missing",
                "passed_rows": 3,
                "total_rows": 4,
                "usability_threshold": 0.8,
            },
            "column 'amount' is missing; its usability is 75%, and a valid dataset needs 80%",
        ),
        (
            {"dataset_usability": 0.29},
            "it did not pass validation; its usability is 29%, and a valid dataset needs the "
            "platform's threshold",
        ),
        (
            {
                "validation_error": "its usability 50% (2 of 4 rows passed) is below the 80% a "
                "valid dataset needs",
                "passed_rows": 2,
                "total_rows": 4,
                "usability_threshold": 0.8,
            },
            "its usability 50% (2 of 4 rows passed) is below the 80% a valid dataset needs",
        ),
    ],
    ids=["column-problem", "no-reason", "usability-named-once"],
)
def test_validated_table_refuses_an_invalid_dataset_with_its_usability(
    lake: Lake, figures: dict[str, Any], problem: str
) -> None:
    dataset_id = add_dataset(
        lake, lake.home, "customers", customers(), ValidationState.INVALID, **figures
    )
    with pytest.raises(InvalidInputError) as raised:
        silver(lake, dataset_id)
    assert raised.value.field == "dataset_id"
    assert raised.value.message == f"dataset {dataset_id} is not valid: {problem}"


@pytest.mark.parametrize(
    "status", [ValidationState.PENDING, ValidationState.RUNNING, ValidationState.FAILED]
)
def test_validated_table_refuses_a_dataset_without_a_verdict(lake: Lake, status: str) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers(), status)
    with pytest.raises(InvalidInputError) as raised:
        silver(lake, dataset_id)
    assert raised.value.field == "dataset_id"
    assert raised.value.message == (
        f"dataset {dataset_id} is not validated ({status}); "
        "train on a dataset that passed validation"
    )


def test_validated_table_refuses_a_valid_dataset_whose_table_is_gone(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", None)
    with pytest.raises(InvalidInputError) as raised:
        silver(lake, dataset_id)
    assert raised.value.field == "dataset_id"
    assert raised.value.message == f"dataset {dataset_id} has no validated table"


def test_a_valid_dataset_gives_its_rows_and_a_schema_without_bookkeeping(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    rows = silver(lake, dataset_id).scan().to_arrow()
    assert rows.num_rows == ROWS
    assert rows["spend"].to_pylist() == [10.0 + 2.5 * i for i in range(ROWS)]
    with lake.store.session(writes=False) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        schema = records.dataset_schema(lake.catalog, dataset)
    assert [(c.column_name, c.data_type) for c in schema] == [
        ("customer", "String"),
        ("region", "String"),
        ("visits", "Integer"),
        ("spend", "Float"),
        ("churned", "String"),
        ("joined", "Date"),
        ("seen", "DateTime"),
        ("member", "Boolean"),
        ("plan", "String"),
        ("blank", "Float"),
    ]


# create_predictor, get_predictor, list_predictors


def test_create_predictor_stores_the_request_with_its_columns_as_named(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    predictor_id = create(lake, lake.home, churn_request(dataset_id))
    predictor = stored(lake, predictor_id)
    assert predictor.tenant_id == lake.home.tenant_id
    assert (predictor.predictor_name, predictor.table_name) == ("Churn Model", "churn_model")
    assert (predictor.domain, predictor.dataset_id) == ("retail", dataset_id)
    assert (predictor.problem_type, predictor.algorithm) == ("Classification", "auto")
    assert predictor.columns == [
        role("customer", "Id"),
        role("region", "Feature"),
        role("churned", "Target"),
        role("visits", "Feature"),
        role("plan", "Ignore"),
    ]
    assert predictor.hyperparameters is None
    assert predictor.training_status == WorkState.SUBMITTED
    assert predictor.model_version is None
    assert (predictor.created_by, predictor.is_incremental) == ("ann", False)
    spec = records.training_spec(predictor)
    assert (spec.target, spec.features) == ("churned", ["region", "visits"])
    assert spec.algorithm is Algorithm.AUTO


def test_create_predictor_keeps_checked_mlp_hyperparameters(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    new = churn_request(dataset_id, algorithm="mlp", hyperparameters={"epochs": 5})
    predictor = stored(lake, create(lake, lake.home, new))
    assert predictor.algorithm == "MLP"
    assert predictor.hyperparameters is not None and predictor.hyperparameters["epochs"] == 5


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"problem_type": "ranking"}, "problem_type", "unknown problem type 'ranking'"),
        ({"algorithm": "svm"}, "algorithm", "unknown algorithm 'svm'"),
        (
            {"algorithm": "XGBoost", "hyperparameters": {"epochs": 5}},
            "epochs",
            "unknown hyperparameter 'epochs' for XGBoost; it takes n_estimators, learning_rate",
        ),
        (
            {"algorithm": "RandomForest", "hyperparameters": {"n_estimators": 5}},
            "n_estimators",
            "n_estimators must be a whole number from 10 to 2000, not 5",
        ),
        ({"predictor_name": "!!!"}, "predictor_name", "'!!!' gives no usable table name"),
        (
            {"columns": [*CHURN_COLUMNS, role("_row_number", "Feature")]},
            "columns[5].column_name",
            "column '_row_number' is not in the dataset's validated table",
        ),
        (
            {"problem_type": "regression"},
            "columns",
            "target column 'churned' must be numeric for Regression",
        ),
    ],
    ids=["problem", "algorithm", "hyperparameter", "out-of-bounds", "name", "column", "target"],
)
def test_create_predictor_refuses_a_bad_request_and_stores_nothing(
    lake: Lake, changes: dict[str, Any], field: str, message: str
) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    with pytest.raises(InvalidInputError) as raised:
        create(lake, lake.home, churn_request(dataset_id, **changes))
    assert raised.value.field == field
    assert raised.value.message.startswith(message)
    with lake.store.session(writes=False) as session:
        assert session.scalars(select(Predictor)).all() == []


def test_create_predictor_refuses_a_forecast_with_shap(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "sales", daily({"a": 10}))
    columns = [role("day", "Timestamp"), role("sales", "Target")]
    new = churn_request(
        dataset_id, "Sales", problem_type="forecast", columns=columns, shap_enabled=True
    )
    with pytest.raises(InvalidInputError) as raised:
        create(lake, lake.home, new)
    assert raised.value.field == "shap_enabled"
    assert "not forecasts" in raised.value.message


def test_create_predictor_cannot_use_another_tenants_dataset(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.other, "customers", customers())
    with pytest.raises(NotFoundError) as raised:
        create(lake, lake.home, churn_request(dataset_id))
    assert raised.value.field == "dataset_id"
    assert raised.value.message == f"dataset {dataset_id} not found"


def test_get_predictor_finds_only_the_callers_tenants(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    predictor_id = create(lake, lake.home, churn_request(dataset_id))
    with lake.store.session(writes=False) as session:
        assert records.get_predictor(session, lake.home, predictor_id).id == predictor_id
        for actor, wanted in ((lake.other, predictor_id), (lake.home, predictor_id + 1000)):
            with pytest.raises(NotFoundError) as raised:
                records.get_predictor(session, actor, wanted)
            assert raised.value.field == "train_id"
            assert raised.value.message == f"training {wanted} not found"


def test_list_predictors_lists_the_callers_tenants_in_creation_order(lake: Lake) -> None:
    home_data = add_dataset(lake, lake.home, "customers", customers())
    other_data = add_dataset(lake, lake.other, "customers", customers())
    first = create(lake, lake.home, churn_request(home_data, "Zeta"))
    create(lake, lake.other, churn_request(other_data, "Theirs"))
    second = create(lake, lake.home, churn_request(home_data, "Alpha"))
    with lake.store.session(writes=False) as session:
        listed = records.list_predictors(session, lake.home)
        assert [(p.id, p.predictor_name) for p in listed] == [(first, "Zeta"), (second, "Alpha")]


def test_names_are_unique_per_tenant_by_name_and_by_table_name(lake: Lake) -> None:
    home_data = add_dataset(lake, lake.home, "customers", customers())
    other_data = add_dataset(lake, lake.other, "customers", customers())
    first = create(lake, lake.home, churn_request(home_data))
    set_state(lake, first, training_status=WorkState.COMPLETED, model_version=1)
    with pytest.raises(ConflictError) as raised:
        create(lake, lake.home, churn_request(home_data))
    assert raised.value.field == "predictor_name"
    assert raised.value.message.startswith("a predictor named 'Churn Model' exists")
    with pytest.raises(ConflictError) as raised:
        create(lake, lake.home, churn_request(home_data, "churn-model"))
    assert raised.value.field == "predictor_name"
    assert raised.value.message == (
        "predictor name 'churn-model' gives the table name 'churn_model' another predictor uses"
    )
    theirs = create(lake, lake.other, churn_request(other_data))  # another tenant may
    assert stored(lake, theirs).table_name == "churn_model"


@pytest.mark.parametrize("status", [WorkState.SUBMITTED, WorkState.RUNNING])
@pytest.mark.parametrize("version", [None, 1])
def test_a_predictor_in_training_is_not_asked_again(
    lake: Lake, status: str, version: int | None
) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    predictor_id = create(lake, lake.home, churn_request(dataset_id))
    set_state(lake, predictor_id, training_status=status, model_version=version)
    with pytest.raises(ConflictError) as raised:
        create(lake, lake.home, churn_request(dataset_id, is_incremental=True))
    assert raised.value.field == "predictor_name"
    assert raised.value.message == "predictor 'Churn Model' is training; wait for it to finish"


def test_a_predictor_whose_first_training_failed_is_trained_afresh(lake: Lake) -> None:
    first_data = add_dataset(lake, lake.home, "customers", customers())
    second_data = add_dataset(lake, lake.home, "customers_2", customers())
    predictor_id = create(lake, lake.home, churn_request(first_data))
    set_state(lake, predictor_id, training_status=WorkState.FAILED, training_error="boom")
    columns = [role("spend", "Target"), role("visits", "Feature")]
    new = churn_request(
        second_data, problem_type="Regression", columns=columns, algorithm="rf", domain="shop"
    )
    assert create(lake, lake.home, new) == predictor_id
    predictor = stored(lake, predictor_id)
    assert (predictor.dataset_id, predictor.problem_type) == (second_data, "Regression")
    assert predictor.columns == columns
    assert (predictor.algorithm, predictor.domain) == ("RandomForest", "shop")
    assert (predictor.training_status, predictor.training_error) == (WorkState.SUBMITTED, None)


def test_an_incremental_request_trains_the_next_version_with_the_same_roles(lake: Lake) -> None:
    first_data = add_dataset(lake, lake.home, "customers", customers())
    more_data = add_dataset(lake, lake.home, "customers_2", customers())
    predictor_id = create(lake, lake.home, churn_request(first_data))
    set_state(lake, predictor_id, training_status=WorkState.COMPLETED, model_version=1)
    changed = churn_request(
        more_data, columns=[*CHURN_COLUMNS[:-1], role("plan", "Feature")], is_incremental=True
    )
    with pytest.raises(InvalidInputError) as raised:
        create(lake, lake.home, changed)
    assert raised.value.field == "columns"
    assert raised.value.message == (
        "incremental training keeps the predictor's problem type and column roles"
    )
    assert create(lake, lake.home, churn_request(more_data, is_incremental=True)) == predictor_id
    predictor = stored(lake, predictor_id)
    assert (predictor.dataset_id, predictor.is_incremental) == (more_data, True)
    assert (predictor.training_status, predictor.model_version) == (WorkState.SUBMITTED, 1)


# columns_in_role, feature_columns, refuse_forecast, record_state


def test_columns_in_role_keeps_the_predictors_column_order(lake: Lake) -> None:
    columns = [
        role("b", "Feature"),
        role("key", "Id"),
        role("a", "Feature"),
        role("y", "Target"),
        role("c", "Feature"),
    ]
    assert records.columns_in_role(columns, Attribute.FEATURE) == ["b", "a", "c"]
    assert records.columns_in_role(columns, Attribute.TARGET, Attribute.ID) == ["key", "y"]
    assert records.columns_in_role(columns, Attribute.SERIES) == []
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    predictor = stored(lake, create(lake, lake.home, churn_request(dataset_id)))
    assert records.feature_columns(predictor) == ["region", "visits"]


def test_refuse_forecast_names_the_predictor(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "sales", daily({"a": 10}))
    columns = [role("day", "Timestamp"), role("sales", "Target")]
    new = churn_request(dataset_id, "Sales", problem_type="Forecast", columns=columns)
    forecast = stored(lake, create(lake, lake.home, new))
    with pytest.raises(InvalidInputError) as raised:
        records.refuse_forecast(forecast, "SHAP")
    assert raised.value.field == "train_id"
    assert raised.value.message.startswith(
        f"SHAP needs a Classification or Regression predictor; predictor {forecast.id} forecasts"
    )
    customers_id = add_dataset(lake, lake.home, "customers", customers())
    records.refuse_forecast(stored(lake, create(lake, lake.home, churn_request(customers_id))), "x")


def test_record_state_writes_the_values_and_refuses_an_unknown_predictor(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    predictor_id = create(lake, lake.home, churn_request(dataset_id))
    set_state(lake, predictor_id, training_status=WorkState.RUNNING, last_run_id="run-1")
    predictor = stored(lake, predictor_id)
    assert (predictor.training_status, predictor.last_run_id) == (WorkState.RUNNING, "run-1")
    with lake.store.session() as session:
        session.add(
            Prediction(
                tenant_id=lake.home.tenant_id,
                predictor_id=predictor_id,
                prediction_type="batch",
                input_data=None,
                output=None,
                status=WorkState.RUNNING,
                run_id="batch-1",
                created_by="ann",
            )
        )
    set_state(lake, predictor_id, shap=True, shap_run_id="shap-1")
    with lake.store.session(writes=False) as session:
        predictor = records.get_predictor(session, lake.home, predictor_id)
        assert records.writing_runs(session, predictor) == ["run-1", "shap-1", "batch-1"]
    with pytest.raises(NotFoundError) as raised:
        set_state(lake, predictor_id + 1000, training_status=WorkState.FAILED)
    assert raised.value.field == "train_id"
    assert raised.value.message == f"predictor {predictor_id + 1000} not found"


# delete_predictor


def add_prediction(lake: Lake, predictor_id: int, result_path: str | None) -> None:
    with lake.store.session() as session:
        session.add(
            Prediction(
                tenant_id=lake.home.tenant_id,
                predictor_id=predictor_id,
                prediction_type="batch",
                input_data=None,
                output=None,
                status=WorkState.COMPLETED,
                result_path=result_path,
                created_by="ann",
            )
        )


def test_delete_predictor_drops_its_gold_tables_and_prediction_files(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    predictor_id = create(lake, lake.home, churn_request(dataset_id))
    tables = stored(lake, predictor_id).tables
    replace_table(lake.catalog, tables.features, customers())
    replace_table(lake.catalog, tables.predictions, pa.table({"churned": ["yes", "no"]}))
    with lake.landing.write(lake.home.tenant_id, "predictions", "run_1.csv") as kept:
        kept.write_text("churned\nyes\n")
    add_prediction(lake, predictor_id, "predictions/run_1.csv")
    add_prediction(lake, predictor_id, "predictions/gone.csv")  # removed already
    add_prediction(lake, predictor_id, None)

    with lake.store.session() as session:
        dropped, removed = records.delete_predictor(
            session, lake.home, lake.catalog, lake.landing, predictor_id
        )
    assert dropped == ["gold.churn_model__features", "gold.churn_model__predictions"]
    assert removed == ["predictions/run_1.csv"]
    assert not kept.exists()
    for ref in tables.all():
        assert load_table_or_none(lake.catalog, ref) is None
    assert silver(lake, dataset_id).scan().to_arrow().num_rows == ROWS  # the dataset stays
    with lake.store.session(writes=False) as session:
        assert session.get(Predictor, predictor_id) is None
        assert session.scalars(select(Prediction)).all() == []


def test_delete_predictor_of_another_tenant_is_not_found_and_drops_nothing(lake: Lake) -> None:
    dataset_id = add_dataset(lake, lake.home, "customers", customers())
    predictor_id = create(lake, lake.home, churn_request(dataset_id))
    features = stored(lake, predictor_id).tables.features
    replace_table(lake.catalog, features, customers())
    with pytest.raises(NotFoundError) as raised, lake.store.session() as session:
        records.delete_predictor(session, lake.other, lake.catalog, lake.landing, predictor_id)
    assert raised.value.field == "train_id"
    assert load_table_or_none(lake.catalog, features) is not None
    assert stored(lake, predictor_id).predictor_name == "Churn Model"
