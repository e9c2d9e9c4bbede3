"""What the jobs profile's requests carry: form fields, the CSV a request sends (a file, a merge
token or an earlier upload) as a dataset ready for use, the rows a page asks for, and a job's
state in the reference's words."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any, BinaryIO, cast

from litestar import Request
from litestar.datastructures import UploadFile
from sqlalchemy.orm import Session

from api import runs
from api.openapi import FILE, TEXT
from api.platform import Platform
from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets
from lakehouse.data.landing import safe_file_name
from lakehouse.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
)
from lakehouse.lake.lineage import LINEAGE
from lakehouse.lake.naming import table_name_from
from lakehouse.ml.spec import Attribute
from lakehouse.predictors import records
from lakehouse.profiles import jobs
from lakehouse.states import ValidationState
from lakehouse.store import Dataset, Prediction, TrainingJob
from pipelines.gateway import RunView

PAGE = 100


MAX_PAGE = 1000


STATUS = {
    "SUCCESS": "SUCCEEDED",
    "FAILURE": "FAILED",
    "CANCELED": "FAILED",
    "STARTED": "RUNNING",
    "CANCELING": "RUNNING",
}


DATASET_FIELDS = {"file": FILE, "merge_token": TEXT, "filename": TEXT}


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


def ensure_dataset(
    db: Session, platform: Platform, actor: Principal, name: str, stream: BinaryIO
) -> tuple[Dataset, str | None]:
    """The validated dataset holding this file: the one already uploaded under its name when
    its content is the same, else a new dataset (under a free name) ingested by a run."""
    name = safe_file_name(name)
    if PurePath(name).suffix.lower() != ".csv":
        raise InvalidInputError(f"'{name}' is not a CSV file (.csv)", field="file")
    digest = platform.landing.content_digest(stream)
    stem, info, candidate, attempt = PurePath(name).stem, None, name, 1
    while (
        existing := datasets.dataset_named(db, actor.tenant_id, candidate)
    ) is not None or datasets.table_in_use(db, actor.tenant_id, table_name_from(candidate)):
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
        with (
            platform.landing.local_copy(actor.tenant_id, relative) as path,
            path.open("rb") as stream,
        ):
            return ensure_dataset(db, platform, actor, path.name, stream)
    name = form_text(form, "filename")
    if name is not None:
        dataset = datasets.dataset_named(db, actor.tenant_id, name)
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
