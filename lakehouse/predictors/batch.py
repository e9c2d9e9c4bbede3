"""Batch predictions: recorded for a dataset, scored by a run into a gold table and a CSV."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets
from lakehouse.data.formats import write_csv
from lakehouse.data.ingest import LayerResult
from lakehouse.data.landing import LandingStore
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError
from lakehouse.lake.catalog import replace_table
from lakehouse.lake.lineage import LINEAGE
from lakehouse.ml.spec import Attribute, Report, quiet
from lakehouse.states import ValidationState, WorkState
from lakehouse.store.models import Dataset, Prediction, Predictor, utcnow
from lakehouse.store.owned import get_owned

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from lakehouse.ml.spec import TrainedModel
    from lakehouse.settings import Settings
    from lakehouse.store import MetadataStore
from lakehouse.predictors.records import (
    columns_in_role,
    feature_columns,
    get_predictor,
    refuse_forecast,
    validated_table,
)
from lakehouse.predictors.serving_state import servable
from lakehouse.predictors.steps import registered_model

# The landing store's folder of scored CSVs, beside the tenant's dataset folders.
PREDICTIONS_FOLDER = "predictions"


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
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

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

    table = catalog.load_table(dataset.tables.silver.identifier)
    present = {f.name for f in table.schema().fields}
    ids = columns_in_role(predictor.columns, Attribute.ID)
    keys = [c for c in [*ids, *LINEAGE] if c in present]

    def read(columns: Collection[str]) -> pa.Table:
        wanted = [*keys, *[c for c in columns if c in present and c not in keys]]
        return table.scan(selected_fields=tuple(wanted)).to_arrow()

    # The model loads while the rows are read, those of the predictor's features; a version
    # that learned from other columns has them read after.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-model") as pool:
        loading = pool.submit(registered_model, settings, predictor, prediction.model_version)
        rows = read(feature_columns(predictor))
        done(f"read {rows.num_rows} rows of {dataset.tables.silver.display_name}")
        model = loading.result()
    done(f"loaded {predictor.tables.model_name} version {prediction.model_version}")
    if any(c in present and c not in rows.column_names for c in model.features):
        rows = read(model.features)
        done(f"read the model's other columns of {dataset.tables.silver.display_name}")
    result = score_rows(model, rows, keys)
    done("predicted")
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
    landing = LandingStore.from_settings(settings)
    name = f"{prediction_id}_{predictor.table_name}__predictions.csv"
    # The CSV is written while the gold table is: it is stored only if both are written.
    with (
        landing.write(predictor.tenant_id, PREDICTIONS_FOLDER, name) as path,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="predictions-csv") as pool,
    ):
        csv_written = pool.submit(write_csv, result, path)
        snapshot_id = replace_table(catalog, target, result, where=("prediction_id", prediction_id))
        done(f"wrote {target.display_name}")
        csv_written.result()
    relative = landing.relative_path(PREDICTIONS_FOLDER, name)
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


def score_rows(model: TrainedModel, rows: pa.Table, keys: Sequence[str]) -> pa.Table:
    """`rows`' `keys`, each row's `prediction` and, for a classifier, a `probability_<class>`
    per class; a feature the rows lack is a gap the model imputes."""
    import pyarrow as pa

    frame = rows.select([c for c in model.features if c in rows.column_names]).to_pandas()
    for name in model.features:
        if name not in frame.columns:
            frame[name] = None
    probabilities = model.predict_proba(frame)
    if probabilities is not None and model.classes is not None:
        # each row's class by its index: no Python object per row
        predicted = pa.array(model.classes).take(pa.array(probabilities.argmax(axis=1)))
    else:
        predicted = pa.array(model.predict(frame))
    result = rows.select(list(keys)).append_column("prediction", predicted)
    if probabilities is not None and model.classes is not None:
        for index, label in enumerate(model.classes):
            result = result.append_column(f"probability_{label}", pa.array(probabilities[:, index]))
    return result


def mark_prediction_failed(store: MetadataStore, prediction_id: int, error: str) -> None:
    with store.session() as session:
        prediction = session.get(Prediction, prediction_id)
        if prediction is not None:
            prediction.status = WorkState.FAILED
            prediction.error = error[:4000]
            prediction.modified_at = utcnow()
