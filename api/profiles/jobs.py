"""The jobs profile: train a classifier from a CSV and follow it as a job, score a CSV, merge
two CSVs; with the main API's bearer tokens and tenancy.

A CSV becomes a dataset (landed, ingested into Iceberg by a Dagster run); a job is a
predictor trained by a Dagster run and registered in MLflow; scoring is a batch prediction
run. Responses keep the reference's field names; errors are `{"ok": false, "error": ...}`.
"""

from __future__ import annotations

import hashlib
import tempfile
from datetime import timedelta
from pathlib import Path, PurePath
from typing import Annotated, Any, BinaryIO, cast

from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import File
from litestar.status_codes import HTTP_202_ACCEPTED
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import runs
from api.errors import shaped_handlers
from api.openapi import ERROR_MODEL, FILE, TEXT, documented_body
from api.platform import Platform
from api.security import requires_permission
from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets
from lakehouse.data.landing import safe_file_name
from lakehouse.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from lakehouse.lake.lineage import LINEAGE
from lakehouse.lake.naming import table_name_from
from lakehouse.ml.spec import Attribute
from lakehouse.predictors import records
from lakehouse.profiles import jobs
from lakehouse.states import ValidationState, WorkState
from lakehouse.store import Dataset, Prediction, TrainingJob
from pipelines.gateway import RunView

TRAIN = [requires_permission("models:train"), requires_permission("datasets:manage")]
PREDICT = [requires_permission("models:predict"), requires_permission("datasets:manage")]
MERGE = [requires_permission("datasets:manage")]
READ = [requires_permission("models:read")]
Multipart = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
PAGE = 100
MAX_PAGE = 1000
STATUS = {
    "SUCCESS": "SUCCEEDED",
    "FAILURE": "FAILED",
    "CANCELED": "FAILED",
    "STARTED": "RUNNING",
    "CANCELING": "RUNNING",
}
PLOTS = ("confusion_matrix.png", "confusion_matrix_normalized.png", "roc_curve.png")


class JobsError(BaseModel):
    """The jobs profile's error body."""

    ok: bool
    error: str
    field: str | None = None


DATASET_FIELDS = {"file": FILE, "merge_token": TEXT, "filename": TEXT}


def error_shape(_status: int, message: str, field: str | None) -> dict[str, Any]:
    """The jobs profile's errors: `{"ok": false, "error": ...}`, naming a field if any."""
    return {"ok": False, "error": message, **({"field": field} if field else {})}


def form_text(form: dict[str, Any], name: str, limit: int = 255) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInputError(f"{name} must be text of at most {limit} characters", field=name)
    return value.strip()


def form_file(form: dict[str, Any], name: str) -> UploadFile | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, UploadFile):
        raise InvalidInputError(f"{name} must be a file", field=name)
    return value


