"""Predictors: a tenant's named models, from the training request to registered versions,
their explanations and their predictions."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets
from lakehouse.data.ingest import LayerResult
from lakehouse.data.landing import LandingStore
from lakehouse.data.templates import ColumnType
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError
from lakehouse.lake.catalog import drop_table, load_table_or_none, replace_table
from lakehouse.lake.lineage import LINEAGE
from lakehouse.lake.naming import PredictorTables, table_name_from
from lakehouse.ml.training import (
    Algorithm,
    Attribute,
    ColumnRole,
    ProblemType,
    Report,
    TrainedModel,
    TrainingSpec,
    checked_hyperparameters,
    quiet,
)
from lakehouse.states import ValidationState, WorkState
from lakehouse.store.models import Dataset, Prediction, Predictor, utcnow
from lakehouse.store.owned import get_owned

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from lakehouse.settings import Settings
    from lakehouse.store import MetadataStore

DATASET_ID = "_dataset_id"
MAX_SHAP_ROWS = 500


@dataclass(frozen=True)
class SchemaColumn:
    column_name: str
    data_type: str


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


@dataclass(frozen=True)
class TrainingResult:
    version: int
    run_id: str
    algorithm: str
    metrics: dict[str, float] = field(default_factory=dict)


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
    )


def check_spec(spec: TrainingSpec, table: Any, *, incremental: bool = False) -> None:
    """Refuse now, before any run, what training would refuse later."""
    from lakehouse.ml.forecasting import check_forecast
    from lakehouse.ml.training import check_target

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
    algorithm = Algorithm.parse(new.algorithm)
    known = [f.name for f in table.schema().fields if not f.name.startswith("_")]
    roles = parse_roles(new.columns, known)
    hyperparameters = checked_hyperparameters(algorithm, new.hyperparameters)
    spec = TrainingSpec(problem, roles, algorithm, hyperparameters=hyperparameters)
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
    runs = [predictor.last_run_id, predictor.shap_run_id, *batches]
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


def _load(store: MetadataStore, predictor_id: int) -> tuple[Predictor, Dataset | None]:
    with store.session() as session:
        predictor = session.get(Predictor, predictor_id)
        if predictor is None:
            raise NotFoundError(f"predictor {predictor_id} not found", field="train_id")
        session.expunge(predictor)
        dataset = predictor.dataset
        return predictor, dataset


def land_features(store: MetadataStore, catalog: Catalog, predictor_id: int) -> LayerResult:
    """The predictor's columns of its dataset's validated rows, as `gold.<predictor>__features`.

    An incremental training keeps the rows other datasets brought and replaces this one's.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    predictor, dataset = _load(store, predictor_id)
    if dataset is None:
        raise NotFoundError(f"the dataset of predictor {predictor_id} is gone", field="dataset_id")
    silver = validated_table(catalog, dataset).scan().to_arrow()
    wanted = columns_in_role(predictor.columns, *set(Attribute) - {Attribute.IGNORE})
    rows = silver.select([*wanted, *[c for c in LINEAGE if c in silver.column_names]])
    rows = rows.append_column(DATASET_ID, pa.repeat(pa.scalar(dataset.id, pa.int64()), len(rows)))
    target = predictor.tables.features
    if predictor.is_incremental and (table := load_table_or_none(catalog, target)) is not None:
        previous = table.scan().to_arrow()
        kept = previous.filter(pc.not_equal(previous[DATASET_ID], dataset.id))
        rows = pa.concat_tables([kept.select(rows.column_names), rows.cast(kept.schema)])
    snapshot_id = replace_table(catalog, target, rows)
    return LayerResult(table=target.display_name, row_count=rows.num_rows, snapshot_id=snapshot_id)


def accepted_columns(
    catalog: Catalog, dataset: Dataset | None, predictor: Predictor, previous: Any
) -> list[str]:
    """The columns a prediction request may hold: those of every dataset the model learned
    from (Id, Target, Ignore or no role at all), read and left unused unless features."""
    columns = {c["column_name"] for c in predictor.columns}
    if previous is not None:
        columns.update(previous.dataset_columns)
    if dataset is not None:
        with contextlib.suppress(InvalidInputError):
            columns.update(c.column_name for c in dataset_schema(catalog, dataset))
    return sorted(columns)


