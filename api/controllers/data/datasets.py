"""Datasets (module 6) and their files (module 7), landed per tenant."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import UploadFile
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.orm import Session

from api import runs
from api.downloads import landed_file
from api.multipart import Form
from api.openapi import FILES, documented_body
from api.platform import Platform
from api.schemas.base import PathId, QueryId, StatusMessage
from api.schemas.data import (
    DatasetLocation,
    DatasetPreview,
    DatasetsPublic,
    DatasetStatistics,
    DatasetSummary,
    DatasetUploaded,
    DatasetValidated,
    FileContent,
    FileDetail,
    FilePublic,
    FilesPublic,
    StatisticsSubmitted,
)
from api.security import requires_permission
from lakehouse.data import datasets
from lakehouse.data.formats import preview_lines
from lakehouse.data.landing import safe_file_name
from lakehouse.errors import InvalidInputError
from lakehouse.states import ValidationState
from lakehouse.store import DataFile, Dataset

READ = [requires_permission("datasets:read")]
MANAGE = [requires_permission("datasets:manage")]
PREVIEW_LINES = 20
PREVIEW_ROWS = 20
MAX_PREVIEW_ROWS = 1000


FILES_BODY = documented_body({"files": FILES}, required=("files",))


def uploads_of(form: dict[str, Any]) -> list[datasets.Upload]:
    """The `files` parts of a multipart form."""
    parts = form.get("files")
    parts = parts if isinstance(parts, list) else [parts] if parts is not None else []
    if not parts or not all(isinstance(part, UploadFile) for part in parts):
        raise InvalidInputError(
            "send one or more files in the multipart field 'files'", field="files"
        )
    return [datasets.Upload(part.filename, part.file) for part in parts]


def ingest_upload(
    db: Session, request: Request, platform: Platform, new: datasets.NewDataset, form: Form
) -> Dataset:
    """A new dataset of the form's files, its ingestion run started."""
    dataset = datasets.create_dataset(
        db,
        request.user,
        platform.landing,
        new,
        uploads_of(form),
        platform.settings.max_upload_bytes,
        platform.settings.max_columns,
    )
    runs.start_ingestion(db, platform, dataset)
    return dataset


def file_public(data_file: DataFile) -> FilePublic:
    fields = {name: getattr(data_file, name) for name in FilePublic.model_fields}
    # A file recorded before names were made safe may hold a NUL or a path: show it safe too.
    return FilePublic.model_validate({**fields, "file_name": safe_file_name(data_file.file_name)})


def dataset_summary(platform: Platform, dataset: Dataset) -> DatasetSummary:
    status, error = runs.dataset_state(platform.gateway, dataset)
    return DatasetSummary(
        tenant_id=dataset.tenant_id,
        dataset_name=dataset.dataset_name,
        file_count=len(dataset.files),
        is_valid=status == ValidationState.VALID,
        created_by=dataset.created_by,
        template_id=dataset.template_id,
        id=dataset.id,
        data_source=dataset.data_source,
        iceberg_table_name=dataset.iceberg_table_name,
        template_name=dataset.template.template_name if dataset.template else None,
        created_at=dataset.created_at,
        modified_at=dataset.modified_at,
        dataset_usability=datasets.usability_text(dataset),
        usage=dataset.usage,
        dataset_usage=datasets.USAGES[dataset.usage],
        validation_status=status,
        validation_error=error,
        last_run_id=dataset.last_run_id,
    )


def uploaded(dataset: Dataset, files: list[DataFile]) -> DatasetUploaded:
    return DatasetUploaded(
        dataset_id=dataset.id,
        dataset_name=dataset.dataset_name,
        data_source=dataset.data_source,
        files=[file_public(f) for f in files],
    )


