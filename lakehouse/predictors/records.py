"""Predictor records: the training request parsed and checked against its dataset, created, listed,
deleted, and the state its runs record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets
from lakehouse.data.landing import LandingStore
from lakehouse.data.templates import ColumnType
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError
from lakehouse.lake.catalog import drop_table, load_table_or_none
from lakehouse.lake.naming import table_name_from
from lakehouse.ml.algorithms import check_algorithm
from lakehouse.ml.hyperparameters import checked_hyperparameters
from lakehouse.ml.spec import (
    SPLIT,
    Algorithm,
    Attribute,
    ColumnRole,
    ProblemType,
    TrainingSpec,
)
from lakehouse.states import ValidationState, WorkState
from lakehouse.store.models import Dataset, Prediction, Predictor, utcnow
from lakehouse.store.owned import get_owned

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from lakehouse.store import MetadataStore


@dataclass(frozen=True)
class SchemaColumn:
    column_name: str
    data_type: str


MIN_TEST_SHARE, MAX_TEST_SHARE = 0.05, 0.5


@dataclass(frozen=True)
class NewPredictor:
    dataset_id: int
    predictor_name: str
    domain: str
    problem_type: str
    columns: Sequence[dict[str, Any]]
    is_incremental: bool = False
    algorithm: str | None = None
    shap_enabled: bool = False
    hyperparameters: dict[str, Any] | None = None
    test_share: float | None = None
    """The share of rows held out to test the model, from 0.05 to 0.5 (default 0.15)."""


def column_type(data_type: pa.DataType) -> str:
    """An Arrow column type as the template type names clients know."""
    import pyarrow as pa

    if pa.types.is_boolean(data_type):
        return ColumnType.BOOLEAN.value
    if pa.types.is_integer(data_type):
        return ColumnType.INTEGER.value
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return ColumnType.FLOAT.value
    if pa.types.is_date(data_type):
        return ColumnType.DATE.value
    if pa.types.is_timestamp(data_type):
        return ColumnType.DATETIME.value
    return ColumnType.STRING.value


def validated_table(catalog: Catalog, dataset: Dataset) -> Any:
    """The dataset's silver table; a dataset that is not valid cannot feed a model."""
    if dataset.validation_status == ValidationState.INVALID:
        problem = dataset.validation_error or "it did not pass validation"
        if "usability" not in problem:
            threshold = dataset.usability_threshold
            needs = f"{threshold:.0%}" if threshold is not None else "the platform's threshold"
            problem += (
                f"; its usability is {datasets.usability_text(dataset)}, and a valid dataset "
                f"needs {needs}"
            )
        raise InvalidInputError(f"dataset {dataset.id} is not valid: {problem}", field="dataset_id")
    if dataset.validation_status != ValidationState.VALID:
        raise InvalidInputError(
            f"dataset {dataset.id} is not validated ({dataset.validation_status}); "
            "train on a dataset that passed validation",
            field="dataset_id",
        )
    table = load_table_or_none(catalog, dataset.tables.silver)
    if table is None:
        raise InvalidInputError(f"dataset {dataset.id} has no validated table", field="dataset_id")
    return table


def dataset_schema(catalog: Catalog, dataset: Dataset) -> list[SchemaColumn]:
    """The columns a model can learn from: the validated table's, without bookkeeping ones."""
    schema = validated_table(catalog, dataset).schema().as_arrow()
    return [SchemaColumn(f.name, column_type(f.type)) for f in schema if not f.name.startswith("_")]


def parse_roles(columns: Sequence[dict[str, Any]], known: Sequence[str]) -> list[ColumnRole]:
    """Column roles as sent, each column of the dataset at most once and with a known role."""
    roles: list[ColumnRole] = []
    seen: set[str] = set()
    by_name = {a.value.lower(): a for a in Attribute}
    for index, column in enumerate(columns):
        name = str(column.get("column_name", ""))
        where = f"columns[{index}]"
        if name not in known:
            raise InvalidInputError(
                f"column '{name}' is not in the dataset's validated table",
                field=f"{where}.column_name",
            )
        if name in seen:
            raise InvalidInputError(f"column '{name}' is given twice", field=f"{where}.column_name")
        seen.add(name)
        attribute = by_name.get(str(column.get("attribute_name", "")).strip().lower())
        if attribute is None:
            raise InvalidInputError(
                f"unknown attribute '{column.get('attribute_name')}' for column '{name}'; "
                f"expected one of {', '.join(a.value for a in Attribute)}",
                field=f"{where}.attribute_name",
            )
        roles.append(ColumnRole(name, attribute))
    return roles


def training_spec(predictor: Predictor) -> TrainingSpec:
    roles = [
        ColumnRole(c["column_name"], Attribute(c["attribute_name"])) for c in predictor.columns
    ]
    return TrainingSpec(
        ProblemType(predictor.problem_type),
        roles,
        Algorithm.parse(predictor.algorithm),
        hyperparameters=predictor.hyperparameters or {},
        test_share=predictor.test_share or SPLIT[2],
    )


