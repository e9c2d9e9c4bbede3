"""The one place the API starts, awaits and undoes the platform's work, and reads a record's
state from its run, for every API surface alike: the contract's controllers and the profiles
start the same runs, refuse the same changes and delete the same way."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import inspect, update
from sqlalchemy.orm import Session

from api.platform import Platform
from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets
from lakehouse.errors import (
    ConflictError,
    NotFoundError,
    ServiceUnavailableError,
    StrataError,
    TooManyRequestsError,
)
from lakehouse.predictors import batch, records
from lakehouse.runs import (
    BATCH_PREDICTION_JOB,
    DATASET_INGESTION_JOB,
    DATASET_PARTITIONS,
    DATASET_STATISTICS_JOB,
    PREDICTOR_EVALUATION_JOB,
    PREDICTOR_PARTITIONS,
    PREDICTOR_SHAP_JOB,
    PREDICTOR_TRAINING_JOB,
    PREDICTOR_TRAINING_SHAP_JOB,
    SELFCHECK_JOB,
    batch_prediction_run_config,
    selfcheck_run_config,
)
from lakehouse.states import UNRECORDED, ValidationState, WorkState
from lakehouse.store import Dataset, Prediction, Predictor
from pipelines.gateway import TENANT_TAG, RunGateway, RunView

POLL_SECONDS = 0.1


def ensure_idle(gateway: RunGateway, run_id: str | None, what: str, field: str) -> None:
    """Refuse (409) to change `what` while its run writes it: one writer at a time."""
    if run_id is None:
        return
    try:
        run = gateway.status(run_id)
    except NotFoundError:
        return
    if not run.is_finished:
        raise ConflictError(
            f"{what} is being written by run {run.run_id} ({run.status}); "
            "wait for it to finish or terminate it first",
            field=field,
        )


def ensure_dataset_idle(gateway: RunGateway, dataset: Dataset) -> None:
    """Refuse (409) to change a dataset while a run writes its tables, or while another
    request, having committed its change, is starting the run that will."""
    if datasets.is_claimed(dataset):
        raise ConflictError(
            f"dataset {dataset.id} is being changed by another request; "
            "wait for its run to start and finish",
            field="dataset_id",
        )
    ensure_idle(gateway, dataset.last_run_id, f"dataset {dataset.id}", "dataset_id")


def record_state(
    gateway: RunGateway,
    status: str,
    error: str | None,
    run_id: str | None,
    purpose: str,
    failed: str = WorkState.FAILED,
) -> tuple[str, str | None]:
    """A record's state and error as stored, except that one whose run ended without recording
    its result shows as `failed`, with why, never as pending forever."""
    if status in UNRECORDED and run_id is not None:
        failure = run_failure(gateway, run_id, purpose)
        if failure is not None:
            return failed, failure
    return status, error


def dataset_state(gateway: RunGateway, dataset: Dataset) -> tuple[str, str | None]:
    """The dataset's validation state; a run that ended without a verdict shows as failed."""
    return record_state(
        gateway,
        dataset.validation_status,
        dataset.validation_error,
        dataset.last_run_id,
        "validation",
        ValidationState.FAILED,
    )


def training_state(gateway: RunGateway, predictor: Predictor) -> tuple[str, str | None]:
    """The training's state; a run that ended without a model shows as failed."""
    return record_state(
        gateway,
        predictor.training_status,
        predictor.training_error,
        predictor.last_run_id,
        "training",
    )


def shap_state(gateway: RunGateway, predictor: Predictor) -> str:
    """The state of the predictor's SHAP values; `not_started` before any run."""
    status = predictor.shap_status or WorkState.NOT_STARTED
    return record_state(gateway, status, None, predictor.shap_run_id, "SHAP")[0]


def evaluation_state(gateway: RunGateway, predictor: Predictor) -> tuple[str, str | None]:
    """The state of the predictor's evaluation; `not_started` before any run."""
    status = predictor.evaluation_status or WorkState.NOT_STARTED
    return record_state(
        gateway, status, predictor.evaluation_error, predictor.evaluation_run_id, "evaluation"
    )


def prediction_state(gateway: RunGateway, prediction: Prediction) -> tuple[str, str | None]:
    """A batch prediction's state; a run that ended without its CSV shows as failed."""
    return record_state(gateway, prediction.status, prediction.error, prediction.run_id, "batch")


def run_failure(gateway: RunGateway, run_id: str, purpose: str) -> str | None:
    """Why a run that should have recorded a result did not: it is gone, failed or canceled."""
    try:
        run = gateway.status(run_id)
    except NotFoundError:
        return f"{purpose} run {run_id} no longer exists"
    if run.status in ("FAILURE", "CANCELED"):
        return f"{purpose} run {run.run_id} ended {run.status}"
    return None


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
                with contextlib.suppress(NotFoundError, FileNotFoundError):
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


