"""The jobs profile's routes. A CSV becomes a dataset (landed, ingested into Iceberg by a Dagster
run); a job is a predictor trained by a Dagster run and registered in MLflow; scoring is a batch
prediction run. Responses keep the reference's field names; errors are `{"ok": false, "error":
...}`."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path, PurePath
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_202_ACCEPTED
from sqlalchemy.orm import Session

from api import runs
from api.downloads import landed_file
from api.errors import shaped_handlers
from api.multipart import Form
from api.openapi import ERROR_MODEL, FILE, TEXT, documented_body
from api.platform import Platform
from api.profiles.jobs.requests import (
    DATASET_FIELDS,
    form_file,
    form_text,
    job_state,
    page_of,
    scored_rows,
    uploaded_dataset,
    url,
)
from api.profiles.jobs.schemas import (
    JobLogs,
    JobParams,
    JobResult,
    JobsError,
    JobStatus,
    Merged,
    Scored,
    TrainStarted,
)
from api.security import requires_permission
from lakehouse.accounts.rbac import Principal
from lakehouse.data.landing import safe_file_name
from lakehouse.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from lakehouse.predictors import records
from lakehouse.predictors.batch import PREDICTIONS_FOLDER
from lakehouse.profiles import jobs
from lakehouse.states import WorkState

TRAIN = [requires_permission("models:train"), requires_permission("datasets:manage")]


PREDICT = [requires_permission("models:predict"), requires_permission("datasets:manage")]


MERGE = [requires_permission("datasets:manage")]


READ = [requires_permission("models:read")]


PLOTS = ("confusion_matrix.png", "confusion_matrix_normalized.png", "roc_curve.png")


def error_shape(_status: int, message: str, field: str | None) -> dict[str, Any]:
    """The jobs profile's errors: `{"ok": false, "error": ...}`, naming a field if any."""
    return {"ok": False, "error": message, **({"field": field} if field else {})}


@post(
    "/api/train",
    operation_id="jobs_train",
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
def train(request: Request, db: Session, platform: Platform, form: Form) -> TrainStarted:
    """Start training a classifier of `label` on a CSV with `model` (xgb, lgbm, rf, logreg)."""
    actor: Principal = request.user
    label = form_text(form, "label")
    if label is None:
        raise InvalidInputError("label names the column to predict and is required", field="label")
    model = form_text(form, "model") or "xgb"
    algorithm = jobs.algorithm_of(model)
    satellite = jobs.checked_satellite(form_text(form, "satellite") or "data")
    id_text = form_text(form, "id_columns", limit=4000)
    id_columns = [c.strip() for c in id_text.split(",") if c.strip()] if id_text else []
    dataset, info = uploaded_dataset(db, platform, actor, form)
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
    return TrainStarted(
        ok=True,
        message="Training started",
        job_id=job.id,
        status="PENDING",
        status_url=url(request, f"/api/train/{job.id}/status"),
        logs_url=url(request, f"/api/train/{job.id}/logs"),
        info=info,
    )


@get("/api/train/{job_id:str}/status", operation_id="jobs_status", guards=READ, sync_to_thread=True)
def status(request: Request, db: Session, platform: Platform, job_id: str) -> JobStatus:
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
        result = JobResult(
            accuracy=metrics.get("accuracy"),
            cv_mean=metrics.get("cv_accuracy_mean"),
            cv_std=metrics.get("cv_accuracy_std"),
            auc_score=metrics.get("roc_auc"),
            cm_image_path=f"runs:/{predictor.mlflow_run_id}/plots/confusion_matrix.png",
            cm_image_url=f"{media}/confusion_matrix.png",
            cm_norm_image_path=(
                f"runs:/{predictor.mlflow_run_id}/plots/confusion_matrix_normalized.png"
            ),
            cm_norm_image_url=f"{media}/confusion_matrix_normalized.png",
            model_path=f"models:/{predictor.tables.model_name}/{predictor.model_version}",
            model_url=f"/media/models/{job.id}/model.skops",
            elapsed_sec=ended - started if started and ended else None,
        )
    return JobStatus(
        ok=True,
        job_id=job.id,
        status=state,
        params=JobParams(
            data_path=job.data_path, satellite=job.satellite, model=job.model, label=job.label
        ),
        result=result,
        error=failure,
    )


@get("/api/train/{job_id:str}/logs", operation_id="jobs_logs", guards=READ, sync_to_thread=True)
def logs(
    request: Request,
    db: Session,
    platform: Platform,
    job_id: str,
    offset: Annotated[int, Parameter(ge=0, le=2**31)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=5000)] = 500,
) -> JobLogs:
    """The job's run log lines from `offset`; poll again from `next_offset`."""
    job = jobs.get_job(db, request.user, job_id)
    state, _, _ = job_state(platform, job)
    events = platform.gateway.logs(job.run_id, offset, limit) if job.run_id else []
    return JobLogs(
        ok=True,
        job_id=job.id,
        status=state,
        offset=offset,
        next_offset=offset + len(events),
        done=state in ("SUCCEEDED", "FAILED"),
        lines=[f"{e.level} {e.message}" for e in events],
    )