def check_spec(spec: TrainingSpec, table: Any, *, incremental: bool = False) -> None:
    """Refuse now, before any run, what training would refuse later."""
    from lakehouse.ml.forecasting import check_forecast
    from lakehouse.ml.training import check_target, split_rows

    if spec.problem_type is ProblemType.CLUSTERING:
        from lakehouse.ml.clustering import check_clustering

        check_clustering(
            spec,
            table.scan(selected_fields=(spec.features[0],)).to_arrow().num_rows
            if spec.features
            else 0,
        )
        return
    target = spec.target
    if spec.problem_type is ProblemType.FORECAST:
        columns = [c for c in (target, spec.single(Attribute.TIMESTAMP)) if c]
        series = spec.single(Attribute.SERIES, required=False)
        if series is not None:
            columns.append(series)
        rows = table.scan(selected_fields=tuple(columns)).to_arrow()
        check_forecast(rows, spec, counted=not incremental)
        return
    if not spec.features:
        raise InvalidInputError("at least one column must be a Feature", field="columns")
    values = table.scan(selected_fields=(target,)).to_arrow().column(target).to_pandas()
    values = values[values.notna()]
    if values.empty:
        raise InvalidInputError(f"target column '{target}' has no values", field="columns")
    check_target(values, spec)
    if not incremental:  # a further training adds its rows to what the model learnt
        split_rows(len(values), seed=0)  # refuses too few rows to split


def get_predictor(session: Session, actor: Principal, predictor_id: int) -> Predictor:
    """A predictor of the caller's tenant; any other predictor is not found."""
    return get_owned(session, Predictor, predictor_id, actor.tenant_id, "training", "train_id")


def list_predictors(session: Session, actor: Principal) -> Sequence[Predictor]:
    query = select(Predictor).where(Predictor.tenant_id == actor.tenant_id).order_by(Predictor.id)
    return session.scalars(query).all()


def create_predictor(
    session: Session, actor: Principal, catalog: Catalog, new: NewPredictor
) -> Predictor:
    """Record a training request after checking everything training needs; `is_incremental`
    on an existing predictor asks for its next version instead."""
    dataset = datasets.get_dataset(session, actor, new.dataset_id)
    table = validated_table(catalog, dataset)
    problem = ProblemType.parse(new.problem_type)
    algorithm = check_algorithm(Algorithm.parse(new.algorithm), problem)
    known = [f.name for f in table.schema().fields if not f.name.startswith("_")]
    roles = parse_roles(new.columns, known)
    hyperparameters = checked_hyperparameters(algorithm, problem, new.hyperparameters)
    test_share = new.test_share if new.test_share is not None else SPLIT[2]
    if not MIN_TEST_SHARE <= test_share <= MAX_TEST_SHARE:
        raise InvalidInputError(
            f"the test share must be from {MIN_TEST_SHARE} to {MAX_TEST_SHARE}, not {test_share}",
            field="test_share",
        )
    spec = TrainingSpec(
        problem, roles, algorithm, hyperparameters=hyperparameters, test_share=test_share
    )
    existing = session.scalars(
        select(Predictor).where(
            Predictor.tenant_id == actor.tenant_id,
            Predictor.predictor_name == new.predictor_name,
        )
    ).first()
    # An incremental training also learns from the rows its predictor holds already.
    incremental = new.is_incremental and existing is not None and existing.model_version is not None
    check_spec(spec, table, incremental=incremental)
    if new.shap_enabled and problem is ProblemType.FORECAST:
        raise InvalidInputError(
            "SHAP explains Classification and Regression models, not forecasts",
            field="shap_enabled",
        )
    columns = [{"column_name": r.column_name, "attribute_name": r.attribute.value} for r in roles]
    if existing is not None and existing.model_version is None:
        if existing.training_status in (WorkState.SUBMITTED, WorkState.RUNNING):
            raise ConflictError(
                f"predictor '{new.predictor_name}' is training; wait for it to finish",
                field="predictor_name",
            )
        # Its training failed before any version: this request trains it afresh.
        existing.dataset_id = dataset.id
        existing.problem_type = problem.value
        existing.columns = columns
        existing.algorithm = algorithm.value
        existing.hyperparameters = hyperparameters or None
        existing.domain = new.domain
        existing.shap_enabled = new.shap_enabled
        existing.is_incremental = False
        existing.training_status = WorkState.SUBMITTED
        existing.training_error = None
        existing.modified_at = utcnow()
        return existing
    if existing is not None:
        if not new.is_incremental:
            raise ConflictError(
                f"a predictor named '{new.predictor_name}' exists; choose another name or "
                "set is_incremental to train its next version",
                field="predictor_name",
            )
        return _next_version(existing, dataset, problem, columns, new, actor)
    table_name = table_name_from(new.predictor_name, field="predictor_name")
    taken = session.scalars(
        select(Predictor.id).where(
            Predictor.tenant_id == actor.tenant_id, Predictor.table_name == table_name
        )
    ).first()
    if taken is not None:
        raise ConflictError(
            f"predictor name '{new.predictor_name}' gives the table name '{table_name}' "
            "another predictor uses",
            field="predictor_name",
        )
    predictor = Predictor(
        tenant_id=actor.tenant_id,
        predictor_name=new.predictor_name,
        table_name=table_name,
        domain=new.domain,
        problem_type=problem.value,
        dataset_id=dataset.id,
        columns=columns,
        algorithm=algorithm.value,
        hyperparameters=hyperparameters or None,
        test_share=new.test_share,
        is_incremental=False,
        shap_enabled=new.shap_enabled,
        created_by=actor.username,
        training_status=WorkState.SUBMITTED,
    )
    session.add(predictor)
    session.flush()
    return predictor