def rejected_rows(dataset: Dataset | None) -> int:
    """Rows of the training dataset its validation rejected, which no model learns from."""
    if dataset is None or dataset.total_rows is None or dataset.passed_rows is None:
        return 0
    return dataset.total_rows - dataset.passed_rows


def headline_metric(problem_type: str, metrics: dict[str, float]) -> float | None:
    """The one number the training list shows as `accuracy`."""
    name = {"Classification": "accuracy", "Regression": "r2", "Forecast": "one_step_r2"}
    return metrics.get(name[problem_type])


def train_predictor(
    store: MetadataStore,
    catalog: Catalog,
    settings: Settings,
    predictor_id: int,
    report: Report = quiet,
) -> TrainingResult:
    """Fit the predictor's model on its feature table, log the run in MLflow and register the
    model as the predictor's next version."""
    import pyarrow.compute as pc

    from lakehouse.ml import registry
    from lakehouse.ml.training import continue_training, train

    predictor, dataset = _load(store, predictor_id)
    spec = training_spec(predictor)
    started = time.perf_counter()

    def done(what: str) -> None:
        report(f"{what} ({time.perf_counter() - started:.2f} s)")

    table = catalog.load_table(predictor.tables.features.identifier).scan().to_arrow()
    done(f"read {table.num_rows} rows of {predictor.tables.features.display_name}")
    previous = None
    if predictor.is_incremental and predictor.model_version is not None:
        previous = _registered_model(settings, predictor)
    if (
        previous is not None
        and dataset is not None
        and previous.continues_training
        and previous.forecast is None  # a forecast's lags span datasets: it learns anew
    ):
        report(f"continuing {previous.algorithm.value} from version {predictor.model_version}")
        new_rows = table.filter(pc.equal(table[DATASET_ID], dataset.id))
        model = continue_training(previous, new_rows, spec, report)
    else:
        model = train(table, spec, report)
    report(f"test metrics: {', '.join(f'{k}={v:.4f}' for k, v in model.metrics.items())}")
    rejected = rejected_rows(dataset)
    model.dataset_columns = accepted_columns(catalog, dataset, predictor, previous)
    report(f"learned from {model.rows_used} rows; validation rejected {rejected} rows")
    done(f"fitted {model.algorithm.value}")
    record = registry.TrainingRecord(
        tenant_id=predictor.tenant_id,
        predictor_id=predictor.id,
        model_name=predictor.tables.model_name,
        run_name=f"{predictor.predictor_name} ({'incremental' if previous else 'full'})",
        params={
            "predictor_name": predictor.predictor_name,
            "domain": predictor.domain,
            "problem_type": predictor.problem_type,
            "algorithm": predictor.algorithm,
            "dataset_id": predictor.dataset_id,
            "is_incremental": previous is not None,
            "seed": spec.seed,
            "rows_used": model.rows_used,
            "rows_rejected": rejected,
            **{name: str(value) for name, value in spec.hyperparameters.items()},
        },
    )
    registered = registry.record_training(settings, record, model, len(table))
    done(f"logged the run and registered {record.model_name} version {registered.version}")
    try:
        record_state(
            store,
            predictor_id,
            training_status=WorkState.COMPLETED,
            training_error=None,
            trained_algorithm=model.algorithm.value,
            mlflow_run_id=registered.run_id,
            model_version=registered.version,
            accuracy=headline_metric(predictor.problem_type, registered.metrics),
            rows_used=model.rows_used,
            rows_rejected=rejected,
        )
    except BaseException:  # the predictor was deleted meanwhile, say: no version for no one
        registry.delete_model_version(settings, record.model_name, registered.version)
        raise
    return TrainingResult(
        registered.version, registered.run_id, model.algorithm.value, registered.metrics
    )


def _registered_model(settings: Settings, predictor: Predictor, version: int | None = None) -> Any:
    import tempfile
    from pathlib import Path

    from lakehouse.ml import registry
    from lakehouse.model_files import load_model

    version = version or predictor.model_version
    assert version is not None
    with tempfile.TemporaryDirectory(prefix="strata-model-") as scratch:
        directory = registry.model_directory(
            settings, predictor.tables.model_name, version, Path(scratch)
        )
        return load_model(directory)


