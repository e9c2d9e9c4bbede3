"""Strata's engine as a worker of the orchestrator profile's ledger: which uplets it can do,
and its claims on them.

An uplet is the engine's to do when its workflow names a Strata workflow of the same tenant
and the model it starts from is one the engine registered (for a learnuplet at rank 0, the
algo itself). Its data uuids name files the tenant uploaded: their validated rows, read from
each file's silver table, are what it learns from, is scored on or predicts. The engine claims
an uplet as any worker would, does it in a Dagster run (`ledger_learning` trains learnuplets,
`ledger_prediction` scores preduplets) and reports through the ledger's own `/learndone` and
`/preddone` paths; a run that fails reports the uplet `failed` with its error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session, aliased

from lakehouse.accounts.rbac import Principal
from lakehouse.errors import BadRequestError, ConflictError, InvalidInputError, NotFoundError
from lakehouse.lake.lineage import FILE_ID
from lakehouse.lake.naming import tenant_namespace
from lakehouse.profiles import orchestrator as ledger
from lakehouse.states import ValidationState
from lakehouse.store.models import DataFile, Learnuplet, LedgerWorkflow, Preduplet

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from sqlalchemy.orm import InstrumentedAttribute

    from lakehouse.store import MetadataStore

ENGINE_WORKER = "strata-engine"
Kind = Literal["learnuplet", "preduplet"]
LEARNUPLET: Kind = "learnuplet"
PREDUPLET: Kind = "preduplet"
# How much of a failed run's error an uplet keeps.
ERROR_CHARS = 4000


def engine_principal(tenant_id: str) -> Principal:
    """Who the engine acts as in a tenant's ledger: no user, no permission of the API."""
    return Principal(
        user_id=0,
        tenant_id=tenant_id,
        username=ENGINE_WORKER,
        is_platform_admin=False,
        permissions=frozenset(),
    )


@dataclass(frozen=True)
class LedgerTask:
    kind: Kind
    tenant_id: str
    uuid: str

    @property
    def model(self) -> type[Learnuplet] | type[Preduplet]:
        return ledger.UPLETS[self.kind]


def _registered_by_engine(
    tenant: InstrumentedAttribute[str], model: InstrumentedAttribute[Any]
) -> ColumnElement[bool]:
    """`model` names the `model_end` of a learnuplet the engine trained and registered."""
    source = aliased(Learnuplet)
    return exists().where(
        source.tenant_id == tenant,
        source.model_end == model,
        source.registered_version.is_not(None),
    )


def _strata_workflow(model: type[Learnuplet] | type[Preduplet]) -> ColumnElement[bool]:
    return exists().where(
        LedgerWorkflow.tenant_id == model.tenant_id, LedgerWorkflow.uuid == model.workflow
    )


def ready(session: Session) -> list[LedgerTask]:
    """The uplets of every tenant the engine may claim now, learnuplets first, oldest first:
    `todo`, of a Strata workflow, starting from a model the engine has (a learnuplet also
    needs its `model_start` set)."""
    learnuplets = (
        select(Learnuplet.tenant_id, Learnuplet.uuid)
        .where(
            Learnuplet.status == ledger.TODO,
            _strata_workflow(Learnuplet),
            or_(
                Learnuplet.model_start == Learnuplet.algo,
                _registered_by_engine(Learnuplet.tenant_id, Learnuplet.model_start),
            ),
        )
        .order_by(Learnuplet.id)
    )
    preduplets = (
        select(Preduplet.tenant_id, Preduplet.uuid)
        .where(
            Preduplet.status == ledger.TODO,
            _strata_workflow(Preduplet),
            _registered_by_engine(Preduplet.tenant_id, Preduplet.model),
        )
        .order_by(Preduplet.id)
    )
    tasks = [LedgerTask(LEARNUPLET, t, uuid) for t, uuid in session.execute(learnuplets)]
    return tasks + [LedgerTask(PREDUPLET, t, uuid) for t, uuid in session.execute(preduplets)]


def held(session: Session) -> list[tuple[LedgerTask, str | None]]:
    """The uplets of every tenant the engine has claimed and not reported, with their run."""
    found: list[tuple[LedgerTask, str | None]] = []
    for kind in (LEARNUPLET, PREDUPLET):
        model = ledger.UPLETS[kind]
        query = (
            select(model.tenant_id, model.uuid, model.run_id)
            .where(model.status == ledger.PENDING, model.worker == ENGINE_WORKER)
            .order_by(model.id)
        )
        found += [(LedgerTask(kind, t, uuid), run_id) for t, uuid, run_id in session.execute(query)]
    return found