def _next_version(
    predictor: Predictor,
    dataset: Dataset,
    problem: ProblemType,
    columns: list[dict[str, str]],
    new: NewPredictor,
    actor: Principal,
) -> Predictor:
    if predictor.training_status in (WorkState.SUBMITTED, WorkState.RUNNING):
        raise ConflictError(
            f"predictor '{predictor.predictor_name}' is training; wait for it to finish",
            field="predictor_name",
        )
    if problem.value != predictor.problem_type or columns != predictor.columns:
        raise InvalidInputError(
            "incremental training keeps the predictor's problem type and column roles",
            field="columns",
        )
    predictor.dataset_id = dataset.id
    predictor.is_incremental = True
    predictor.shap_enabled = new.shap_enabled
    predictor.training_status = WorkState.SUBMITTED
    predictor.training_error = None
    predictor.modified_at = utcnow()
    return predictor


def writing_runs(session: Session, predictor: Predictor) -> list[str]:
    """The runs that may be writing a predictor's model, tables or files."""
    batches = session.scalars(
        select(Prediction.run_id).where(
            Prediction.predictor_id == predictor.id,
            Prediction.prediction_type == "batch",
            Prediction.status.in_((WorkState.SUBMITTED, WorkState.RUNNING)),
            Prediction.run_id.is_not(None),
        )
    ).all()
    runs = [
        predictor.last_run_id,
        predictor.shap_run_id,
        predictor.evaluation_run_id,
        predictor.tuning_run_id,
        *batches,
    ]
    return [run_id for run_id in runs if run_id is not None]


def delete_predictor(
    session: Session, actor: Principal, catalog: Catalog, landing: LandingStore, predictor_id: int
) -> tuple[list[str], list[str]]:
    """Forget a predictor, drop its gold tables and remove its prediction files; returns the
    tables and files removed. The caller removes its registered model's versions too."""
    predictor = get_predictor(session, actor, predictor_id)
    files = [
        path
        for path in session.scalars(
            select(Prediction.result_path).where(Prediction.predictor_id == predictor.id)
        )
        if path is not None
    ]
    dropped = [ref.display_name for ref in predictor.tables.all() if drop_table(catalog, ref)]
    session.delete(predictor)
    session.flush()
    removed: list[str] = []
    for relative in files:
        try:
            landing.remove(actor.tenant_id, relative)
        except NotFoundError:
            continue
        removed.append(relative)
    return dropped, removed


def record_state(
    store: MetadataStore, predictor_id: int, *, shap: bool = False, **values: Any
) -> None:
    """Update a predictor's training (or SHAP) state as a run progresses."""
    with store.session() as session:
        predictor = session.get(Predictor, predictor_id)
        if predictor is None:
            raise NotFoundError(f"predictor {predictor_id} not found", field="train_id")
        for name, value in values.items():
            setattr(predictor, name, value)
        if not shap:
            predictor.modified_at = utcnow()


def refuse_forecast(predictor: Predictor, what: str) -> None:
    """Forecasts read their own lagged values, which rows of features do not carry."""
    if predictor.problem_type == ProblemType.FORECAST.value:
        raise InvalidInputError(
            f"{what} needs a Classification or Regression predictor; predictor "
            f"{predictor.id} forecasts (use /api/v1/inference/forecast)",
            field="train_id",
        )


def columns_in_role(columns: Sequence[Mapping[str, str]], *roles: Attribute) -> list[str]:
    """The names of a predictor's columns whose role is one of `roles`, in their order."""
    return [c["column_name"] for c in columns if c["attribute_name"] in roles]


def feature_columns(predictor: Predictor) -> list[str]:
    return columns_in_role(predictor.columns, Attribute.FEATURE)
