"""The console's dataset pages: the tenant's datasets and an upload form, and a dataset's
files, validation report, validated rows, rejected rows and column statistics with charts."""

from __future__ import annotations

import json
from contextlib import suppress
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from api import runs
from api.console.session import MAX_NAME, PREFIX, form_id, form_status, page
from api.controllers.data.datasets import MANAGE, READ, ingest_upload
from api.controllers.platform.runs import visible_run
from api.multipart import Form
from api.platform import Platform
from api.schemas.base import PathId
from lakehouse.charts import histogram_figure, png
from lakehouse.data import datasets, templates
from lakehouse.errors import InvalidInputError, NotFoundError, StrataError
from lakehouse.lake.lineage import FAILED_EXPECTATIONS, FILE_ID, ROW_NUMBER
from lakehouse.states import ValidationState
from lakehouse.store import Dataset
from pipelines.gateway import RunView

PREVIEW_ROWS = 20
REJECT_ROWS = 50
WORKING = (ValidationState.PENDING, ValidationState.RUNNING)


def summary(platform: Platform, dataset: Dataset) -> dict[str, Any]:
    status, error = runs.dataset_state(platform.gateway, dataset)
    return {
        "id": dataset.id,
        "name": dataset.dataset_name,
        "status": status,
        "error": error,
        "working": status in WORKING,
        "usability": datasets.usability_text(dataset),
        "total_rows": dataset.total_rows,
        "passed_rows": dataset.passed_rows,
        "rejected_rows": (
            dataset.total_rows - dataset.passed_rows
            if dataset.total_rows is not None and dataset.passed_rows is not None
            else None
        ),
        "usage": datasets.USAGES.get(dataset.usage, dataset.usage),
        "template": dataset.template.template_name if dataset.template else None,
        "table": dataset.tables.silver.display_name,
        "created_at": dataset.created_at,
        "created_by": dataset.created_by,
    }


def list_page(
    request: Request[Any, Any, Any],
    db: Session,
    platform: Platform,
    status_code: int = 200,
    **form: Any,
) -> Template:
    found = [summary(platform, d) for d in datasets.list_datasets(db, request.user)]
    return page(
        request,
        "datasets.html",
        status_code,
        datasets=found,
        usages=datasets.USAGES,
        templates=templates.list_templates(db, request.user),
        **form,
    )


@get("/datasets", guards=READ, sync_to_thread=True, include_in_schema=False)
def dataset_list(request: Request[Any, Any, Any], db: Session, platform: Platform) -> Template:
    """The tenant's datasets with their state, usability and rows, and the upload form."""
    return list_page(request, db, platform)


@post("/datasets", guards=MANAGE, sync_to_thread=True, include_in_schema=False)
def upload(
    request: Request[Any, Any, Any], db: Session, platform: Platform, form: Form
) -> Response[Any]:
    """Upload files as a new dataset and start its validation; a refusal answers the form
    again with the error beside the field it names."""
    name = str(form.get("dataset_name") or "").strip()
    usage = str(form.get("usage") or "t")
    chosen = str(form.get("template_id") or "").strip()
    values = {"dataset_name": name, "usage": usage, "template_id": chosen}
    try:
        template_id = form_id(chosen, "template_id", "a template from the list") if chosen else None
        if not name or len(name) > MAX_NAME:
            raise InvalidInputError(
                f"name the dataset in 1 to {MAX_NAME} characters", field="dataset_name"
            )
        new = datasets.NewDataset(name, usage, template_id, None)
        dataset = ingest_upload(db, request, platform, new, form)
    except StrataError as exc:
        db.rollback()
        errors = {exc.field or "files": exc.message}
        return list_page(request, db, platform, form_status(exc), values=values, errors=errors)
    return Redirect(f"{PREFIX}/datasets/{dataset.id}", status_code=303)