def claim(session: Session, task: LedgerTask) -> bool:
    """Claim an uplet for the engine; False when another worker was first."""
    try:
        actor = engine_principal(task.tenant_id)
        ledger.claim(session, actor, task.kind, task.uuid, {"worker": ENGINE_WORKER})
    except (BadRequestError, NotFoundError):
        return False
    return True


def release(session: Session, task: LedgerTask) -> None:
    """Give back a claim whose run could not start: the uplet is `todo` again."""
    uplet = uplet_of(session, task)
    if uplet.status == ledger.PENDING and uplet.worker == ENGINE_WORKER:
        uplet.status, uplet.worker = ledger.TODO, None


def record_run(session: Session, task: LedgerTask, run_id: str) -> None:
    """The run doing the engine's uplet."""
    uplet_of(session, task).run_id = run_id


def report_failure(store: MetadataStore, task: LedgerTask, error: str) -> None:
    """Report the engine's uplet `failed`, as a worker whose work broke would, keeping why."""
    with store.session() as session:
        uplet = uplet_of(session, task)
        if uplet.status != ledger.PENDING or uplet.worker != ENGINE_WORKER:
            return
        actor, failed = engine_principal(task.tenant_id), {"status": ledger.FAILED}
        if task.kind == LEARNUPLET:
            ledger.learn_done(session, actor, task.uuid, failed)
        else:
            ledger.pred_done(session, actor, task.uuid, failed)
        uplet.error = error[:ERROR_CHARS]


def ensure_held(session: Session, task: LedgerTask) -> Learnuplet | Preduplet:
    """The engine's uplet, locked, while the engine still holds its claim; a claim given back
    (and perhaps taken by another worker) is not the engine's to report."""
    model = task.model
    uplet = cast(
        "Learnuplet | Preduplet | None",
        session.scalar(
            select(model)
            .where(model.tenant_id == task.tenant_id, model.uuid == task.uuid)
            .with_for_update()
        ),
    )
    if uplet is None or uplet.status != ledger.PENDING or uplet.worker != ENGINE_WORKER:
        raise ConflictError(
            f"{task.kind} {task.uuid} is no longer the engine's to report", field="uuid"
        )
    return uplet


def uplet_of(session: Session, task: LedgerTask) -> Learnuplet | Preduplet:
    model = task.model
    uplet = cast(
        "Learnuplet | Preduplet | None",
        session.scalar(
            select(model).where(model.tenant_id == task.tenant_id, model.uuid == task.uuid)
        ),
    )
    if uplet is None:
        raise NotFoundError(f"no {task.kind} with uuid '{task.uuid}'", field="uuid")
    return uplet


def model_name(tenant_id: str, algo: str) -> str:
    """The MLflow model of an algo's chain: one per tenant and algo, named from a digest of the
    algo's uuid (a client's string, which a model name may not hold as it is)."""
    digest = hashlib.sha256(algo.encode()).hexdigest()[:16]
    return f"{tenant_namespace(tenant_id)}.ledger_{digest}"


def tenant_files(
    session: Session, tenant_id: str, wanted: Collection[str], field: str
) -> dict[str, DataFile]:
    """The tenant's files named by `wanted`, each of a validated dataset; a uuid naming none
    is refused, naming `field`."""
    files = {
        f.uuid: f
        for f in session.scalars(
            select(DataFile).where(DataFile.tenant_id == tenant_id, DataFile.uuid.in_(wanted))
        )
    }
    missing = sorted(set(wanted) - set(files))
    if missing:
        raise InvalidInputError(
            f"data '{missing[0]}' names no file of the tenant: Strata's engine works on "
            "uploaded files, by their uuid",
            field=field,
        )
    for data_file in files.values():
        if data_file.dataset.validation_status != ValidationState.VALID:
            raise InvalidInputError(
                f"file '{data_file.uuid}' belongs to dataset {data_file.dataset_id}, which is "
                f"{data_file.dataset.validation_status}, not valid",
                field=field,
            )
    return files


def file_rows(catalog: Catalog, files: Sequence[DataFile]) -> pa.Table:
    """The validated rows of `files`, with their file id, read from their datasets' silver
    tables; files of datasets whose columns differ give nulls where theirs lack one."""
    import pyarrow as pa
    from pyiceberg.expressions import In

    by_dataset: dict[int, list[DataFile]] = {}
    for data_file in files:
        by_dataset.setdefault(data_file.dataset_id, []).append(data_file)
    parts = []
    for chosen in by_dataset.values():
        silver = chosen[0].dataset.tables.silver
        ids = {f.id for f in chosen}
        parts.append(
            catalog.load_table(silver.identifier)
            # mypy's pydantic plugin misreads In's own __init__(term, literals)
            .scan(row_filter=cast(Any, In)(FILE_ID, ids))
            .to_arrow()
        )
    return pa.concat_tables(parts, promote_options="permissive")
