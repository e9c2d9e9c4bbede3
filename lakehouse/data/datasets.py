"""Datasets: uploaded files of a tenant, landed raw and measured, before ingestion runs."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value

from lakehouse.accounts.rbac import Principal
from lakehouse.data import templates
from lakehouse.data.formats import UnreadableFileError, format_of, read_table
from lakehouse.data.landing import LandedFile, LandingStore, safe_file_name
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError
from lakehouse.lake.catalog import drop_table, load_table_or_none
from lakehouse.lake.lineage import BOOKKEEPING, FAILED_EXPECTATIONS
from lakehouse.lake.naming import table_name_from
from lakehouse.states import ValidationState
from lakehouse.store.models import DataFile, Dataset, Template, utcnow
from lakehouse.store.owned import get_owned

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

USAGES: dict[str, str] = {
    "t": "Training",
    "p": "Prediction",
    "tp": "Training and prediction",
}
UPLOAD_LOCK = "strata.landing_upload_lock"
# Files in object storage younger than this are never taken for leftovers (see sweep_landing).
OBJECT_SWEEP_AGE = timedelta(days=1)
# A claim whose request died between its commit and its run's start frees the dataset then.
RUN_CLAIM_SECONDS = 60.0


@dataclass(frozen=True)
class Upload:
    """A file as the client sent it: its name and a stream of its bytes."""

    file_name: str
    stream: BinaryIO


@dataclass(frozen=True)
class NewDataset:
    dataset_name: str
    usage: str
    template_id: int | None = None
    iceberg_table_name: str | None = None


def get_dataset(session: Session, actor: Principal, dataset_id: int) -> Dataset:
    """A dataset of the caller's tenant; any other dataset is not found."""
    return get_owned(session, Dataset, dataset_id, actor.tenant_id, "dataset", "dataset_id")


def get_file(session: Session, actor: Principal, file_id: int) -> DataFile:
    """A file of the caller's tenant; any other file is not found."""
    return get_owned(session, DataFile, file_id, actor.tenant_id, "file", "file_id")