@post(
    "/api/predict",
    operation_id="jobs_predict",
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
def predict(request: Request, db: Session, platform: Platform, form: Form) -> Scored:
    """Score a CSV with a trained job's model (`job_id`, or the latest `model` [+ `satellite`]);
    answers rows `from_row` to `to_row` and a CSV of all of them."""
    actor: Principal = request.user
    job_id = form_text(form, "job_id", limit=36)
    model = form_text(form, "model")
    if job_id is not None:
        job = jobs.get_job(db, actor, job_id)
    elif model is not None:
        job = jobs.latest_job(db, actor, model, form_text(form, "satellite"))
    else:
        raise InvalidInputError(
            "name the model by job_id, or by model (and satellite)", field="job_id"
        )
    first, last = page_of(form)
    dataset, _ = uploaded_dataset(db, platform, actor, form)
    prediction = runs.record_batch_prediction(db, platform, actor, job.predictor_id, dataset.id)
    runs.wait_for_run(platform, runs.start_batch_prediction(db, platform, prediction))
    db.refresh(prediction)
    if prediction.status != WorkState.COMPLETED or prediction.result_path is None:
        raise InvalidInputError(f"scoring failed: {prediction.error}", field="file")
    rows = scored_rows(platform, db, prediction, dataset, job)
    return Scored(
        ok=True,
        satellite=job.satellite,
        job_id=job.id,
        from_row=first,
        to_row=min(last, len(rows) - 1),
        total_predicted=len(rows),
        csv_file=url(request, f"/media/{prediction.result_path}"),
        results=rows[first : last + 1],
    )


@post(
    "/api/merge",
    operation_id="jobs_merge",
    guards=MERGE,
    status_code=200,
    sync_to_thread=True,
    operation_class=documented_body({"file1": FILE, "file2": FILE}, required=("file1", "file2")),
)
def merge(request: Request, platform: Platform, form: Form) -> Merged:
    """Merge two CSVs with the same columns into one, and sign a token that trains on it."""
    actor: Principal = request.user
    parts = [form_file(form, name) for name in ("file1", "file2")]
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
        with platform.landing.write(actor.tenant_id, jobs.MERGE_FOLDER, merged_name) as target:
            rows = jobs.merge_files(sources[0], sources[1], target, platform.settings.max_columns)
    relative = platform.landing.relative_path(jobs.MERGE_FOLDER, merged_name)
    lifetime = platform.settings.merge_token_seconds
    token = platform.issuer.signer.sign(
        "merge", {"tid": actor.tenant_id, "rel": relative}, timedelta(seconds=lifetime)
    )
    return Merged(
        ok=True,
        message="Merge complete",
        merged_filename=PurePath(relative).name,
        merged_rows=rows,
        merged_url=url(request, f"/media/{relative}"),
        merge_token=token,
        expires_in=lifetime,
    )


@get("/media/{path:path}", operation_id="jobs_media", guards=READ, sync_to_thread=True)
def media(request: Request, db: Session, platform: Platform, path: str) -> Response[bytes] | Stream:
    """Files of your tenant: merged CSVs, scored CSVs, a job's plots and model."""
    from lakehouse.ml import registry

    actor: Principal = request.user
    parts = PurePath(path.lstrip("/")).parts
    if len(parts) == 2 and parts[0] in (jobs.MERGE_FOLDER, PREDICTIONS_FOLDER):
        if not actor.can("datasets:read"):
            raise PermissionDeniedError("this file needs the 'datasets:read' permission")
        return landed_file(platform.landing, actor.tenant_id, f"{parts[0]}/{parts[1]}", parts[1])
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
