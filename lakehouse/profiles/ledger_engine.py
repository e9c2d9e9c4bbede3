"""Strata's engine as a worker of the orchestrator profile's ledger.

A learnuplet is the engine's when its problem's `workflow` names a Strata workflow of the same
tenant, and its data uuids name files the tenant uploaded: their validated rows (the silver
rows read from each file) are what it learns from and is scored on. The engine claims such a
learnuplet as any worker would, trains the algo (its name picks the algorithm) from the
uplet's `model_start`: boosted trees grow on from that model, other algorithms learn again on
the rows of the chain so far. It registers the result as a new version of the algo's MLflow
model, tagged with the uplet's `model_end`, scores it with the workflow's metric on the test
data (`perf`) and on each file (`train_perf`, `test_perf`), and reports through the ledger's
own `/learndone` path, which starts the next rank.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.errors import BadRequestError, InvalidInputError, NotFoundError
from lakehouse.lake.lineage import BOOKKEEPING, FILE_ID
from lakehouse.lake.naming import tenant_namespace
from lakehouse.ml.spec import Algorithm, Attribute, ColumnRole, ProblemType, Report, quiet
from lakehouse.profiles import orchestrator as ledger
from lakehouse.states import ValidationState
from lakehouse.store.models import (
    DataFile,
    Learnuplet,
    LedgerAlgo,
    LedgerProblem,
    LedgerWorkflow,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from lakehouse.ml.spec import TrainedModel, TrainingSpec
    from lakehouse.settings import Settings
    from lakehouse.store import MetadataStore

ENGINE_WORKER = "strata-engine"
LEDGER_MODEL_TAG = "strata.ledger.model"
LEDGER_UPLET_TAG = "strata.ledger.learnuplet"


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
    tenant_id: str
    uuid: str


def ready_learnuplets(session: Session) -> list[LedgerTask]:
    """Learnuplets of every tenant the engine may claim now: `todo`, with their
    `model_start`, of a problem whose workflow is a Strata workflow; oldest first."""
    query = (
        select(Learnuplet.tenant_id, Learnuplet.uuid)
        .join(
            LedgerProblem,
            and_(
                LedgerProblem.tenant_id == Learnuplet.tenant_id,
                LedgerProblem.uuid == Learnuplet.problem,
            ),
        )
        .join(
            LedgerWorkflow,
            and_(
                LedgerWorkflow.tenant_id == Learnuplet.tenant_id,
                LedgerWorkflow.uuid == LedgerProblem.workflow,
            ),
        )
        .where(Learnuplet.status == ledger.TODO, Learnuplet.model_start.is_not(None))
        .order_by(Learnuplet.id)
    )
    return [LedgerTask(tenant_id, uuid) for tenant_id, uuid in session.execute(query)]


def held_learnuplets(session: Session) -> list[tuple[LedgerTask, str | None]]:
    """Learnuplets of every tenant the engine has claimed and not reported, with their run."""
    query = (
        select(Learnuplet.tenant_id, Learnuplet.uuid, Learnuplet.run_id)
        .where(Learnuplet.status == ledger.PENDING, Learnuplet.worker == ENGINE_WORKER)
        .order_by(Learnuplet.id)
    )
    return [(LedgerTask(tenant, uuid), run_id) for tenant, uuid, run_id in session.execute(query)]


def claim(session: Session, task: LedgerTask) -> bool:
    """Claim a learnuplet for the engine; False when another worker was first."""
    try:
        ledger.claim(
            session,
            engine_principal(task.tenant_id),
            "learnuplet",
            task.uuid,
            {"worker": ENGINE_WORKER},
        )
    except (BadRequestError, NotFoundError):
        return False
    return True


def release(session: Session, task: LedgerTask) -> None:
    """Give back a claim whose run could not start: the learnuplet is `todo` again."""
    uplet = _uplet(session, task)
    if uplet.status == ledger.PENDING and uplet.worker == ENGINE_WORKER:
        uplet.status, uplet.worker = ledger.TODO, None


def record_run(session: Session, task: LedgerTask, run_id: str) -> None:
    """The run training the engine's learnuplet."""
    _uplet(session, task).run_id = run_id


def report_failure(store: MetadataStore, task: LedgerTask) -> None:
    """Report the engine's learnuplet `failed`, as a worker whose training broke would."""
    with store.session() as session:
        uplet = _uplet(session, task)
        if uplet.status == ledger.PENDING and uplet.worker == ENGINE_WORKER:
            ledger.learn_done(
                session, engine_principal(task.tenant_id), task.uuid, {"status": ledger.FAILED}
            )