def claim_run(session: Session, dataset: Dataset) -> None:
    """Make the caller's request the one whose run writes the dataset next, in its own
    transaction: one conditional UPDATE, so that of concurrent requests exactly one gets it
    (the database serialises them on the row) and the others are refused (409) before they
    commit anything. The claim stands from the request's commit until release_run records its
    run, which is when a reader of `last_run_id` alone would still see the previous, finished
    run; a claim older than RUN_CLAIM_SECONDS is one whose request died, and is taken over."""
    now = time.time()
    token = secrets.token_hex(16)
    claimed = session.execute(
        update(Dataset)
        .where(
            Dataset.id == dataset.id,
            or_(Dataset.run_claim.is_(None), Dataset.run_claimed_at < now - RUN_CLAIM_SECONDS),
        )
        .values(run_claim=token, run_claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            f"dataset {dataset.id} is being changed by another request; "
            "wait for its run to start and finish",
            field="dataset_id",
        )
    set_committed_value(dataset, "run_claim", token)
    set_committed_value(dataset, "run_claimed_at", now)


def release_run(dataset: Dataset, run_id: str | None) -> None:
    """End the request's claim, recording the run it started (None: none could start)."""
    if run_id is not None:
        dataset.last_run_id = run_id
    dataset.run_claim = None
    dataset.run_claimed_at = None


def is_claimed(dataset: Dataset) -> bool:
    """Whether a live request is about to start a run writing the dataset."""
    claimed_at = dataset.run_claimed_at
    return (
        dataset.run_claim is not None
        and claimed_at is not None
        and claimed_at >= time.time() - RUN_CLAIM_SECONDS
    )


def list_datasets(session: Session, actor: Principal) -> Sequence[Dataset]:
    query = select(Dataset).where(Dataset.tenant_id == actor.tenant_id).order_by(Dataset.id)
    return session.scalars(query).all()


def table_owner(session: Session, tenant_id: str, table_name: str) -> str | None:
    """Who created the dataset a table of this tenant belongs to (`name`, `name__rejects`...)."""
    base = table_name.split("__", 1)[0]
    return session.scalar(
        select(Dataset.created_by).where(
            Dataset.tenant_id == tenant_id, Dataset.iceberg_table_name == base
        )
    )


def dataset_named(session: Session, tenant_id: str, name: str) -> Dataset | None:
    """The tenant's dataset of this name, if any."""
    return session.scalar(
        select(Dataset).where(Dataset.tenant_id == tenant_id, Dataset.dataset_name == name)
    )


def table_in_use(session: Session, tenant_id: str, table: str) -> bool:
    """Whether a dataset of the tenant already lands as `table`."""
    used = select(Dataset.id).where(
        Dataset.tenant_id == tenant_id, Dataset.iceberg_table_name == table
    )
    return session.scalar(used) is not None


def create_dataset(
    session: Session,
    actor: Principal,
    landing: LandingStore,
    new: NewDataset,
    uploads: Sequence[Upload],
    max_bytes: int,
    max_columns: int | None = None,
) -> Dataset:
    """Record a dataset and land its files; on any error nothing is kept."""
    if new.usage not in USAGES:
        known = ", ".join(f"'{code}' ({meaning})" for code, meaning in USAGES.items())
        raise InvalidInputError(f"usage must be one of {known}", field="usage")
    template = None
    if new.template_id is not None:
        template = templates.get_template(session, actor, new.template_id)
    table = table_name_from(new.iceberg_table_name or new.dataset_name)
    if dataset_named(session, actor.tenant_id, new.dataset_name) is not None:
        raise ConflictError(f"dataset '{new.dataset_name}' already exists", field="dataset_name")
    if table_in_use(session, actor.tenant_id, table):
        raise ConflictError(
            f"table '{table}' is used by another dataset", field="iceberg_table_name"
        )
    if not uploads:
        raise InvalidInputError("at least one file is required", field="files")
    dataset = Dataset(
        tenant_id=actor.tenant_id,
        dataset_name=new.dataset_name,
        usage=new.usage,
        template_id=template.id if template is not None else None,
        iceberg_table_name=table,
        data_source=format_of(safe_file_name(uploads[0].file_name)).value,
        created_by=actor.username,
        validation_status=ValidationState.PENDING,
    )
    session.add(dataset)
    session.flush()
    hold_landing(session, landing)
    # SQLite gives a new row the id of a dataset rolled back or deleted last: whatever an
    # interrupted upload or deletion left in that id's folder is not this dataset's.
    landing.remove_dataset(actor.tenant_id, dataset.id)
    try:
        add_files(session, actor, landing, dataset, uploads, max_bytes, max_columns)
    except BaseException:
        landing.remove_dataset(actor.tenant_id, dataset.id)
        raise
    return dataset


def add_files(
    session: Session,
    actor: Principal,
    landing: LandingStore,
    dataset: Dataset,
    uploads: Sequence[Upload],
    max_bytes: int,
    max_columns: int | None = None,
) -> list[DataFile]:
    """Land and measure files of a dataset; a file that cannot be read, or has more than
    `max_columns` columns, keeps none of them. Each file is stored under its safe name."""
    if not uploads:
        raise InvalidInputError("at least one file is required", field="files")
    names = [safe_file_name(upload.file_name) for upload in uploads]
    for name in names:
        format_of(name)  # refuse an unsupported extension before copying anything
    hold_landing(session, landing)
    landed: list[LandedFile] = []
    try:
        added = []
        for upload, name in zip(uploads, names, strict=True):
            with landing.receive(
                actor.tenant_id, dataset.id, name, upload.stream, max_bytes
            ) as file:
                table = read_table(file.path, name, max_columns)
                _check_column_names(table.column_names, name)
                if dataset.template is not None:
                    _check_template_columns(dataset.template, table.column_names, name)
            landed.append(file)
            added.append(
                DataFile(
                    dataset_id=dataset.id,
                    tenant_id=actor.tenant_id,
                    file_name=name,
                    stored_path=file.relative_path,
                    file_format=format_of(name).value,
                    size_bytes=file.size_bytes,
                    sha256=file.sha256,
                    total_fields=table.num_columns,
                    total_records=table.num_rows,
                )
            )
    except BaseException:
        for file in landed:
            with suppress(NotFoundError):
                landing.remove(actor.tenant_id, file.relative_path)
        raise
    dataset.files.extend(added)
    dataset.validation_status = ValidationState.PENDING
    dataset.modified_at = utcnow()
    session.flush()
    return added


def hold_landing(session: Session, landing: LandingStore) -> None:
    """Hold the landing store's upload lock until the session's transaction ends, so that
    files landed but not yet committed are never taken for leftovers by sweep_landing."""
    if UPLOAD_LOCK in session.info:
        return
    session.connection()  # a transaction whose end releases the lock, even if nothing is written
    session.info[UPLOAD_LOCK] = landing.upload_lock()
    if not session.info.get(f"{UPLOAD_LOCK}.listening"):
        session.info[f"{UPLOAD_LOCK}.listening"] = True
        event.listen(session, "after_transaction_end", _release_landing)


def _release_landing(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and (handle := session.info.pop(UPLOAD_LOCK, None)):
        handle.close()


def sweep_landing(session: Session, landing: LandingStore) -> list[str] | None:
    """Remove what interrupted uploads left in the landing store: partial (`.part`) files and
    every file of a dataset folder no committed record names. Returns the paths removed,
    relative to the store, or None when an upload is in flight and the sweep was skipped.

    In a local directory, uploads hold the store's shared lock from before their first file
    lands until their transaction commits or rolls back (hold_landing), and the sweep runs only
    holding the lock alone. So a file of a live upload, in this process or another API
    worker's, is never taken for a leftover, whatever its age, while an upload whose process
    died holds no lock and leaves nothing the sweep keeps. Object storage has no lock every
    host shares: there the sweep leaves files younger than OBJECT_SWEEP_AGE, far longer than
    any upload takes between landing a file and committing its record.
    """
    handle = landing.sweep_lock()
    if handle is None:
        return None
    with handle:
        kept_folders = {
            (LandingStore.tenant_folder(tenant_id), str(dataset_id))
            for dataset_id, tenant_id in session.execute(select(Dataset.id, Dataset.tenant_id))
        }
        kept_files = {
            (LandingStore.tenant_folder(tenant_id), stored_path)
            for tenant_id, stored_path in session.execute(
                select(DataFile.tenant_id, DataFile.stored_path)
            )
        }
        settled = datetime.now(UTC) - OBJECT_SWEEP_AGE
        removed = []
        for stored in landing.dataset_files():
            if (stored.tenant_area, stored.relative_path) in kept_files:
                continue
            if not landing.local and (stored.modified_at is None or stored.modified_at > settled):
                continue
            landing.remove_stored(stored)
            removed.append(f"{stored.tenant_area}/{stored.relative_path}")
        removed.extend(landing.remove_empty_dataset_folders(kept_folders))
    return sorted(removed)


def _check_column_names(columns: list[str], file_name: str) -> None:
    """Refuse a file bringing a column of a name Strata keeps for its own bookkeeping (read_table
    has refused names repeated in any case)."""
    for column in columns:
        if column.lower() in BOOKKEEPING:
            raise UnreadableFileError(
                file_name,
                f"has a column named '{column}', a name Strata keeps for its own bookkeeping; "
                "rename it",
            )


def _check_template_columns(template: Template, columns: list[str], file_name: str) -> None:
    present = {name.lower() for name in columns}
    missing = [
        spec.column_name
        for spec in templates.column_specs(template)
        if spec.column_name.lower() not in present
    ]
    if missing:
        raise UnreadableFileError(
            file_name,
            f"lacks template column '{missing[0]}'"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""),
        )


def delete_file(session: Session, actor: Principal, landing: LandingStore, file_id: int) -> Dataset:
    """Remove a file from its dataset; the caller re-runs ingestion so its rows leave the tables."""
    data_file = get_file(session, actor, file_id)
    dataset = data_file.dataset
    if len(dataset.files) == 1:
        raise ConflictError(
            f"file {file_id} is the last file of dataset {dataset.id}; delete the dataset instead",
            field="file_id",
        )
    dataset.files.remove(data_file)
    dataset.validation_status = ValidationState.PENDING
    dataset.modified_at = utcnow()
    session.flush()
    landing.remove(actor.tenant_id, data_file.stored_path)
    return dataset


def delete_dataset(
    session: Session, actor: Principal, landing: LandingStore, catalog: Catalog, dataset_id: int
) -> list[str]:
    """Forget a dataset, drop its tables (returned by name) and remove its landed files."""
    dataset = get_dataset(session, actor, dataset_id)
    dropped = [ref.display_name for ref in dataset.tables.all() if drop_table(catalog, ref)]
    session.delete(dataset)
    session.flush()
    landing.remove_dataset(actor.tenant_id, dataset_id)
    return dropped


def preview_rows(catalog: Catalog, dataset: Dataset, limit: int) -> list[dict[str, Any]]:
    """The first validated rows of a dataset, without Strata's bookkeeping columns."""
    table = load_table_or_none(catalog, dataset.tables.silver)
    if table is None:
        raise ConflictError(
            f"dataset {dataset.id} has no validated rows yet ({dataset.validation_status})",
            field="dataset_id",
        )
    rows = table.scan(limit=limit).to_arrow()
    shown = [name for name in rows.column_names if not name.startswith("_")]
    return rows.select(shown).to_pylist()


def reject_rows(catalog: Catalog, dataset: Dataset, limit: int) -> list[dict[str, Any]]:
    """The first rows a dataset's validation rejected, as their files gave them, each with the
    file and row it came from and the rules it failed: `failed` maps a column to its rules."""
    table = load_table_or_none(catalog, dataset.tables.rejects)
    if table is None:
        return []
    rows = table.scan(limit=limit).to_arrow().to_pylist()
    for row in rows:
        failed: dict[str, list[str]] = {}
        for reason in (row.get(FAILED_EXPECTATIONS) or "").split("; "):
            rule, _, column = reason.partition("(")
            if rule:
                failed.setdefault(column.removesuffix(")"), []).append(rule)
        row["failed"] = failed
    return rows


def numeric_values(catalog: Catalog, dataset: Dataset, column: str) -> list[float]:
    """Every value of a numeric column of the dataset's validated rows, nulls left out."""
    import pyarrow as pa

    table = load_table_or_none(catalog, dataset.tables.silver)
    if table is None or column.startswith("_") or column not in table.schema().column_names:
        raise NotFoundError(f"dataset {dataset.id} has no column '{column}'", field="column")
    values = table.scan(selected_fields=(column,)).to_arrow().column(column)
    kind = values.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        raise InvalidInputError(f"column '{column}' is not numeric", field="column")
    return [float(value) for value in values.to_pylist() if value is not None]


def read_statistics(catalog: Catalog, dataset: Dataset) -> list[dict[str, Any]]:
    """The dataset's column statistics, as the statistics run last wrote them."""
    table = load_table_or_none(catalog, dataset.tables.statistics)
    if table is None:
        raise NotFoundError(
            f"dataset {dataset.id} has no statistics yet; POST generate_statistics first",
            field="dataset_id",
        )
    return table.scan().to_arrow().to_pylist()


def whole_percent(part: int, whole: int) -> str:
    """`part` of `whole` as a whole percent, rounded down: 99.6% of rows passing is 99%."""
    return f"{part * 100 // whole if whole else 0}%"


def usability_text(dataset: Dataset) -> str | None:
    """The share of rows that passed, as a whole percent rounded down: never 100% while a
    row failed."""
    if dataset.passed_rows is not None and dataset.total_rows is not None:
        return whole_percent(dataset.passed_rows, dataset.total_rows)
    if dataset.dataset_usability is None:
        return None
    return f"{math.floor(dataset.dataset_usability * 100 + 1e-9)}%"  # 0.29 * 100 is 28.99...
