"""Starting, awaiting and undoing the platform's work, for every API surface alike: the
contract's controllers and the profiles start the same runs and delete the same way."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from api import run_state
from api.platform import Platform
from lakehouse import datasets, predictors
from lakehouse.catalog import open_catalog
from lakehouse.errors import (
    ConflictError,
    NotFoundError,
    ServiceUnavailableError,
    StrataError,
    TooManyRequestsError,
)
from lakehouse.rbac import Principal
from lakehouse.runs import (
    BATCH_PREDICTION_JOB,
    DATASET_INGESTION_JOB,
    DATASET_PARTITIONS,
    PREDICTOR_PARTITIONS,
    PREDICTOR_TRAINING_JOB,
    PREDICTOR_TRAINING_SHAP_JOB,
    batch_prediction_run_config,
)
from lakehouse.store import Dataset, Prediction, Predictor
from pipelines.gateway import TENANT_TAG, RunView

POLL_SECONDS = 0.1


@contextlib.contextmanager
def room_for_a_run(db: Session, platform: Platform, tenant_id: str) -> Iterator[None]:
    """Room for one more run of the tenant while the block commits and submits it. A tenant at
    its run limit is refused before anything is committed: the request's changes are rolled
    back and the 429 goes out."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(platform.gateway.admission(tenant_id))
        except TooManyRequestsError:
            db.rollback()
            raise
        yield


def unland(platform: Platform, dataset: Dataset) -> Callable[[], None]:
    """What removes the files this request landed for `dataset`, once its changes are rolled
    back: rows added in the transaction are then transient again, older ones are kept. Only
    those files go, never the folder: once rolled back, the dataset's id may already be another
    upload's."""
    tenant_id, files = dataset.tenant_id, list(dataset.files)

    def remove() -> None:
        for data_file in files:
            if inspect(data_file).transient:
                with contextlib.suppress(FileNotFoundError):
                    platform.landing.remove(tenant_id, data_file.stored_path)

    return remove


def submit_committed(
    db: Session,
    platform: Platform,
    tenant_id: str,
    launch: Callable[[], str],
    prepare: Callable[[], object] | None = None,
) -> str:
    """`prepare` the change that needs a run, commit the request, then start its run with
    `launch`, holding the tenant's place only that long. What the caller records afterwards is
    written outside it: another request of the tenant may hold the database's write lock while
    it waits for the place."""
    with room_for_a_run(db, platform, tenant_id):
        if prepare is not None:
            prepare()
        db.commit()
        return launch()


def start_ingestion(
    db: Session, platform: Platform, dataset: Dataset, prepare: Callable[[], object] | None = None
) -> str:
    """Claim the dataset's next run, commit the request, then start its ingestion run; a run
    that cannot start fails the dataset. A request refused before its commit (another request
    holds the claim: 409; the tenant's run limit: 429; `prepare` refused) keeps nothing: no new
    dataset, none of its new files, and not the change `prepare` would have made."""
    launched = False

    def launch() -> str:  # after the commit: the dataset has its id
        nonlocal launched
        launched = True
        key = str(dataset.id)
        platform.gateway.add_partition(DATASET_PARTITIONS, key)
        return platform.gateway.submit(
            DATASET_INGESTION_JOB, partition_key=key, tags={TENANT_TAG: dataset.tenant_id}
        )

    undo = unland(platform, dataset)
    try:
        datasets.claim_run(db, dataset)
        run_id = submit_committed(db, platform, dataset.tenant_id, launch, prepare=prepare)
    except StrataError as exc:
        if not launched:
            db.rollback()
            undo()
            raise
        dataset.validation_status = "failed"
        dataset.validation_error = f"validation could not start: {exc.message}"
        datasets.release_run(dataset, None)
        db.commit()
        raise
    datasets.release_run(dataset, run_id)
    db.commit()
    return run_id


def start_training(db: Session, platform: Platform, predictor: Predictor) -> str:
    """Commit the training request, then start its run; a run that cannot start fails it, and
    one refused for the tenant's run limit leaves no predictor."""
    job = PREDICTOR_TRAINING_SHAP_JOB if predictor.shap_enabled else PREDICTOR_TRAINING_JOB

    def launch() -> str:  # after the commit: the predictor has its id
        key = str(predictor.id)
        platform.gateway.add_partition(PREDICTOR_PARTITIONS, key)
        return platform.gateway.submit(
            job, partition_key=key, tags={TENANT_TAG: predictor.tenant_id}
        )

    try:
        run_id = submit_committed(db, platform, predictor.tenant_id, launch)
    except TooManyRequestsError:
        raise
    except StrataError as exc:
        predictor.training_status = "failed"
        predictor.training_error = f"training could not start: {exc.message}"
        db.commit()
        raise
    predictor.last_run_id = run_id
    if predictor.shap_enabled:
        predictor.shap_status, predictor.shap_run_id = "submitted", run_id
    db.commit()
    return run_id


