"""Ingestion: a dataset's landed files as its bronze table, rows exactly as read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lakehouse.data.datasets import whole_percent
from lakehouse.data.formats import read_table
from lakehouse.data.landing import LandingStore
from lakehouse.errors import NotFoundError
from lakehouse.lake.catalog import replace_table
from lakehouse.lake.lineage import FILE_ID, INGESTED_AT, ROW_NUMBER
from lakehouse.states import ValidationState
from lakehouse.store import Dataset, MetadataStore
from lakehouse.store.models import utcnow

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from sqlalchemy.orm import Session

    from lakehouse.data.validation import Failure, ValidationOutcome


@dataclass(frozen=True)
class LayerResult:
    table: str
    row_count: int
    snapshot_id: int


@dataclass(frozen=True)
class SilverResult(LayerResult):
    rejects_table: str
    reject_count: int
    usability: float
    is_valid: bool
    missing_columns: list[str]


def _dataset(session: Session, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} not found", field="dataset_id")
    return dataset


def bronze_rows(landing: LandingStore, dataset: Dataset) -> pa.Table:
    """Every file of the dataset as read, tagged with its file id and row number. Files may
    spell a column in other cases (`Amount`, `amount`): it is one column, named as the first
    file spells it."""
    import numpy as np
    import pyarrow as pa

    ingested_at = datetime.now(UTC)
    parts = []
    spelling: dict[str, str] = {}
    for data_file in dataset.files:
        with landing.local_copy(dataset.tenant_id, data_file.stored_path) as path:
            rows = read_table(path, data_file.file_name)
        rows = rows.rename_columns([spelling.setdefault(c.lower(), c) for c in rows.column_names])
        count = rows.num_rows
        rows = rows.append_column(FILE_ID, pa.repeat(pa.scalar(data_file.id, pa.int64()), count))
        rows = rows.append_column(ROW_NUMBER, pa.array(np.arange(1, count + 1, dtype=np.int64)))
        rows = rows.append_column(
            INGESTED_AT, pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")), count)
        )
        parts.append(rows)
    # Files of one dataset may differ in columns: a column a file lacks is null for its rows.
    return pa.concat_tables(parts, promote_options="permissive")


def land_bronze(
    store: MetadataStore, landing: LandingStore, catalog: Catalog, dataset_id: int
) -> LayerResult:
    """Replace the dataset's bronze table with its files' rows; re-running never duplicates."""
    with store.session() as session:
        dataset = _dataset(session, dataset_id)
        ref = dataset.tables.bronze
        rows = bronze_rows(landing, dataset)
    snapshot_id = replace_table(catalog, ref, rows)
    return LayerResult(table=ref.display_name, row_count=rows.num_rows, snapshot_id=snapshot_id)


def mark_running(store: MetadataStore, dataset_id: int, run_id: str) -> None:
    """Record that `run_id` is validating the dataset now."""
    with store.session() as session:
        dataset = _dataset(session, dataset_id)
        dataset.validation_status = ValidationState.RUNNING
        dataset.validation_error = None
        dataset.last_run_id = run_id


def mark_failed(store: MetadataStore, dataset_id: int, error: str) -> None:
    with store.session() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is not None:
            dataset.validation_status = ValidationState.FAILED
            dataset.validation_error = error[:4000]
            dataset.modified_at = utcnow()


def land_dataset(
    store: MetadataStore,
    landing: LandingStore,
    catalog: Catalog,
    dataset_id: int,
    valid_usability: float,
) -> tuple[LayerResult, SilverResult]:
    """Bronze and silver in one pass: the files are read once, and bronze is written while
    silver is computed from the same rows; silver is written once bronze is."""
    from concurrent.futures import ThreadPoolExecutor

    with store.session() as session:
        dataset = _dataset(session, dataset_id)
        ref = dataset.tables.bronze
        rows = bronze_rows(landing, dataset)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bronze") as pool:
        written = pool.submit(replace_table, catalog, ref, rows)
        silver = land_silver(
            store, catalog, dataset_id, valid_usability, rows=rows, bronze_written=written.result
        )
    bronze = LayerResult(
        table=ref.display_name, row_count=rows.num_rows, snapshot_id=written.result()
    )
    return bronze, silver


def land_silver(
    store: MetadataStore,
    catalog: Catalog,
    dataset_id: int,
    valid_usability: float,
    rows: pa.Table | None = None,
    bronze_written: Callable[[], object] | None = None,
) -> SilverResult:
    """Validate the dataset's bronze rows into silver and rejects; record the verdict.

    The rows are the bronze table's, unless given (`rows`) with a call that returns once
    they are in bronze (`bronze_written`). A dataset is valid when every template column is
    present, no column is ambiguous, and the share of rows that passed reaches the
    template's `min_usability`, else `valid_usability`.
    """
    from concurrent.futures import ThreadPoolExecutor

    from lakehouse.data import templates
    from lakehouse.data.inference import infer_columns
    from lakehouse.data.validation import validate_rows

    with store.session() as session:
        dataset = _dataset(session, dataset_id)
        tables, template = dataset.tables, dataset.template
        if rows is None:
            rows = catalog.load_table(tables.bronze.identifier).scan().to_arrow()
        markers = templates.null_markers(template)
        if template is None:
            specs, typed = infer_columns(rows, markers)
        else:
            specs, typed = templates.column_specs(template), {}
        outcome = validate_rows(rows, specs, markers, typed)
        if bronze_written is not None:
            bronze_written()
        silver, rejects = tables.silver, tables.rejects
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rejects") as pool:
            rejects_written = pool.submit(replace_table, catalog, rejects, outcome.rejects)
            snapshot_id = replace_table(catalog, silver, outcome.silver)
            rejects_written.result()
        threshold = templates.valid_usability(template, valid_usability)
        # Every expectation on a missing column fails: the column is named once.
        problems = list(dict.fromkeys(column_problem(f, outcome) for f in outcome.column_failures))
        if outcome.usability < threshold:
            problems.append(
                f"its usability {whole_percent(outcome.passed_rows, outcome.total_rows)} "
                f"({outcome.passed_rows} of {outcome.total_rows} rows passed) is below the "
                f"{threshold:.0%} a valid dataset needs"
            )
        dataset.validation_status = ValidationState.INVALID if problems else ValidationState.VALID
        dataset.dataset_usability = outcome.usability
        dataset.total_rows = outcome.total_rows
        dataset.passed_rows = outcome.passed_rows
        dataset.usability_threshold = threshold
        dataset.validation_error = "; ".join(problems) or None
        dataset.modified_at = utcnow()
        for data_file in dataset.files:
            data_file.error_report = outcome.file_report(data_file.id)
            data_file.modified_at = utcnow()
        return SilverResult(
            table=silver.display_name,
            row_count=outcome.passed_rows,
            snapshot_id=snapshot_id,
            rejects_table=rejects.display_name,
            reject_count=outcome.rejects.num_rows,
            usability=outcome.usability,
            is_valid=not problems,
            missing_columns=outcome.missing_columns,
        )


def column_problem(failure: Failure, outcome: ValidationOutcome) -> str:
    if failure.detail:
        return failure.detail
    if failure.column in outcome.missing_columns:
        return f"column '{failure.column}' is missing"
    return f"column '{failure.column}' failed {failure.expectation}"


def land_statistics(store: MetadataStore, catalog: Catalog, dataset_id: int) -> LayerResult:
    """Per-column statistics of the dataset's silver table, as its gold `__stats` table."""
    from lakehouse.data.statistics import column_statistics

    with store.session() as session:
        dataset = _dataset(session, dataset_id)
        silver, target = dataset.tables.silver, dataset.tables.statistics
    stats = column_statistics(catalog.load_table(silver.identifier).scan().to_arrow())
    snapshot_id = replace_table(catalog, target, stats)
    return LayerResult(table=target.display_name, row_count=stats.num_rows, snapshot_id=snapshot_id)