def submit_or_record_failure(
    db: Session,
    platform: Platform,
    tenant_id: str,
    launch: Callable[[], str],
    failed: Callable[[str], None],
) -> str:
    """Commit the request and start its run with `launch`. A run that cannot start is recorded
    by `failed` (given why) and committed; one refused for the tenant's run limit leaves the
    request rolled back."""
    try:
        return submit_committed(db, platform, tenant_id, launch)
    except TooManyRequestsError:
        raise
    except StrataError as exc:
        failed(exc.message)
        db.commit()
        raise


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
        dataset.validation_status = ValidationState.FAILED
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

    def failed(why: str) -> None:
        predictor.training_status = WorkState.FAILED
        predictor.training_error = f"training could not start: {why}"

    run_id = submit_or_record_failure(db, platform, predictor.tenant_id, launch, failed)
    predictor.last_run_id = run_id
    if predictor.shap_enabled:
        predictor.shap_status, predictor.shap_run_id = WorkState.SUBMITTED, run_id
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

    def failed(why: str) -> None:
        prediction.status, prediction.error = WorkState.FAILED, f"could not start: {why}"

    run_id = submit_or_record_failure(db, platform, prediction.tenant_id, launch, failed)
    prediction.run_id = run_id
    db.commit()
    return run_id


def start_statistics(platform: Platform, dataset: Dataset) -> str:
    """Start the run computing per-column statistics of a dataset's validated rows."""
    ensure_dataset_idle(platform.gateway, dataset)
    status, _ = dataset_state(platform.gateway, dataset)
    if status not in (ValidationState.VALID, ValidationState.INVALID):
        raise ConflictError(
            f"dataset {dataset.id} has no validated rows yet ({status})", field="dataset_id"
        )
    return platform.gateway.submit(
        DATASET_STATISTICS_JOB,
        partition_key=str(dataset.id),
        tags={TENANT_TAG: dataset.tenant_id},
    )


def start_shap(platform: Platform, predictor: Predictor) -> str:
    """Start the run computing SHAP values of the predictor's current version, once neither a
    training nor an earlier SHAP run writes it; the caller's commit records it."""
    for run_id in (predictor.last_run_id, predictor.shap_run_id):
        ensure_idle(platform.gateway, run_id, f"training {predictor.id}", "train_id")
    run_id = platform.gateway.submit(
        PREDICTOR_SHAP_JOB,
        partition_key=str(predictor.id),
        tags={TENANT_TAG: predictor.tenant_id},
    )
    predictor.shap_status, predictor.shap_run_id, predictor.shap_error = (
        WorkState.SUBMITTED,
        run_id,
        None,
    )
    return run_id


def start_evaluation(db: Session, platform: Platform, predictor: Predictor) -> str:
    """Start the run evaluating the predictor's current version, once no run writes it. The
    request is committed first, so the run's own record of its progress is never written over;
    a run that cannot start leaves the evaluation failed, saying why (a tenant at its run limit
    leaves it as it was)."""
    for run_id in (predictor.last_run_id, predictor.evaluation_run_id):
        ensure_idle(platform.gateway, run_id, f"predictor {predictor.id}", "modelId")
    predictor_id = predictor.id
    predictor.evaluation_status, predictor.evaluation_error = WorkState.SUBMITTED, None
    predictor.evaluation_run_id = None

    def launch() -> str:
        platform.gateway.add_partition(PREDICTOR_PARTITIONS, str(predictor_id))
        return platform.gateway.submit(
            PREDICTOR_EVALUATION_JOB,
            partition_key=str(predictor_id),
            tags={TENANT_TAG: predictor.tenant_id},
        )

    def failed(why: str) -> None:
        predictor.evaluation_status = WorkState.FAILED
        predictor.evaluation_error = f"the evaluation could not start: {why}"

    run_id = submit_or_record_failure(db, platform, predictor.tenant_id, launch, failed)
    db.execute(
        update(Predictor).where(Predictor.id == predictor_id).values(evaluation_run_id=run_id)
    )
    db.commit()
    return run_id


def start_selfcheck(platform: Platform, actor: Principal, rows: int, hold_seconds: float) -> str:
    """Start the platform self-check: rows written to an Iceberg table and read back."""
    return platform.gateway.submit(
        SELFCHECK_JOB,
        run_config=selfcheck_run_config(rows, hold_seconds),
        tags={TENANT_TAG: actor.tenant_id},
    )


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
    from lakehouse.ml import registry

    predictor = records.get_predictor(db, actor, predictor_id)
    for run_id in records.writing_runs(db, predictor):
        ensure_idle(platform.gateway, run_id, f"training {predictor_id}", "id")
    model_name = predictor.tables.model_name
    catalog = platform.catalog
    tables, files = records.delete_predictor(db, actor, catalog, platform.landing, predictor_id)
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
    ensure_dataset_idle(platform.gateway, dataset)
    datasets.claim_run(db, dataset)  # a change that has not committed yet is refused
    catalog = platform.catalog
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
    predictor = records.get_predictor(db, actor, predictor_id)
    records.refuse_forecast(predictor, "batch prediction")  # before loading its model
    model = platform.served(predictor)
    required = [f.column_name for f in model.inputs.values() if f.required]
    return batch.create_batch_prediction(
        db, actor, platform.catalog, predictor_id, dataset_id, required
    )