def checksum(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def dataset_named(db: Session, actor: Principal, name: str) -> Dataset | None:
    return db.scalar(
        select(Dataset).where(Dataset.tenant_id == actor.tenant_id, Dataset.dataset_name == name)
    )


def table_taken(db: Session, actor: Principal, name: str) -> bool:
    """Whether another dataset's table has the name this file's dataset would get."""
    return (
        db.scalar(
            select(Dataset.id).where(
                Dataset.tenant_id == actor.tenant_id,
                Dataset.iceberg_table_name == table_name_from(name),
            )
        )
        is not None
    )


def ensure_dataset(
    db: Session, platform: Platform, actor: Principal, name: str, stream: BinaryIO
) -> tuple[Dataset, str | None]:
    """The validated dataset holding this file: the one already uploaded under its name when
    its content is the same, else a new dataset (under a free name) ingested by a run."""
    name = safe_file_name(name)
    if PurePath(name).suffix.lower() != ".csv":
        raise InvalidInputError(f"'{name}' is not a CSV file (.csv)", field="file")
    digest = checksum(stream)
    stem, info, candidate, attempt = PurePath(name).stem, None, name, 1
    while (existing := dataset_named(db, actor, candidate)) is not None or table_taken(
        db, actor, candidate
    ):
        if existing is not None and [f.sha256 for f in existing.files] == [digest]:
            return ready(db, platform, existing), f"File exists. Using existing: {candidate}"
        attempt += 1
        candidate = f"{stem}-{attempt}.csv"
        info = f"A different {name} exists; this file is stored as {candidate}"
    dataset = datasets.create_dataset(
        db,
        actor,
        platform.landing,
        datasets.NewDataset(candidate, usage="tp"),
        [datasets.Upload(candidate, stream)],
        platform.settings.max_upload_bytes,
        platform.settings.max_columns,
    )
    runs.start_ingestion(db, platform, dataset)
    return ready(db, platform, dataset), info


def ready(db: Session, platform: Platform, dataset: Dataset) -> Dataset:
    """The dataset once its ingestion finished; InvalidInputError when its rows failed."""
    if (
        dataset.validation_status in (ValidationState.PENDING, ValidationState.RUNNING)
        and dataset.last_run_id
    ):
        runs.wait_for_run(platform, dataset.last_run_id)
        db.refresh(dataset)
    if dataset.validation_status != ValidationState.VALID:
        problem = dataset.validation_error or dataset.validation_status
        raise InvalidInputError(
            f"'{dataset.dataset_name}' did not pass validation: {problem}", field="file"
        )
    return dataset


def uploaded_dataset(
    db: Session, platform: Platform, actor: Principal, form: dict[str, Any]
) -> tuple[Dataset, str | None]:
    """The dataset a request names: an uploaded `file`, a `merge_token`, or the `filename`
    of a file uploaded before."""
    upload = form_file(form, "file")
    if upload is not None:
        return ensure_dataset(db, platform, actor, upload.filename, cast("BinaryIO", upload.file))
    token = form_text(form, "merge_token", limit=4096)
    if token is not None:
        relative = merge_file_of(platform, actor, token)
        path = platform.landing.resolve(actor.tenant_id, relative)
        with path.open("rb") as stream:
            return ensure_dataset(db, platform, actor, path.name, stream)
    name = form_text(form, "filename")
    if name is not None:
        dataset = dataset_named(db, actor, name)
        if dataset is None:
            raise NotFoundError(f"no uploaded file named '{name}'", field="filename")
        return ready(db, platform, dataset), f"File exists. Using existing: {name}"
    raise InvalidInputError(
        "send a CSV in 'file', a 'merge_token' from /api/merge, or the 'filename' of an "
        "uploaded file",
        field="file",
    )


def merge_file_of(platform: Platform, actor: Principal, token: str) -> str:
    """The merged file a merge token names; a token of another tenant, altered or expired,
    is refused."""
    try:
        claims = platform.issuer.signer.read(
            "merge", token, required=("tid", "rel"), what="merge_token"
        )
    except AuthenticationError as exc:
        raise InvalidInputError(exc.message, field="merge_token") from exc
    relative = str(claims["rel"])
    if claims["tid"] != actor.tenant_id or not relative.startswith(f"{jobs.MERGE_FOLDER}/"):
        raise InvalidInputError("merge_token is invalid", field="merge_token")
    return relative


def url(request: Request, path: str) -> str:
    return f"{str(request.base_url).rstrip('/')}{path}"


def job_state(platform: Platform, job: TrainingJob) -> tuple[str, RunView | None, str | None]:
    """The job's status in the reference's words, its run, and why it failed."""
    predictor = job.predictor
    if job.run_id is None:
        return "FAILED", None, predictor.training_error or "the training run did not start"
    try:
        run = platform.gateway.status(job.run_id)
    except NotFoundError:
        return "FAILED", None, f"training run {job.run_id} no longer exists"
    status = STATUS.get(run.status, "PENDING")
    if status == "SUCCEEDED" and predictor.model_version is None:
        return "FAILED", run, predictor.training_error or "the run ended without a model"
    if status == "FAILED":
        failure = runs.run_failure(platform.gateway, job.run_id, "training")
        return status, run, predictor.training_error or failure
    return status, run, None


@post(
    "/api/train",
    guards=TRAIN,
    status_code=HTTP_202_ACCEPTED,
    sync_to_thread=True,
    operation_class=documented_body(
        {**DATASET_FIELDS, "label": TEXT, "model": TEXT, "satellite": TEXT, "id_columns": TEXT},
        required=("label",),
        description="the dataset as a CSV `file`, a `merge_token` or the `filename` of an "
        "earlier upload",
    ),
)
def train(request: Request, db: Session, platform: Platform, data: Multipart) -> dict[str, Any]:
    """Start training a classifier of `label` on a CSV with `model` (xgb, lgbm, rf, logreg)."""
    actor: Principal = request.user
    label = form_text(data, "label")
    if label is None:
        raise InvalidInputError("label names the column to predict and is required", field="label")
    model = form_text(data, "model") or "xgb"
    algorithm = jobs.algorithm_of(model)
    satellite = jobs.checked_satellite(form_text(data, "satellite") or "data")
    id_text = form_text(data, "id_columns", limit=4000)
    id_columns = [c.strip() for c in id_text.split(",") if c.strip()] if id_text else []
    dataset, info = uploaded_dataset(db, platform, actor, data)
    catalog = platform.catalog
    table = records.validated_table(catalog, dataset).scan().to_arrow()
    columns = jobs.column_roles(table, label, id_columns)
    job_id = jobs.new_job_id()
    predictor = records.create_predictor(
        db,
        actor,
        catalog,
        records.NewPredictor(
            dataset_id=dataset.id,
            predictor_name=f"{satellite}_{model.lower()}_{job_id[:8]}",
            domain=satellite,
            problem_type="Classification",
            columns=columns,
            algorithm=algorithm.value,
        ),
    )
    job = jobs.new_job(
        db, actor, job_id, predictor, dataset.dataset_name, satellite, model.lower(), label
    )
    job.run_id = runs.start_training(db, platform, predictor)
    db.commit()
    return {
        "ok": True,
        "message": "Training started",
        "job_id": job.id,
        "status": "PENDING",
        "status_url": url(request, f"/api/train/{job.id}/status"),
        "logs_url": url(request, f"/api/train/{job.id}/logs"),
        "info": info,
    }


@get("/api/train/{job_id:str}/status", guards=READ, sync_to_thread=True)
def status(request: Request, db: Session, platform: Platform, job_id: str) -> dict[str, Any]:
    """The job's state and, once it succeeded, its metrics, plots and model."""
    from lakehouse.ml import registry

    job = jobs.get_job(db, request.user, job_id)
    state, run, failure = job_state(platform, job)
    result = None
    predictor = job.predictor
    if state == "SUCCEEDED" and predictor.mlflow_run_id is not None:
        metrics = registry.training_run(platform.settings, predictor.mlflow_run_id).metrics
        started = run.start_time if run is not None else None
        ended = run.end_time if run is not None else None
        media = f"/media/plots/{job.id}"
        result = {
            "accuracy": metrics.get("accuracy"),
            "cv_mean": metrics.get("cv_accuracy_mean"),
            "cv_std": metrics.get("cv_accuracy_std"),
            "auc_score": metrics.get("roc_auc"),
            "cm_image_path": f"runs:/{predictor.mlflow_run_id}/plots/confusion_matrix.png",
            "cm_image_url": f"{media}/confusion_matrix.png",
            "cm_norm_image_path": (
                f"runs:/{predictor.mlflow_run_id}/plots/confusion_matrix_normalized.png"
            ),
            "cm_norm_image_url": f"{media}/confusion_matrix_normalized.png",
            "model_path": f"models:/{predictor.tables.model_name}/{predictor.model_version}",
            "model_url": f"/media/models/{job.id}/model.skops",
            "elapsed_sec": ended - started if started and ended else None,
        }
    return {
        "ok": True,
        "job_id": job.id,
        "status": state,
        "params": {
            "data_path": job.data_path,
            "satellite": job.satellite,
            "model": job.model,
            "label": job.label,
        },
        "result": result,
        "error": failure,
    }


@get("/api/train/{job_id:str}/logs", guards=READ, sync_to_thread=True)
def logs(
    request: Request,
    db: Session,
    platform: Platform,
    job_id: str,
    offset: Annotated[int, Parameter(ge=0, le=2**31)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """The job's run log lines from `offset`; poll again from `next_offset`."""
    job = jobs.get_job(db, request.user, job_id)
    state, _, _ = job_state(platform, job)
    events = platform.gateway.logs(job.run_id, offset, limit) if job.run_id else []
    return {
        "ok": True,
        "job_id": job.id,
        "status": state,
        "offset": offset,
        "next_offset": offset + len(events),
        "done": state in ("SUCCEEDED", "FAILED"),
        "lines": [f"{e.level} {e.message}" for e in events],
    }


@post(
    "/api/predict",
    guards=PREDICT,
    status_code=200,
    sync_to_thread=True,
    operation_class=documented_body(
        {
            **DATASET_FIELDS,
            "job_id": TEXT,
            "model": TEXT,
            "satellite": TEXT,
            "from_row": TEXT,
            "to_row": TEXT,
        },
        description="the model by `job_id` or by `model` (and `satellite`); the rows as for "
        "/api/train",
    ),
)
def predict(request: Request, db: Session, platform: Platform, data: Multipart) -> dict[str, Any]:
    """Score a CSV with a trained job's model (`job_id`, or the latest `model` [+ `satellite`]);
    answers rows `from_row` to `to_row` and a CSV of all of them."""
    actor: Principal = request.user
    job_id = form_text(data, "job_id", limit=36)
    model = form_text(data, "model")
    if job_id is not None:
        job = jobs.get_job(db, actor, job_id)
    elif model is not None:
        job = jobs.latest_job(db, actor, model, form_text(data, "satellite"))
    else:
        raise InvalidInputError(
            "name the model by job_id, or by model (and satellite)", field="job_id"
        )
    first, last = page_of(data)
    dataset, _ = uploaded_dataset(db, platform, actor, data)
    prediction = runs.record_batch_prediction(db, platform, actor, job.predictor_id, dataset.id)
    runs.wait_for_run(platform, runs.start_batch_prediction(db, platform, prediction))
    db.refresh(prediction)
    if prediction.status != WorkState.COMPLETED or prediction.result_path is None:
        raise InvalidInputError(f"scoring failed: {prediction.error}", field="file")
    rows = scored_rows(platform, db, prediction, dataset, job)
    return {
        "ok": True,
        "satellite": job.satellite,
        "job_id": job.id,
        "from_row": first,
        "to_row": min(last, len(rows) - 1),
        "total_predicted": len(rows),
        "csv_file": url(request, f"/media/{prediction.result_path}"),
        "results": rows[first : last + 1],
    }


def page_of(form: dict[str, Any]) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        text = form_text(form, name, limit=12)
        if text is None:
            return default
        if not (text.isascii() and text.isdecimal()):
            raise InvalidInputError(f"{name} must be a whole number from 0", field=name)
        return int(text)

    first = number("from_row", 0)
    last = number("to_row", first + PAGE - 1)
    if last < first or last - first >= MAX_PAGE:
        raise InvalidInputError(
            f"to_row must be from from_row to from_row + {MAX_PAGE - 1}", field="to_row"
        )
    return first, last


def scored_rows(
    platform: Platform, db: Session, prediction: Prediction, dataset: Dataset, job: TrainingJob
) -> list[dict[str, Any]]:
    from pyiceberg.expressions import EqualTo

    catalog = platform.catalog
    predictor = job.predictor
    scored = (
        catalog.load_table(predictor.tables.predictions.identifier)
        .scan(row_filter=cast(Any, EqualTo)("prediction_id", prediction.id))
        .to_arrow()
    )
    validated = records.validated_table(catalog, dataset)
    present = {f.name for f in validated.schema().fields}
    label = job.label if job.label in present else None
    fields = (*LINEAGE, *([label] if label else []))
    rows = validated.scan(selected_fields=fields).to_arrow()
    ids = records.columns_in_role(predictor.columns, Attribute.ID)
    return jobs.labelled_rows(scored, rows, ids, label)


@post(
    "/api/merge",
    guards=MERGE,
    status_code=200,
    sync_to_thread=True,
    operation_class=documented_body({"file1": FILE, "file2": FILE}, required=("file1", "file2")),
)
def merge(request: Request, platform: Platform, data: Multipart) -> dict[str, Any]:
    """Merge two CSVs with the same columns into one, and sign a token that trains on it."""
    actor: Principal = request.user
    parts = [form_file(data, name) for name in ("file1", "file2")]
    if parts[0] is None or parts[1] is None:
        raise InvalidInputError("send two CSVs in 'file1' and 'file2'", field="file1")
    names = [safe_file_name(p.filename) for p in parts if p is not None]
    with tempfile.TemporaryDirectory(prefix="strata-merge-") as scratch:
        sources = []
        for index, (part, name) in enumerate(zip(parts, names, strict=True), start=1):
            if PurePath(name).suffix.lower() != ".csv":
                raise InvalidInputError(f"'{name}' is not a CSV file (.csv)", field=f"file{index}")
            path = Path(scratch) / f"{index}.csv"
            assert part is not None
            with path.open("wb") as sink:
                part.file.seek(0)
                while chunk := part.file.read(1024 * 1024):
                    sink.write(chunk)
            sources.append((path, name))
        merged_name = jobs.merged_name(*names)
        target = platform.landing.place(actor.tenant_id, jobs.MERGE_FOLDER, merged_name)
        rows = jobs.merge_files(sources[0], sources[1], target, platform.settings.max_columns)
    relative = f"{jobs.MERGE_FOLDER}/{target.name}"
    lifetime = platform.settings.merge_token_seconds
    token = platform.issuer.signer.sign(
        "merge", {"tid": actor.tenant_id, "rel": relative}, timedelta(seconds=lifetime)
    )
    return {
        "ok": True,
        "message": "Merge complete",
        "merged_filename": target.name,
        "merged_rows": rows,
        "merged_url": url(request, f"/media/{relative}"),
        "merge_token": token,
        "expires_in": lifetime,
    }


@get("/media/{path:path}", guards=READ, sync_to_thread=True)
def media(request: Request, db: Session, platform: Platform, path: str) -> Response[bytes] | File:
    """Files of your tenant: merged CSVs, scored CSVs, a job's plots and model."""
    from lakehouse.ml import registry

    actor: Principal = request.user
    parts = PurePath(path.lstrip("/")).parts
    if len(parts) == 2 and parts[0] in (jobs.MERGE_FOLDER, "predictions"):
        if not actor.can("datasets:read"):
            raise PermissionDeniedError("this file needs the 'datasets:read' permission")
        found = platform.landing.resolve(actor.tenant_id, f"{parts[0]}/{parts[1]}")
        return File(found, filename=found.name)
    if len(parts) == 3 and parts[0] == "plots" and parts[2] in PLOTS:
        predictor = jobs.get_job(db, actor, parts[1]).predictor
        if predictor.mlflow_run_id is not None:
            image = registry.run_artifact_bytes(
                platform.settings, predictor.mlflow_run_id, f"plots/{parts[2]}"
            )
            return Response(image, media_type="image/png")
    if len(parts) == 3 and parts[0] == "models" and parts[2] == "model.skops":
        predictor = jobs.get_job(db, actor, parts[1]).predictor
        if predictor.model_version is not None:
            from lakehouse.model_files import PIPELINE

            with tempfile.TemporaryDirectory(prefix="strata-media-") as scratch:
                directory = registry.model_directory(
                    platform.settings,
                    predictor.tables.model_name,
                    predictor.model_version,
                    Path(scratch),
                )
                content = (directory / PIPELINE).read_bytes()
            return Response(
                content,
                media_type="application/octet-stream",
                headers={"Content-Disposition": f'attachment; filename="{parts[1]}.skops"'},
            )
    raise NotFoundError(f"no media at '{path}'", field="path")


def jobs_router() -> Router:
    return Router(
        path="/",
        route_handlers=[train, status, logs, predict, merge, media],
        tags=["Jobs"],
        opt={ERROR_MODEL: JobsError},
        exception_handlers=shaped_handlers(error_shape),
    )
