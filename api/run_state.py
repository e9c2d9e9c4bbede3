"""What a record's last run says about it: still writing, or ended without a result."""

from __future__ import annotations

from lakehouse import datasets
from lakehouse.errors import ConflictError, NotFoundError
from lakehouse.store import Dataset
from pipelines.gateway import RunGateway


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


def run_failure(gateway: RunGateway, run_id: str, purpose: str) -> str | None:
    """Why a run that should have recorded a result did not: it is gone, failed or canceled."""
    try:
        run = gateway.status(run_id)
    except NotFoundError:
        return f"{purpose} run {run_id} no longer exists"
    if run.status in ("FAILURE", "CANCELED"):
        return f"{purpose} run {run.run_id} ended {run.status}"
    return None
