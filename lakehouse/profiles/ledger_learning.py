"""Strata's engine training a learnuplet.

The algo (its name picks the algorithm) learns from the uplet's `model_start`: boosted trees
grow on from that model, other algorithms learn again on the rows of the chain so far. The
result is registered as a new version of the algo's MLflow model, tagged with the uplet's
`model_end`, scored with the workflow's metric on the test data (`perf`) and on each file
(`train_perf`, `test_perf`), and reported through the ledger's own `/learndone` path, which
starts the next rank.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.errors import InvalidInputError, NotFoundError
from lakehouse.lake.lineage import BOOKKEEPING, FILE_ID
from lakehouse.ml.spec import Algorithm, Attribute, ColumnRole, ProblemType, Report, quiet
from lakehouse.profiles import orchestrator as ledger
from lakehouse.profiles.ledger_engine import (
    LedgerTask,
    engine_principal,
    ensure_held,
    file_rows,
    model_name,
    tenant_files,
)
from lakehouse.store.models import DataFile, Learnuplet, LedgerAlgo, LedgerProblem, LedgerWorkflow

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from lakehouse.ml.spec import TrainedModel, TrainingSpec
    from lakehouse.settings import Settings
    from lakehouse.store import MetadataStore

LEDGER_MODEL_TAG = "strata.ledger.model"
LEDGER_UPLET_TAG = "strata.ledger.learnuplet"


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


def one(session: Session, model: Any, tenant_id: str, uuid: str, what: str) -> Any:
    """The tenant's ledger document `uuid`, which an uplet names as its `what`."""
    row = session.scalar(select(model).where(model.tenant_id == tenant_id, model.uuid == uuid))
    if row is None:
        raise NotFoundError(f"the uplet's {what} '{uuid}' is gone", field=what)
    return row


def _work(session: Session, task: LedgerTask) -> _Work:
    tenant = task.tenant_id
    uplet = one(session, Learnuplet, tenant, task.uuid, "uuid")
    problem = one(session, LedgerProblem, tenant, uplet.problem, "problem")
    workflow = one(session, LedgerWorkflow, tenant, problem.workflow, "workflow")
    algo = one(session, LedgerAlgo, tenant, uplet.algo, "algo")
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
    files = tenant_files(session, tenant, {*chain_data, *uplet.test_data}, "train_data")
    previous = None
    if uplet.model_start != algo.uuid:
        previous = session.scalar(
            select(Learnuplet)
            .where(
                Learnuplet.tenant_id == tenant,
                Learnuplet.model_end == uplet.model_start,
                Learnuplet.registered_version.is_not(None),
            )
            .order_by(Learnuplet.id)
        )
        if previous is None or previous.registered_version is None:
            raise InvalidInputError(
                f"model_start '{uplet.model_start}' is no model Strata's engine registered",
                field="model_start",
            )
    return _Work(uplet, workflow, algo, files, chain_data, previous)


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
        assert work.previous.registered_model is not None
        assert work.previous.registered_version is not None
        previous = registry.load_version(
            settings, work.previous.registered_model, work.previous.registered_version
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
            row = ensure_held(session, task)
            assert isinstance(row, Learnuplet)
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
