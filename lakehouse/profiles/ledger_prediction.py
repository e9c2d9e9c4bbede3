"""Strata's engine doing a preduplet: the model it names (the `model_end` of a learnuplet the
engine trained) scores the validated rows of its data files, and the predictions are stored as
a CSV in the tenant's landing area under a new storage uuid, which `/preddone` reports as the
preduplet's `prediction_storage_uuid`.

The CSV has a line per validated row of each file, in the order of the preduplet's data: the
file's uuid (`data`), the row's number in its file (`row_number`, 1 for its first row), the
`prediction` and, for a classifier, `probability_<class>` per class.
"""

from __future__ import annotations

import time
import uuid as uuids
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.data.formats import write_csv
from lakehouse.data.landing import LandingStore
from lakehouse.errors import InvalidInputError, NotFoundError
from lakehouse.lake.lineage import FILE_ID, ROW_NUMBER
from lakehouse.ml.spec import Report, quiet
from lakehouse.profiles import orchestrator as ledger
from lakehouse.profiles.ledger_engine import (
    LedgerTask,
    engine_principal,
    ensure_held,
    file_rows,
    tenant_files,
)
from lakehouse.store.models import Learnuplet, Preduplet

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from lakehouse.settings import Settings
    from lakehouse.store import MetadataStore

# The landing store's folder of the engine's predictions, beside the tenant's dataset folders.
PREDICTIONS_FOLDER = "ledger-predictions"


def prediction_path(storage_uuid: str) -> str:
    """Where a stored prediction is kept in its tenant's landing area; a storage uuid that is
    no uuid names nothing stored."""
    try:
        canonical = str(uuids.UUID(storage_uuid))
    except ValueError:
        raise NotFoundError(
            f"no prediction stored as '{storage_uuid}'", field="prediction_storage_uuid"
        ) from None
    return LandingStore.relative_path(PREDICTIONS_FOLDER, f"{canonical}.csv")


def stored_prediction(session: Session, actor: Principal, storage_uuid: str) -> str:
    """Where the prediction a preduplet of the caller's tenant reported done as `storage_uuid`
    is kept; any other uuid is not found."""
    relative = prediction_path(storage_uuid)
    reported = session.scalar(
        select(Preduplet.id).where(
            Preduplet.tenant_id == actor.tenant_id,
            Preduplet.prediction_storage_uuid == storage_uuid,
            Preduplet.status == ledger.DONE,
        )
    )
    if reported is None:
        raise NotFoundError(
            f"no prediction stored as '{storage_uuid}'", field="prediction_storage_uuid"
        )
    return relative


@dataclass(frozen=True)
class Predicted:
    storage_uuid: str
    rows: int


def predict(
    store: MetadataStore,
    catalog: Catalog,
    settings: Settings,
    task: LedgerTask,
    report: Report = quiet,
) -> Predicted:
    """Score the engine's claimed preduplet, store its predictions and report it done."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lakehouse.ml import registry
    from lakehouse.predictors.batch import score_rows

    started = time.perf_counter()

    def done(what: str) -> None:
        report(f"{what} ({time.perf_counter() - started:.2f} s)")

    tenant = task.tenant_id
    with store.session(writes=False) as session:
        preduplet = session.scalar(
            select(Preduplet).where(Preduplet.tenant_id == tenant, Preduplet.uuid == task.uuid)
        )
        if preduplet is None:
            raise NotFoundError(f"no preduplet with uuid '{task.uuid}'", field="uuid")
        source = session.scalar(
            select(Learnuplet)
            .where(
                Learnuplet.tenant_id == tenant,
                Learnuplet.model_end == preduplet.model,
                Learnuplet.registered_version.is_not(None),
            )
            .order_by(Learnuplet.id)
        )
        if source is None or source.registered_model is None or source.registered_version is None:
            raise InvalidInputError(
                f"model '{preduplet.model}' is no model Strata's engine registered", field="model"
            )
        data = [preduplet.data] if isinstance(preduplet.data, str) else list(preduplet.data)
        files = tenant_files(session, tenant, data, "data")
        chosen = [files[d] for d in dict.fromkeys(data)]
    model = registry.load_version(settings, source.registered_model, source.registered_version)
    done(f"loaded {source.registered_model} version {source.registered_version}")
    rows = file_rows(catalog, chosen)
    done(f"read {rows.num_rows} rows of {len(chosen)} files")
    # in the order of the preduplet's data, each file's rows in their order
    positions = pc.index_in(rows[FILE_ID], value_set=pa.array([f.id for f in chosen], pa.int64()))
    order = pc.sort_indices(
        pa.table({"file": positions, "row": rows[ROW_NUMBER]}),
        sort_keys=[("file", "ascending"), ("row", "ascending")],
    )
    rows, positions = rows.take(order), positions.take(order)
    scored = score_rows(model, rows, [ROW_NUMBER])
    result = (
        scored.drop_columns([ROW_NUMBER])
        .add_column(0, "row_number", scored[ROW_NUMBER])
        .add_column(0, "data", pa.array([f.uuid for f in chosen], pa.string()).take(positions))
    )
    done(f"predicted {result.num_rows} rows")
    storage_uuid = str(uuids.uuid4())
    landing = LandingStore.from_settings(settings)
    with landing.write(tenant, PREDICTIONS_FOLDER, f"{storage_uuid}.csv") as path:
        write_csv(result, path)
    done(f"stored the predictions as {storage_uuid}")
    try:
        with store.session() as session:
            ensure_held(session, task)
            ledger.pred_done(
                session,
                engine_principal(tenant),
                task.uuid,
                {"status": ledger.DONE, "prediction_storage_uuid": storage_uuid},
            )
    except BaseException:  # no longer the engine's to report: nothing stored for no one
        landing.remove(tenant, prediction_path(storage_uuid))
        raise
    return Predicted(storage_uuid, result.num_rows)