def _uplet(session: Session, task: LedgerTask) -> Learnuplet:
    uplet = session.scalar(
        select(Learnuplet).where(
            Learnuplet.tenant_id == task.tenant_id, Learnuplet.uuid == task.uuid
        )
    )
    if uplet is None:
        raise NotFoundError(f"no learnuplet with uuid '{task.uuid}'", field="uuid")
    return uplet


def model_name(tenant_id: str, algo: str) -> str:
    """The MLflow model of an algo's chain: one per tenant and algo, named from a digest of the
    algo's uuid (a client's string, which a model name may not hold as it is)."""
    digest = hashlib.sha256(algo.encode()).hexdigest()[:16]
    return f"{tenant_namespace(tenant_id)}.ledger_{digest}"


@dataclass(frozen=True)
class Learned:
    version: int
    perf: float
    train_perf: dict[str, float]
    test_perf: dict[str, float]


@dataclass(frozen=True)
class _Work:
    """What training a learnuplet needs, read from the ledger in one transaction."""

    uplet: Learnuplet
    workflow: LedgerWorkflow
    algo: LedgerAlgo
    files: dict[str, DataFile]
    chain_data: list[str]
    previous: Learnuplet | None


def _work(session: Session, task: LedgerTask) -> _Work:
    uplet = _uplet(session, task)
    tenant = task.tenant_id

    def one(model: Any, uuid: str, what: str) -> Any:
        row = session.scalar(select(model).where(model.tenant_id == tenant, model.uuid == uuid))
        if row is None:
            raise NotFoundError(f"the learnuplet's {what} '{uuid}' is gone", field=what)
        return row

    problem = one(LedgerProblem, uplet.problem, "problem")
    workflow = one(LedgerWorkflow, problem.workflow, "workflow")
    algo = one(LedgerAlgo, uplet.algo, "algo")
    chain = [
        u
        for u in session.scalars(
            select(Learnuplet)
            .where(Learnuplet.tenant_id == tenant, Learnuplet.algo == uplet.algo)
            .order_by(Learnuplet.rank)
        )
        if u.rank <= uplet.rank
    ]
    chain_data = list(dict.fromkeys(d for u in chain for d in u.train_data))
    wanted = set(chain_data) | set(uplet.test_data)
    files = {
        f.uuid: f
        for f in session.scalars(
            select(DataFile).where(DataFile.tenant_id == tenant, DataFile.uuid.in_(wanted))
        )
    }
    missing = sorted(wanted - set(files))
    if missing:
        raise InvalidInputError(
            f"data '{missing[0]}' names no file of the tenant: Strata's engine learns from "
            "uploaded files, by their uuid",
            field="train_data",
        )
    for data_file in files.values():
        if data_file.dataset.validation_status != ValidationState.VALID:
            raise InvalidInputError(
                f"file '{data_file.uuid}' belongs to dataset {data_file.dataset_id}, which is "
                f"{data_file.dataset.validation_status}, not valid",
                field="train_data",
            )
    previous = None
    if uplet.model_start != algo.uuid:
        previous = session.scalar(
            select(Learnuplet).where(
                Learnuplet.tenant_id == tenant, Learnuplet.model_end == uplet.model_start
            )
        )
        if previous is None or previous.registered_version is None:
            raise InvalidInputError(
                f"model_start '{uplet.model_start}' is no model Strata's engine registered",
                field="model_start",
            )
    return _Work(uplet, workflow, algo, files, chain_data, previous)


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


def training_spec(workflow: LedgerWorkflow, algo: LedgerAlgo, rows: pa.Table) -> TrainingSpec:
    """The workflow's target, every other column of the files a feature; the algo's name
    picks the algorithm."""
    from lakehouse.ml.spec import TrainingSpec

    if workflow.target not in rows.column_names:
        raise InvalidInputError(
            f"the workflow's target '{workflow.target}' is no column of the data",
            field="target",
        )
    roles = [
        ColumnRole(name, Attribute.TARGET if name == workflow.target else Attribute.FEATURE)
        for name in rows.column_names
        if name not in BOOKKEEPING
    ]
    problem = (
        ProblemType.CLASSIFICATION
        if workflow.problem_type == "classification"
        else ProblemType.REGRESSION
    )
    return TrainingSpec(problem_type=problem, roles=roles, algorithm=Algorithm.parse(algo.name))


def performance(model: TrainedModel, rows: pa.Table, spec: TrainingSpec, metric: str) -> float:
    """The workflow's metric of `model` on `rows` (a finite number, higher is better)."""
    import numpy as np

    from lakehouse.ml.metrics import score
    from lakehouse.ml.training import training_frame

    features, target = training_frame(rows, spec)
    if features.empty:
        raise InvalidInputError("no rows with a target value to score the model on", field="data")
    features = features[model.features]
    if model.classes is not None:
        index = {str(c): i for i, c in enumerate(model.classes)}
        truth = np.array([index.get(str(v), -1) for v in target])
        predicted = model.pipeline.predict(features)
        probabilities = model.pipeline.predict_proba(features)
    else:
        truth, predicted, probabilities = target.to_numpy(), model.predict(features), None
    value = score(spec.problem_type, truth, predicted, probabilities).get(metric, math.nan)
    if not math.isfinite(value):
        raise InvalidInputError(
            f"{metric} cannot be measured on these {len(features)} rows", field="metric"
        )
    return float(value)