class DatasetController(Controller):
    path = "/api/v1/dataset"
    tags = ["Dataset"]

    @post(
        "/upload",
        operation_id="upload_dataset",
        guards=MANAGE,
        status_code=HTTP_201_CREATED,
        sync_to_thread=True,
        operation_class=FILES_BODY,
    )
    def upload(
        self,
        db: Session,
        request: Request,
        platform: Platform,
        form: Form,
        dataset_name: Annotated[str, Parameter(min_length=1, max_length=255)],
        usage: Annotated[
            str,
            Parameter(
                description="t: training, p: prediction, tp: training and prediction",
                schema_extra={"enum": list(datasets.USAGES)},
            ),
        ],
        template_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
        iceberg_table_name: Annotated[str | None, Parameter(min_length=1, max_length=255)] = None,
    ) -> DatasetUploaded:
        """Create a dataset from one or more files (CSV, TSV, Parquet, JSON, NDJSON, XLSX)."""
        new = datasets.NewDataset(dataset_name, usage, template_id, iceberg_table_name)
        dataset = ingest_upload(db, request, platform, new, form)
        return uploaded(dataset, dataset.files)

    @get("/list", operation_id="list_datasets", guards=READ, sync_to_thread=True)
    def list_datasets(self, db: Session, request: Request, platform: Platform) -> DatasetsPublic:
        """The datasets of your tenant with their validation state."""
        data = [dataset_summary(platform, d) for d in datasets.list_datasets(db, request.user)]
        return DatasetsPublic(total=len(data), data=data)

    @get(
        "/list_validated", operation_id="list_validated_datasets", guards=READ, sync_to_thread=True
    )
    def list_validated(
        self, db: Session, request: Request, platform: Platform
    ) -> list[DatasetValidated]:
        """The datasets of your tenant that passed validation."""
        return [
            DatasetValidated.model_validate(
                dataset_summary(platform, d).model_dump(include=set(DatasetValidated.model_fields))
            )
            for d in datasets.list_datasets(db, request.user)
            if d.validation_status == ValidationState.VALID
        ]

    @get("/get_dataset_by_id", operation_id="get_dataset_by_id", guards=READ, sync_to_thread=True)
    def get_dataset_by_id(
        self, db: Session, request: Request, dataset_id: QueryId
    ) -> DatasetLocation:
        """Where a dataset's files and validated table are."""
        dataset = datasets.get_dataset(db, request.user, dataset_id)
        return DatasetLocation(
            dataset_name=dataset.dataset_name,
            dataset_path=f"{dataset.id}/",
            validated_path=dataset.tables.silver.display_name,
            iceberg_table_name=dataset.iceberg_table_name,
            data_source=dataset.data_source,
        )

    @get("/view", operation_id="view_dataset", guards=READ, sync_to_thread=True)
    def view(
        self,
        db: Session,
        request: Request,
        platform: Platform,
        dataset_id: QueryId,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PREVIEW_ROWS)] = PREVIEW_ROWS,
    ) -> DatasetPreview:
        """The first validated rows of a dataset: 20 by default, at most 1000."""
        dataset = datasets.get_dataset(db, request.user, dataset_id)
        rows = datasets.preview_rows(platform.catalog, dataset, limit)
        return DatasetPreview(preview=rows)

    @post(
        "/generate_statistics",
        operation_id="generate_statistics",
        guards=MANAGE,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def generate_statistics(
        self, db: Session, request: Request, platform: Platform, dataset_id: QueryId
    ) -> StatisticsSubmitted:
        """Start a run computing per-column statistics of the validated rows; job_id is its id."""
        dataset = datasets.get_dataset(db, request.user, dataset_id)
        run_id = runs.start_statistics(platform, dataset)
        return StatisticsSubmitted(
            status="success",
            message="Statistics generation job submitted successfully.",
            job_id=run_id,
        )

    @get("/statistics", operation_id="dataset_statistics", guards=READ, sync_to_thread=True)
    def statistics(
        self, db: Session, request: Request, platform: Platform, dataset_id: QueryId
    ) -> DatasetStatistics:
        """Per-column type, count, nulls, distinct, min, max, mean, std, quartiles, top values."""
        dataset = datasets.get_dataset(db, request.user, dataset_id)
        rows = datasets.read_statistics(platform.catalog, dataset)
        return DatasetStatistics(
            dataset_id=dataset.id,
            table=dataset.tables.statistics.display_name,
            statistics=rows,
        )

    @delete(
        "/delete/{dataset_id:int}",
        operation_id="delete_dataset",
        guards=MANAGE,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def delete(
        self, db: Session, request: Request, platform: Platform, dataset_id: PathId
    ) -> StatusMessage:
        """Delete a dataset and its files."""
        runs.remove_dataset(db, platform, request.user, dataset_id, runs.Removed())
        return StatusMessage(status_code=200, message="Dataset deleted successfully")


class FileController(Controller):
    path = "/api/v1/files"
    tags = ["File"]

    @post(
        "/add",
        operation_id="add_files",
        guards=MANAGE,
        status_code=HTTP_201_CREATED,
        sync_to_thread=True,
        operation_class=FILES_BODY,
    )
    def add(
        self,
        db: Session,
        request: Request,
        platform: Platform,
        form: Form,
        dataset_id: QueryId,
    ) -> DatasetUploaded:
        """Add files to a dataset."""
        dataset = datasets.get_dataset(db, request.user, dataset_id)
        runs.ensure_dataset_idle(platform.gateway, dataset)
        added = datasets.add_files(
            db,
            request.user,
            platform.landing,
            dataset,
            uploads_of(form),
            platform.settings.max_upload_bytes,
            platform.settings.max_columns,
        )
        runs.start_ingestion(db, platform, dataset)
        return uploaded(dataset, added)

    @delete(
        "/delete/{file_id:int}",
        operation_id="delete_file",
        guards=MANAGE,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def delete_file(
        self, db: Session, request: Request, platform: Platform, file_id: PathId
    ) -> StatusMessage:
        """Delete a file; the dataset is ingested and validated again without its rows."""
        dataset = datasets.get_file(db, request.user, file_id).dataset
        runs.ensure_dataset_idle(platform.gateway, dataset)
        runs.start_ingestion(  # the file goes only once its tenant has room for the run
            db,
            platform,
            dataset,
            prepare=lambda: datasets.delete_file(db, request.user, platform.landing, file_id),
        )
        return StatusMessage(status_code=200, message="File deleted successfully")

    @get("/list", operation_id="list_files", guards=READ, sync_to_thread=True)
    def list_files(self, db: Session, request: Request, dataset_id: QueryId) -> FilesPublic:
        """The files of a dataset."""
        files = [file_public(f) for f in datasets.get_dataset(db, request.user, dataset_id).files]
        return FilesPublic(total=len(files), data=files)

    @get("/get_file_by_id", operation_id="get_file_by_id", guards=READ, sync_to_thread=True)
    def get_file_by_id(self, db: Session, request: Request, file_id: QueryId) -> FileDetail:
        """One file, with the path `download` accepts."""
        data_file = datasets.get_file(db, request.user, file_id)
        return FileDetail(
            **file_public(data_file).model_dump(),
            csv_file_path=data_file.stored_path,
            hdf_file_path=None,
        )

    @get("/view", operation_id="view_file", guards=READ, sync_to_thread=True)
    def view(
        self, db: Session, request: Request, platform: Platform, file_id: QueryId
    ) -> FileContent:
        """The first lines of a file as text."""
        data_file = datasets.get_file(db, request.user, file_id)
        with platform.landing.local_copy(request.user.tenant_id, data_file.stored_path) as path:
            preview = preview_lines(path, data_file.file_name, PREVIEW_LINES)
        return FileContent(file_id=data_file.id, content_preview=preview)

    @get("/download", operation_id="download_file", guards=READ, sync_to_thread=True)
    def download(
        self,
        db: Session,
        request: Request,
        platform: Platform,
        file_path: Annotated[str | None, Parameter(min_length=1, max_length=1024)] = None,
        file_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
    ) -> Stream:
        """A file as uploaded, by `file_id` or by the `file_path` get_file_by_id reports."""
        tenant_id = request.user.tenant_id
        if file_id is not None:
            data_file = datasets.get_file(db, request.user, file_id)
            return landed_file(
                platform.landing, tenant_id, data_file.stored_path, data_file.file_name
            )
        if file_path is None:
            raise InvalidInputError("give file_id or file_path", field="file_path")
        name = PurePosixPath(file_path).name
        return landed_file(platform.landing, tenant_id, file_path, name.partition("_")[2] or name)
