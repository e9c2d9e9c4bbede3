"""The workbench's datasets: an upload lands, is ingested and validated by the usual run, and
answers the profile of the file; rows page from the silver table."""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import Annotated, Any, BinaryIO, cast

from litestar import Request, delete, get, post
from litestar.datastructures import UploadFile
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.orm import Session

from api import runs
from api.multipart import Form
from api.openapi import FILE, TEXT, documented_body
from api.platform import Platform
from api.security import requires_permission
from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets
from lakehouse.errors import InvalidInputError
from lakehouse.profiles.workbench import datasets as workbench
from lakehouse.profiles.workbench.projects import get_project
from lakehouse.store.models import Dataset
from lakehouse.store.workbench import WorkbenchDataset

log = logging.getLogger("strata.workbench")
READ = [requires_permission("datasets:read")]
MANAGE = [requires_permission("datasets:manage")]
Document = dict[str, Any]


def discard(db: Session, platform: Platform, actor: Principal, dataset_id: int) -> None:
    """Remove the Strata dataset of an upload that failed; a failure to is logged, not raised
    over the upload's own error (a run still writing it leaves it to the main API's delete)."""
    try:
        runs.discard_dataset(db, platform, actor, dataset_id)
    except Exception:
        log.exception("the dataset %s of a failed upload could not be removed", dataset_id)


def remove_workbench_dataset(
    db: Session, platform: Platform, actor: Principal, held: WorkbenchDataset
) -> None:
    """Delete a workbench dataset with its Strata dataset: tables and landed files."""
    dataset_id = held.dataset_id
    db.delete(held)
    db.flush()
    runs.remove_dataset(db, platform, actor, dataset_id, runs.Removed())


@post(
    "/upload/dataset",
    operation_id="workbench_upload_dataset",
    guards=MANAGE,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
    operation_class=documented_body({"file": FILE, "projectId": TEXT}, required=("file",)),
)
def upload_dataset(db: Session, platform: Platform, request: Request, form: Form) -> Document:
    """Upload a CSV, JSON or XLSX file (`file`), into a project (`projectId`) if given. It
    lands, is ingested and validated as a Strata dataset, and the answer profiles it: rows,
    columns, types, missing values, statistics and a sample. Over the workbench's size limit
    is a 413; a legacy `.xls` workbook, or a file that cannot be read, a 400."""
    actor: Principal = request.user
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise InvalidInputError("send the dataset in the multipart field 'file'", field="file")
    filename = PurePath(part.filename or "").name
    file_type = workbench.file_type_of(filename)
    project_id = form.get("projectId")
    if project_id is not None:
        if not isinstance(project_id, str):
            raise InvalidInputError("projectId must be a project's id", field="projectId")
        project_id = get_project(db, actor, project_id).id
    table_name = workbench.free_table_name(db, actor.tenant_id, filename)
    settings = platform.settings
    dataset = datasets.create_dataset(
        db,
        actor,
        platform.landing,
        datasets.NewDataset(table_name, usage="tp", iceberg_table_name=table_name),
        [datasets.Upload(filename, cast("BinaryIO", part.file))],
        settings.workbench_upload_bytes,
        settings.max_columns,
    )
    try:
        run = runs.wait_for_run(platform, runs.start_ingestion(db, platform, dataset))
        # Read and profiled in a session that writes nothing: no writer waits for it.
        with platform.store.session(writes=False) as reading:
            ingested = reading.get(Dataset, dataset.id)
            assert ingested is not None
            if not workbench.queryable(ingested):
                problem = ingested.validation_error or f"its ingestion run ended {run.status}"
                raise InvalidInputError(f"Failed to parse dataset: {problem}", field="file")
            profile = workbench.file_profile(platform.catalog, ingested)
            size = sum(f.size_bytes for f in ingested.files)
        db.refresh(dataset)  # as the run left it
        held = WorkbenchDataset(
            tenant_id=actor.tenant_id,
            project_id=project_id,
            dataset_id=dataset.id,
            table_name=table_name,
            filename=filename,
            file_type=file_type,
            size_bytes=size,
            profile=profile,
        )
        db.add(held)
        db.flush()
    except Exception:
        db.rollback()
        discard(db, platform, actor, dataset.id)
        raise
    return {"dataset": workbench.upload_document(held)}


@get("/datasets", operation_id="workbench_datasets", guards=READ, sync_to_thread=True)
def list_datasets(
    db: Session,
    request: Request,
    project_id: Annotated[str | None, Parameter(query="projectId", max_length=64)] = None,
) -> Document:
    """Your tenant's workbench datasets, of one project when `projectId` is given."""
    if project_id is not None:
        get_project(db, request.user, project_id)
    found = workbench.list_workbench_datasets(db, request.user, project_id)
    return {"datasets": [workbench.dataset_document(held) for held in found]}


@get(
    "/datasets/{dataset_id:str}/sample",
    operation_id="workbench_dataset_sample",
    guards=READ,
    sync_to_thread=True,
)
def dataset_sample(db: Session, request: Request, dataset_id: str) -> Document:
    """The first rows of the dataset, as profiled at upload."""
    held = workbench.get_workbench_dataset(db, request.user, dataset_id)
    profile = held.profile
    return {
        "sample": profile["sample"],
        "columns": profile["columns"],
        "rowCount": profile["n_rows"],
    }


@get(
    "/datasets/{dataset_id:str}/rows",
    operation_id="workbench_dataset_rows",
    guards=READ,
    sync_to_thread=True,
)
def dataset_rows(
    db: Session,
    platform: Platform,
    request: Request,
    dataset_id: str,
    offset: Annotated[int, Parameter(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=workbench.MAX_PAGE)] = workbench.DEFAULT_PAGE,
) -> Document:
    """A page of the dataset's validated rows in file order: from `offset` (0), `limit` rows
    (200 by default, at most 1000; more is a 400)."""
    held = workbench.get_workbench_dataset(db, request.user, dataset_id)
    return workbench.rows_page(platform.catalog, held, offset, limit)


@delete(
    "/datasets/{dataset_id:str}",
    operation_id="workbench_delete_dataset",
    guards=MANAGE,
    status_code=HTTP_204_NO_CONTENT,
    sync_to_thread=True,
)
def delete_dataset(db: Session, platform: Platform, request: Request, dataset_id: str) -> None:
    """Delete the dataset: its tables and its landed file."""
    held = workbench.get_workbench_dataset(db, request.user, dataset_id)
    remove_workbench_dataset(db, platform, request.user, held)


ROUTES = [upload_dataset, list_datasets, dataset_sample, dataset_rows, delete_dataset]