def explain_predictor(
    store: MetadataStore,
    catalog: Catalog,
    settings: Settings,
    predictor_id: int,
    report: Report = quiet,
) -> LayerResult:
    """Mean |SHAP| per original feature of the predictor's current model version, written to
    `gold.<predictor>__shap` and to the training's MLflow run."""

    from lakehouse.ml import registry
    from lakehouse.ml.explain import feature_importance, importance_figure

    predictor, _ = _load(store, predictor_id)
    if predictor.model_version is None or predictor.mlflow_run_id is None:
        raise ConflictError(f"predictor {predictor_id} has no trained model", field="train_id")
    model = _registered_model(settings, predictor)
    rows = catalog.load_table(predictor.tables.features.identifier).scan().to_arrow()
    frame = rows.select(model.features).to_pandas()
    sample = frame.sample(n=min(MAX_SHAP_ROWS, len(frame)), random_state=0)
    report(f"explaining {len(sample)} rows with SHAP")
    importance = feature_importance(model, sample)
    target = predictor.tables.shap
    snapshot_id = store_feature_importance(catalog, predictor, importance)
    registry.log_feature_importance(
        settings, predictor.mlflow_run_id, importance, importance_figure(importance)
    )
    record_state(store, predictor_id, shap=True, shap_status=WorkState.COMPLETED, shap_error=None)
    return LayerResult(
        table=target.display_name, row_count=len(importance), snapshot_id=snapshot_id
    )


def store_feature_importance(
    catalog: Catalog, predictor: Predictor, importance: dict[str, float]
) -> int:
    """Mean |SHAP| per feature as `gold.<predictor>__shap`, largest first; whether computed
    by the SHAP asset or posted by a compute engine. Returns the snapshot id."""
    import pyarrow as pa

    ranked = sorted(importance.items(), key=lambda item: -item[1])
    return replace_table(
        catalog,
        predictor.tables.shap,
        pa.table(
            {
                "feature": pa.array([name for name, _ in ranked], pa.string()),
                "mean_abs_shap": pa.array([float(value) for _, value in ranked], pa.float64()),
                "rank": pa.array(range(1, len(ranked) + 1), pa.int64()),
                "model_version": pa.array([predictor.model_version] * len(ranked), pa.int64()),
                "computed_at": pa.array(
                    [datetime.now(UTC)] * len(ranked), pa.timestamp("us", tz="UTC")
                ),
            }
        ),
    )


def read_feature_importance(catalog: Catalog, predictor: Predictor) -> dict[str, float]:
    table = load_table_or_none(catalog, predictor.tables.shap)
    if table is None:
        return {}
    rows = table.scan().to_arrow()
    ordered = sorted(rows.to_pylist(), key=lambda row: row["rank"])
    return {row["feature"]: row["mean_abs_shap"] for row in ordered}


def delete_feature_importance(catalog: Catalog, predictor: Predictor) -> bool:
    return drop_table(catalog, predictor.tables.shap)


def predictions_of(session: Session, actor: Principal, predictor_id: int) -> Sequence[Prediction]:
    get_predictor(session, actor, predictor_id)
    query = (
        select(Prediction)
        .where(Prediction.tenant_id == actor.tenant_id, Prediction.predictor_id == predictor_id)
        .order_by(Prediction.id)
    )
    return session.scalars(query).all()


def get_prediction(session: Session, actor: Principal, prediction_id: int) -> Prediction:
    """A batch prediction of the caller's tenant; any other is not found."""
    return get_owned(
        session, Prediction, prediction_id, actor.tenant_id, "prediction", "prediction_id"
    )