def statistics_run(
    request: Request[Any, Any, Any], platform: Platform, run_id: str | None
) -> RunView | None:
    """The statistics run the page was asked to follow, if it is one of the tenant's."""
    if not run_id:
        return None
    try:
        return visible_run(platform, request.user, run_id)
    except NotFoundError:
        return None


def file_reports(dataset: Dataset) -> list[dict[str, Any]]:
    return [
        {
            "id": data_file.id,
            "name": data_file.file_name,
            "format": data_file.file_format,
            "size": data_file.size_bytes,
            "rows": data_file.total_records,
            "report": data_file.error_report,
        }
        for data_file in dataset.files
    ]


def statistics_of(platform: Platform, dataset: Dataset) -> list[dict[str, Any]] | None:
    try:
        rows = datasets.read_statistics(platform.catalog, dataset)
    except NotFoundError:
        return None
    for row in rows:
        row["top_values"] = json.loads(row["top_values"] or "[]")
        row["numeric"] = row["mean"] is not None
    return rows


@get("/datasets/{dataset_id:int}", guards=READ, sync_to_thread=True, include_in_schema=False)
def dataset_page(
    request: Request[Any, Any, Any], db: Session, platform: Platform, dataset_id: PathId
) -> Template:
    """A dataset: its files and their validation reports, the first validated rows, the
    rejected rows with the rules they failed, and column statistics."""
    dataset = datasets.get_dataset(db, request.user, dataset_id)
    about = summary(platform, dataset)
    preview: list[dict[str, Any]] | None = None
    rejects: list[dict[str, Any]] = []
    if not about["working"]:
        with suppress(StrataError):  # no validated rows: the page says so
            preview = datasets.preview_rows(platform.catalog, dataset, PREVIEW_ROWS)
        rejects = datasets.reject_rows(platform.catalog, dataset, REJECT_ROWS)
    reject_columns = [
        name
        for name in (rejects[0] if rejects else {})
        if not name.startswith("_") and name != "failed"
    ]
    statistics = None if about["working"] else statistics_of(platform, dataset)
    run = statistics_run(request, platform, request.query_params.get("statistics"))
    started = statistics is None and run is not None and not run.is_finished
    failed = statistics is None and run is not None and run.status != "SUCCESS" and run.is_finished
    return page(
        request,
        "dataset.html",
        refresh=about["working"] or started,
        statistics_started=started,
        statistics_failed=failed,
        dataset=about,
        files=file_reports(dataset),
        preview=preview,
        rejects=rejects,
        reject_columns=reject_columns,
        lineage={"file": FILE_ID, "row": ROW_NUMBER, "failed": FAILED_EXPECTATIONS},
        statistics=statistics,
    )


@post(
    "/datasets/{dataset_id:int}/statistics",
    guards=MANAGE,
    sync_to_thread=True,
    include_in_schema=False,
)
def compute_statistics(
    request: Request[Any, Any, Any], db: Session, platform: Platform, dataset_id: PathId
) -> Redirect:
    """Start the statistics run, then back to the dataset's page."""
    dataset = datasets.get_dataset(db, request.user, dataset_id)
    run_id = runs.start_statistics(platform, dataset)
    back = f"{PREFIX}/datasets/{dataset.id}?statistics={run_id}"
    return Redirect(back, status_code=303)


@get(
    "/datasets/{dataset_id:int}/histogram",
    guards=READ,
    sync_to_thread=True,
    include_in_schema=False,
)
def histogram(
    request: Request[Any, Any, Any],
    db: Session,
    platform: Platform,
    dataset_id: PathId,
    column: str,
) -> Response[bytes]:
    """A numeric column's histogram over the validated rows, as a PNG image."""
    dataset = datasets.get_dataset(db, request.user, dataset_id)
    values = datasets.numeric_values(platform.catalog, dataset, column)
    return Response(png(histogram_figure(column, values)), media_type="image/png")


ROUTES = [dataset_list, upload, dataset_page, compute_statistics, histogram]