def start_batch_prediction(db: Session, platform: Platform, prediction: Prediction) -> str:
    """Commit the batch prediction, then start its run; a run that cannot start fails it, and
    one refused for the tenant's run limit leaves no prediction."""

    def launch() -> str:  # after the commit: the prediction has its id
        key = str(prediction.predictor_id)
        platform.gateway.add_partition(PREDICTOR_PARTITIONS, key)
        return platform.gateway.submit(
            BATCH_PREDICTION_JOB,
            partition_key=key,
            run_config=batch_prediction_run_config(prediction.id),
            tags={TENANT_TAG: prediction.tenant_id},
        )

    try:
        run_id = submit_committed(db, platform, prediction.tenant_id, launch)
    except TooManyRequestsError:
        raise
    except StrataError as exc:
        prediction.status, prediction.error = "failed", f"could not start: {exc.message}"
        db.commit()
        raise
    prediction.run_id = run_id
    db.commit()
    return run_id


def wait_for_run(platform: Platform, run_id: str) -> RunView:
    """Block until the run finishes; ServiceUnavailableError past the profile wait limit."""
    deadline = time.monotonic() + platform.settings.profile_wait_seconds
    while True:
        run = platform.gateway.status(run_id)
        if run.is_finished:
            return run
        if time.monotonic() > deadline:
            raise ServiceUnavailableError(
                f"run {run_id} is still {run.status} after "
                f"{platform.settings.profile_wait_seconds:g} s; follow it at /api/v1/runs"
            )
        time.sleep(POLL_SECONDS)


@dataclass
class Removed:
    """What a removal deleted, by kind."""

    files: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


def remove_predictor(
    db: Session, platform: Platform, actor: Principal, predictor_id: int, removed: Removed
) -> None:
    """Delete a predictor that no run is writing: its gold tables, then its MLflow versions."""
    from lakehouse import registry

    predictor = predictors.get_predictor(db, actor, predictor_id)
    for run_id in predictors.writing_runs(db, predictor):
        run_state.ensure_idle(platform.gateway, run_id, f"training {predictor_id}", "id")
    model_name = predictor.tables.model_name
    catalog = open_catalog(platform.settings)
    tables, files = predictors.delete_predictor(db, actor, catalog, platform.landing, predictor_id)
    db.commit()
    removed.tables.extend(tables)
    removed.files.extend(files)
    if registry.delete_registered_model(platform.settings, model_name):
        removed.models.append(model_name)
    platform.models.evict(model_name)
    platform.forget_serving_state(actor.tenant_id, predictor_id)
    platform.gateway.delete_partition(PREDICTOR_PARTITIONS, str(predictor_id))


def remove_dataset(
    db: Session, platform: Platform, actor: Principal, dataset_id: int, removed: Removed
) -> None:
    """Delete a dataset that no run is writing, nor a request about to start one: its tables
    and its landed files."""
    dataset = datasets.get_dataset(db, actor, dataset_id)
    run_state.ensure_dataset_idle(platform.gateway, dataset)
    datasets.claim_run(db, dataset)  # a change that has not committed yet is refused
    catalog = open_catalog(platform.settings)
    removed.files.extend(f.file_name for f in dataset.files)
    removed.tables.extend(
        t.display_name for t in dataset.tables.all() if catalog.table_exists(t.identifier)
    )
    datasets.delete_dataset(db, actor, platform.landing, catalog, dataset_id)
    db.commit()
    platform.gateway.delete_partition(DATASET_PARTITIONS, str(dataset_id))


def discard_dataset(db: Session, platform: Platform, actor: Principal, dataset_id: int) -> None:
    """Remove a dataset a request made and cannot use; one a run still writes is left for a
    later removal, one whose creation was rolled back is already gone."""
    with contextlib.suppress(ConflictError, NotFoundError):
        remove_dataset(db, platform, actor, dataset_id, Removed())


def record_batch_prediction(
    db: Session, platform: Platform, actor: Principal, predictor_id: int, dataset_id: int
) -> Prediction:
    """Record a batch prediction of a dataset holding every feature the model cannot impute
    (the model's inputs say which: the version is loaded once, as for real-time requests)."""
    predictor = predictors.get_predictor(db, actor, predictor_id)
    predictors.refuse_forecast(predictor, "batch prediction")  # before loading its model
    model = platform.models.get(predictor.tables.model_name, predictors.servable(predictor))
    required = [f.column_name for f in model.inputs.values() if f.required]
    return predictors.create_batch_prediction(
        db, actor, open_catalog(platform.settings), predictor_id, dataset_id, required
    )