class Servable(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def training_status(self) -> str: ...

    @property
    def model_version(self) -> int | None: ...


@dataclass(frozen=True)
class ServingState:
    """What the real-time path needs of a predictor, read in one small query."""

    id: int
    tenant_id: str
    table_name: str
    training_status: str
    model_version: int | None
    accuracy: float | None
    columns: list[dict[str, str]]

    @property
    def model_name(self) -> str:
        return PredictorTables(self.tenant_id, self.table_name).model_name

    @property
    def target(self) -> str:
        return columns_in_role(self.columns, Attribute.TARGET)[0]


def serving_state(session: Session, tenant_id: str, predictor_id: int) -> ServingState:
    """A predictor of the tenant as the real-time path sees it; any other is not found."""
    row = session.execute(
        select(
            Predictor.table_name,
            Predictor.training_status,
            Predictor.model_version,
            Predictor.accuracy,
            Predictor.columns,
        ).where(Predictor.id == predictor_id, Predictor.tenant_id == tenant_id)
    ).first()
    if row is None:
        raise NotFoundError(f"training {predictor_id} not found", field="train_id")
    return ServingState(predictor_id, tenant_id, *row)


def servable(predictor: Servable) -> int:
    """The version real-time and batch requests use; a predictor without one is a conflict."""
    if (
        predictor.training_status in (WorkState.SUBMITTED, WorkState.RUNNING)
        and predictor.model_version is None
    ):
        raise ConflictError(
            f"predictor {predictor.id} is still training ({predictor.training_status})",
            field="train_id",
        )
    if predictor.model_version is None:
        raise ConflictError(
            f"predictor {predictor.id} has no trained model ({predictor.training_status})",
            field="train_id",
        )
    return predictor.model_version


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


def create_batch_prediction(
    session: Session,
    actor: Principal,
    catalog: Catalog,
    predictor_id: int,
    dataset_id: int,
    required_features: Collection[str] | None = None,
) -> Prediction:
    """Record a batch prediction of a dataset, checked to hold the features the model needs
    (`required_features`, by default all); one it may go without is imputed."""

    predictor = get_predictor(session, actor, predictor_id)
    refuse_forecast(predictor, "batch prediction")
    version = servable(predictor)
    dataset = datasets.get_dataset(session, actor, dataset_id)
    if dataset.validation_status in (ValidationState.PENDING, ValidationState.RUNNING):
        raise ConflictError(
            f"dataset {dataset_id} has no validated rows yet ({dataset.validation_status})",
            field="dataset_id",
        )
    table = validated_table(catalog, dataset)  # the rows that passed, of a valid dataset
    present = {f.name for f in table.schema().fields}
    needed = feature_columns(predictor) if required_features is None else required_features
    missing = [c for c in needed if c not in present]
    if missing:
        raise InvalidInputError(
            f"dataset {dataset_id} lacks the feature column '{missing[0]}' the model needs "
            "(it had no gaps in training, so it cannot be imputed)",
            field="dataset_id",
        )
    prediction = Prediction(
        tenant_id=actor.tenant_id,
        predictor_id=predictor.id,
        prediction_type="batch",
        dataset_id=dataset.id,
        input_data=f"dataset_id:{dataset.id}",
        output=None,
        status=WorkState.SUBMITTED,
        model_version=version,
        created_by=actor.username,
    )
    session.add(prediction)
    session.flush()
    return prediction


def score_dataset(
    store: MetadataStore,
    catalog: Catalog,
    settings: Settings,
    prediction_id: int,
    report: Report = quiet,
) -> LayerResult:
    """Score a dataset's validated rows into `gold.<predictor>__predictions` (this prediction's
    rows replaced, others kept) and a CSV file to download."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with store.session() as session:
        prediction = session.get(Prediction, prediction_id)
        if prediction is None:
            raise NotFoundError(f"prediction {prediction_id} not found", field="prediction_id")
        predictor = session.get(Predictor, prediction.predictor_id)
        dataset = session.get(Dataset, prediction.dataset_id) if prediction.dataset_id else None
        if predictor is None or dataset is None:
            raise NotFoundError(
                f"the predictor or dataset of prediction {prediction_id} is gone",
                field="prediction_id",
            )
        prediction.status = WorkState.RUNNING
        session.flush()
        session.expunge_all()
    started = time.perf_counter()

    def done(what: str) -> None:
        report(f"{what} ({time.perf_counter() - started:.2f} s)")

    model = _registered_model(settings, predictor, prediction.model_version)
    done(f"loaded {predictor.tables.model_name} version {prediction.model_version}")
    table = catalog.load_table(dataset.tables.silver.identifier)
    present = {f.name for f in table.schema().fields}
    ids = columns_in_role(predictor.columns, Attribute.ID)
    keys = [c for c in [*ids, *LINEAGE] if c in present]
    wanted = [*keys, *[c for c in model.features if c in present and c not in keys]]
    rows = table.scan(selected_fields=tuple(wanted)).to_arrow()
    done(f"read {rows.num_rows} rows of {dataset.tables.silver.display_name}")
    frame = rows.select([c for c in model.features if c in present]).to_pandas()
    for name in model.features:
        if name not in frame.columns:
            frame[name] = None
    labels, probabilities = model.predict_with_probabilities(frame)
    done("predicted")
    result = rows.select(keys).append_column("prediction", pa.array(labels))
    if probabilities is not None and model.classes is not None:
        for index, label in enumerate(model.classes):
            result = result.append_column(f"probability_{label}", pa.array(probabilities[:, index]))
    count = result.num_rows
    result = result.append_column(
        "model_version", pa.repeat(pa.scalar(prediction.model_version, pa.int64()), count)
    )
    result = result.append_column(
        "scored_at", pa.repeat(pa.scalar(datetime.now(UTC), pa.timestamp("us", tz="UTC")), count)
    )
    result = result.append_column(
        "prediction_id", pa.repeat(pa.scalar(prediction_id, pa.int64()), count)
    )
    target = predictor.tables.predictions
    snapshot_id = replace_table(catalog, target, result, where=("prediction_id", prediction_id))
    done(f"wrote {target.display_name}")
    landing = LandingStore(settings.landing_dir)
    relative = f"predictions/{prediction_id}_{predictor.table_name}__predictions.csv"
    path = landing.tenant_area(predictor.tenant_id) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(result, path)
    done("wrote the CSV")
    with store.session() as session:
        saved = session.get(Prediction, prediction_id)
        if saved is not None:
            saved.status = WorkState.COMPLETED
            saved.no_of_records = count
            saved.result_path = relative
            saved.error = None
            saved.modified_at = utcnow()
    return LayerResult(table=target.display_name, row_count=count, snapshot_id=snapshot_id)


def mark_prediction_failed(store: MetadataStore, prediction_id: int, error: str) -> None:
    with store.session() as session:
        prediction = session.get(Prediction, prediction_id)
        if prediction is not None:
            prediction.status = WorkState.FAILED
            prediction.error = error[:4000]
            prediction.modified_at = utcnow()


def series_history(
    catalog: Catalog, dataset: Dataset, model: TrainedModel, unique_id: str | None
) -> list[tuple[str, float]]:
    """The latest values of one series in a dataset's validated rows, oldest first."""
    import pandas as pd
    import pyarrow.compute as pc

    setup = model.forecast
    if setup is None:
        raise InvalidInputError("this predictor does not forecast", field="train_id")
    table = validated_table(catalog, dataset)
    columns = [c for c in (setup.target, setup.timestamp, setup.series) if c]
    present = {f.name for f in table.schema().fields}
    missing = [c for c in columns if c not in present]
    if missing:
        raise InvalidInputError(
            f"dataset {dataset.id} lacks the column '{missing[0]}' the model reads",
            field="dataset_id",
        )
    from lakehouse.ml.forecasting import moments

    rows = table.scan(selected_fields=tuple(columns)).to_arrow()
    if setup.series is not None:
        rows = rows.filter(pc.equal(pc.cast(rows[setup.series], "string"), unique_id or ""))
    at = rows.column_names.index(setup.timestamp)
    rows = rows.set_column(at, setup.timestamp, moments(rows[setup.timestamp], setup.timestamp))
    frame = rows.to_pandas().dropna(subset=[setup.target, setup.timestamp])
    frame = frame.sort_values(setup.timestamp).tail(setup.lags)
    try:
        return [
            (pd.Timestamp(moment).isoformat(), float(value))
            for moment, value in zip(frame[setup.timestamp], frame[setup.target], strict=True)
        ]
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"dataset {dataset.id} does not hold dates in '{setup.timestamp}' and numbers in "
            f"'{setup.target}' as the model was trained on",
            field="dataset_id",
        ) from exc