def per_file(
    model: TrainedModel, rows: pa.Table, spec: TrainingSpec, metric: str, files: Sequence[DataFile]
) -> dict[str, float]:
    import pyarrow.compute as pc

    return {
        f.uuid: performance(model, rows.filter(pc.equal(rows[FILE_ID], f.id)), spec, metric)
        for f in files
    }


def learn(
    store: MetadataStore,
    catalog: Catalog,
    settings: Settings,
    task: LedgerTask,
    report: Report = quiet,
) -> Learned:
    """Train the engine's claimed learnuplet, register its model and report it done."""
    import pyarrow.compute as pc

    from lakehouse.ml import registry
    from lakehouse.ml.training import continue_training, train
    from lakehouse.model_files import load_model

    started = time.perf_counter()

    def done(what: str) -> None:
        report(f"{what} ({time.perf_counter() - started:.2f} s)")

    with store.session(writes=False) as session:
        work = _work(session, task)
    uplet, workflow = work.uplet, work.workflow
    chain_rows = file_rows(catalog, [work.files[d] for d in work.chain_data])
    new_ids = [work.files[d].id for d in uplet.train_data]
    rows = chain_rows.filter(pc.is_in(chain_rows[FILE_ID], value_set=_int64s(new_ids)))
    test_files = [work.files[d] for d in uplet.test_data]
    test_rows = file_rows(catalog, test_files) if test_files else None
    done(f"read {rows.num_rows} rows of {len(uplet.train_data)} files")
    spec = training_spec(workflow, work.algo, rows)
    previous = None
    if work.previous is not None:
        import tempfile
        from pathlib import Path

        assert work.previous.registered_model is not None
        assert work.previous.registered_version is not None
        with tempfile.TemporaryDirectory(prefix="strata-ledger-") as scratch:
            previous = load_model(
                registry.model_directory(
                    settings,
                    work.previous.registered_model,
                    work.previous.registered_version,
                    Path(scratch),
                )
            )
    if previous is not None and previous.continues_training:
        report(f"continuing {previous.algorithm.value} from {uplet.model_start}")
        model = continue_training(previous, rows, spec, report)
    elif previous is not None:
        report(f"{previous.algorithm.value} learns again on the chain's {chain_rows.num_rows} rows")
        model = train(chain_rows, spec, report)
    else:
        model = train(rows, spec, report)
    done(f"fitted {model.algorithm.value}")
    metric = workflow.metric
    if test_rows is not None:
        perf = performance(model, test_rows, spec, metric)
        test_perf = per_file(model, test_rows, spec, metric, test_files)
    else:  # no test set: the model's own held-out rows
        perf = float(model.metrics.get(metric, math.nan))
        test_perf = {}
    train_files = [work.files[d] for d in uplet.train_data]
    train_perf = per_file(model, rows, spec, metric, train_files)
    done(f"scored: {metric} {perf:.4f} on the test data")
    name = model_name(task.tenant_id, uplet.algo)
    record = registry.TrainingRecord(
        tenant_id=task.tenant_id,
        predictor_id=None,
        model_name=name,
        run_name=f"learnuplet {uplet.uuid} (rank {uplet.rank})",
        params={
            "algo": uplet.algo,
            "problem": uplet.problem,
            "workflow": workflow.uuid,
            "rank": uplet.rank,
            "model_start": uplet.model_start,
            "continued": previous is not None and previous.continues_training,
        },
        tags={LEDGER_MODEL_TAG: uplet.model_end, LEDGER_UPLET_TAG: uplet.uuid},
    )
    registered = registry.record_training(settings, record, model, chain_rows.num_rows)
    done(f"registered {name} version {registered.version}")
    try:
        with store.session() as session:
            row = _uplet(session, task)
            row.registered_model, row.registered_version = name, registered.version
            ledger.learn_done(
                session,
                engine_principal(task.tenant_id),
                task.uuid,
                {
                    "status": ledger.DONE,
                    "perf": perf,
                    "train_perf": train_perf,
                    "test_perf": test_perf,
                },
            )
    except BaseException:  # no longer the engine's to report: no version for no one
        registry.delete_model_version(settings, name, registered.version)
        raise
    return Learned(registered.version, perf, train_perf, test_perf)


def _int64s(values: Sequence[int]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.int64())
