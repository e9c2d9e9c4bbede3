"""The steps of a predictor's runs: land its features, train and register a version in MLflow,
explain it with SHAP."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse.data.ingest import LayerResult
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError
from lakehouse.lake.catalog import load_table_or_none, replace_table
from lakehouse.lake.lineage import DATASET_ID, LINEAGE
from lakehouse.ml.spec import Attribute, Report, quiet
from lakehouse.states import WorkState
from lakehouse.store.models import Dataset, Predictor

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from lakehouse.settings import Settings
    from lakehouse.store import MetadataStore
from lakehouse.predictors.importance import store_feature_importance
from lakehouse.predictors.records import (
    columns_in_role,
    dataset_schema,
    record_state,
    training_spec,
    validated_table,
)

MAX_SHAP_ROWS = 500


@dataclass(frozen=True)
class TrainingResult:
    version: int
    run_id: str
    algorithm: str
    metrics: dict[str, float] = field(default_factory=dict)


def load_predictor(store: MetadataStore, predictor_id: int) -> tuple[Predictor, Dataset | None]:
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

    predictor, dataset = load_predictor(store, predictor_id)
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
    name = {
        "Classification": "accuracy",
        "Regression": "r2",
        "Forecast": "one_step_r2",
        "Clustering": "silhouette",
    }
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

    predictor, dataset = load_predictor(store, predictor_id)
    spec = training_spec(predictor)
    started = time.perf_counter()

    def done(what: str) -> None:
        report(f"{what} ({time.perf_counter() - started:.2f} s)")

    table = catalog.load_table(predictor.tables.features.identifier).scan().to_arrow()
    done(f"read {table.num_rows} rows of {predictor.tables.features.display_name}")
    previous = None
    if predictor.is_incremental and predictor.model_version is not None:
        previous = registered_model(settings, predictor)
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
            # an evaluation is of one version: the new one has none yet
            evaluation_status=None,
            evaluation_error=None,
            evaluation_run_id=None,
        )
    except BaseException:  # the predictor was deleted meanwhile, say: no version for no one
        registry.delete_model_version(settings, record.model_name, registered.version)
        raise
    return TrainingResult(
        registered.version, registered.run_id, model.algorithm.value, registered.metrics
    )


def registered_model(settings: Settings, predictor: Predictor, version: int | None = None) -> Any:
    from lakehouse.ml import registry

    version = version or predictor.model_version
    assert version is not None
    return registry.load_version(settings, predictor.tables.model_name, version)


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

    predictor, _ = load_predictor(store, predictor_id)
    if predictor.model_version is None or predictor.mlflow_run_id is None:
        raise ConflictError(f"predictor {predictor_id} has no trained model", field="train_id")
    model = registered_model(settings, predictor)
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
