"""The orchestrator profile's ledger: problems, algorithms and data of a tenant, and the tasks
they make, learnuplets (train an algo on a mini-batch, continuing from a model) and preduplets
(apply a problem's best model to data), which workers claim and report on.

Every document is named by a `uuid` its client chose, unique per tenant and collection; a
document of another tenant is not found, as one that does not exist. An algo's learnuplets form
a chain of ranks over its problem's training data (all its data but the test set) in chunks of
the problem's `size_train_dataset`: rank 0 starts from the algo itself, and each later rank
from the best model of the chain so far, set when the rank before it is reported done. A
learnuplet is claimable once its `model_start` is set.
"""

from __future__ import annotations

import time
import uuid as uuids
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.errors import BadRequestError, ConflictError, NotFoundError
from lakehouse.profiles import ledger_input as keys
from lakehouse.store.models import (
    Learnuplet,
    LedgerAlgo,
    LedgerData,
    LedgerDocument,
    LedgerProblem,
    LedgerWorkflow,
    Preduplet,
)

TODO, PENDING, DONE, FAILED = "todo", "pending", "done", "failed"
REPORTED = (DONE, FAILED)
# Of a collection's name: its table, and the key its listing answers under.
COLLECTIONS: dict[str, type[LedgerDocument]] = {
    "workflow": LedgerWorkflow,
    "problem": LedgerProblem,
    "algo": LedgerAlgo,
    "data": LedgerData,
    "learnuplet": Learnuplet,
    "preduplet": Preduplet,
}
UPLETS: dict[str, type[Learnuplet] | type[Preduplet]] = {
    "learnuplet": Learnuplet,
    "preduplet": Preduplet,
}
# What a Strata workflow's `perf` may be: a test metric of its problem type where higher is
# better, as the chain keeps the model of the highest perf.
WORKFLOW_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "regression": ("r2",),
}
D = TypeVar("D", bound=LedgerDocument)
U = TypeVar("U", Learnuplet, Preduplet)


def plural(collection: str) -> str:
    return f"{collection}s"


def now() -> int:
    return int(time.time())


# --- lookups ------------------------------------------------------------------------------


def _find(session: Session, model: type[D], actor: Principal, uuid: str) -> D | None:
    return session.scalar(
        select(model).where(model.tenant_id == actor.tenant_id, model.uuid == uuid)
    )


def get_document(session: Session, actor: Principal, collection: str, uuid: str) -> LedgerDocument:
    """A document of the caller's tenant; anything else is not found."""
    return _get(session, collection_model(collection), actor, collection, uuid)


def _get(session: Session, model: type[D], actor: Principal, collection: str, uuid: str) -> D:
    document = _find(session, model, actor, uuid)
    if document is None:
        raise NotFoundError(f"no {collection} with uuid '{uuid}'", field="uuid")
    return document


def collection_model(collection: str) -> type[LedgerDocument]:
    if collection not in COLLECTIONS:
        raise NotFoundError(
            f"Page does not exist: no collection '{collection}'; the collections are "
            + ", ".join(COLLECTIONS),
            field="collection",
        )
    return COLLECTIONS[collection]


def _refuse_taken(
    session: Session, model: type[LedgerDocument], actor: Principal, uuids_: Sequence[str]
) -> None:
    taken = session.scalars(
        select(model.uuid).where(model.tenant_id == actor.tenant_id, model.uuid.in_(uuids_))
    ).first()
    if taken is not None:
        what = next(name for name, kind in COLLECTIONS.items() if kind is model)
        raise ConflictError(f"a {what} with uuid '{taken}' already exists", field="uuid")


def _problem(session: Session, actor: Principal, uuid: str, field: str) -> LedgerProblem:
    problem = _find(session, LedgerProblem, actor, uuid)
    if problem is None:
        raise BadRequestError(f"non-existing related problem '{uuid}'", field=field)
    return problem


def _train_data(session: Session, actor: Principal, problem: LedgerProblem) -> list[str]:
    """The problem's training data in the order it was posted: its data but the test set."""
    held_out = set(problem.test_dataset)
    rows = session.scalars(
        select(LedgerData).where(LedgerData.tenant_id == actor.tenant_id).order_by(LedgerData.id)
    )
    return [d.uuid for d in rows if problem.uuid in d.problems and d.uuid not in held_out]


def _chain(session: Session, actor: Principal, algo: str) -> list[Learnuplet]:
    """An algo's learnuplets by rank."""
    return list(
        session.scalars(
            select(Learnuplet)
            .where(Learnuplet.tenant_id == actor.tenant_id, Learnuplet.algo == algo)
            .order_by(Learnuplet.rank)
        )
    )


def _lock_problems(session: Session, actor: Principal, uuids_: Sequence[str]) -> None:
    """Hold problems until the transaction ends (their rows, FOR UPDATE, in id order): an algo
    posted and data posted for one problem take turns, so each sees the other. Chains are
    locked after problems, and one at a time, so no two requests wait for each other."""
    session.execute(
        select(LedgerProblem.id)
        .where(LedgerProblem.tenant_id == actor.tenant_id, LedgerProblem.uuid.in_(uuids_))
        .order_by(LedgerProblem.id)
        .with_for_update()
    )


def _lock_chain(session: Session, actor: Principal, algo: str) -> None:
    """Hold an algo's chain until the transaction ends (its row, FOR UPDATE): data extending
    the chain and a report advancing it take turns, so neither misses the other's rank."""
    session.execute(
        select(LedgerAlgo.id)
        .where(LedgerAlgo.tenant_id == actor.tenant_id, LedgerAlgo.uuid == algo)
        .with_for_update()
    )


def _best(uplets: Sequence[Learnuplet]) -> Learnuplet | None:
    """The best-performing learnuplet reported done (the earliest of equals), if any."""
    scored = [u for u in uplets if u.status == DONE and u.perf is not None]
    return max(scored, key=lambda u: (u.perf, -u.rank), default=None)


def _extend_chain(
    session: Session,
    actor: Principal,
    problem: LedgerProblem,
    algo: LedgerAlgo,
    data: Sequence[str],
    model_start: str | None,
    first_rank: int,
) -> int:
    """Learnuplets of `algo` over `data` in chunks of the problem's mini-batch size, ranked from
    `first_rank`; only the first starts from `model_start`. Returns how many were made."""
    size = problem.size_train_dataset
    chunks = [list(data[i : i + size]) for i in range(0, len(data), size)]
    created = now()
    for offset, chunk in enumerate(chunks):
        session.add(
            Learnuplet(
                tenant_id=actor.tenant_id,
                uuid=str(uuids.uuid4()),
                problem=problem.uuid,
                workflow=problem.workflow,
                algo=algo.uuid,
                model_start=model_start if offset == 0 else None,
                model_end=str(uuids.uuid4()),
                train_data=chunk,
                test_data=list(problem.test_dataset),
                worker=None,
                perf=None,
                train_perf=None,
                test_perf=None,
                status=TODO,
                rank=first_rank + offset,
                timestamp_creation=created,
                timestamp_done=None,
            )
        )
    return len(chunks)


# --- the endpoints' work ------------------------------------------------------------------


def post_workflow(session: Session, actor: Principal, payload: Any) -> LedgerWorkflow:
    """A Strata workflow: a problem naming it is trained and scored by Strata's engine."""
    payload = keys.payload_of(payload)
    uuid = keys.an_id(payload, "uuid")
    problem_type = payload.get("problem_type")
    if not isinstance(problem_type, str) or problem_type not in WORKFLOW_METRICS:
        raise keys.wrong("problem_type", " or ".join(f"'{kind}'" for kind in WORKFLOW_METRICS))
    metrics = WORKFLOW_METRICS[problem_type]
    metric = payload.get("metric", metrics[0])
    if metric not in metrics:
        raise keys.wrong("metric", f"one of {', '.join(metrics)} for a {problem_type} problem")
    workflow = LedgerWorkflow(
        tenant_id=actor.tenant_id,
        uuid=uuid,
        target=keys.an_id(payload, "target"),
        problem_type=problem_type,
        metric=metric,
        timestamp_upload=now(),
    )
    _refuse_taken(session, LedgerWorkflow, actor, [uuid])
    session.add(workflow)
    session.flush()
    return workflow


def post_problem(session: Session, actor: Principal, payload: Any) -> LedgerProblem:
    payload = keys.payload_of(payload)
    uuid = keys.an_id(payload, "uuid")
    problem = LedgerProblem(
        tenant_id=actor.tenant_id,
        uuid=uuid,
        workflow=keys.an_id(payload, "workflow"),
        test_dataset=keys.ids(payload, "test_dataset", one_allowed=False),
        size_train_dataset=keys.positive_int(payload, "size_train_dataset"),
        timestamp_upload=now(),
    )
    _refuse_taken(session, LedgerProblem, actor, [uuid])
    session.add(problem)
    session.flush()
    return problem


def post_algo(session: Session, actor: Principal, payload: Any) -> tuple[LedgerAlgo, int]:
    """The algo, and how many learnuplets its chain starts with: the problem's training data
    so far, rank 0 starting from the algo itself."""
    payload = keys.payload_of(payload)
    uuid, name = keys.an_id(payload, "uuid"), keys.an_id(payload, "name")
    problem = _problem(session, actor, keys.an_id(payload, "problem"), "problem")
    _lock_problems(session, actor, [problem.uuid])
    _refuse_taken(session, LedgerAlgo, actor, [uuid])
    algo = LedgerAlgo(
        tenant_id=actor.tenant_id,
        uuid=uuid,
        problem=problem.uuid,
        name=name,
        timestamp_upload=now(),
    )
    session.add(algo)
    train = _train_data(session, actor, problem)
    made = _extend_chain(session, actor, problem, algo, train, algo.uuid, 0)
    session.flush()
    return algo, made


def post_data(session: Session, actor: Principal, payload: Any) -> tuple[list[LedgerData], int]:
    """The data, and how many learnuplets they added: each algo of their problems extends its
    chain over them from its last rank (or, with no chain yet, starts one over the problem's
    training data)."""
    payload = keys.payload_of(payload)
    posted = keys.ids(payload, "uuid", one_allowed=True)
    problems = [
        _problem(session, actor, uuid, "problems")
        for uuid in keys.ids(payload, "problems", one_allowed=True)
    ]
    _lock_problems(session, actor, [p.uuid for p in problems])
    _refuse_taken(session, LedgerData, actor, posted)
    created = now()
    data = [
        LedgerData(
            tenant_id=actor.tenant_id,
            uuid=uuid,
            problems=[p.uuid for p in problems],
            timestamp_upload=created,
        )
        for uuid in posted
    ]
    session.add_all(data)
    session.flush()
    made = 0
    for problem in sorted(problems, key=lambda p: p.id):  # in the order they are locked
        algos = session.scalars(
            select(LedgerAlgo)
            .where(LedgerAlgo.tenant_id == actor.tenant_id, LedgerAlgo.problem == problem.uuid)
            .order_by(LedgerAlgo.id)
        ).all()
        held_out = set(problem.test_dataset)
        for algo in algos:
            _lock_chain(session, actor, algo.uuid)
            chain = _chain(session, actor, algo.uuid)
            if not chain:
                train = _train_data(session, actor, problem)
                made += _extend_chain(session, actor, problem, algo, train, algo.uuid, 0)
                continue
            new = [uuid for uuid in posted if uuid not in held_out]
            made += _extend_chain(
                session, actor, problem, algo, new, _continue_from(chain, algo), chain[-1].rank + 1
            )
    session.flush()
    return data, made


def _continue_from(chain: Sequence[Learnuplet], algo: LedgerAlgo) -> str | None:
    """Where a chain's next rank starts: once its last rank is reported, the best model so
    far (the algo itself when none succeeded); before that nothing yet, as reporting the last
    rank sets it."""
    if chain[-1].status not in REPORTED:
        return None
    best = _best(chain)
    return best.model_end if best is not None else algo.uuid


def post_prediction(session: Session, actor: Principal, payload: Any) -> Preduplet:
    """A preduplet applying the problem's best model to `data` (one uuid or a list, kept as
    posted)."""
    payload = keys.payload_of(payload)
    given = payload.get("data")
    data: str | list[str] = (
        keys.an_id(payload, "data")
        if isinstance(given, str)
        else keys.ids(payload, "data", one_allowed=False)
    )
    if not data:
        raise keys.wrong("data", "an id or a non-empty list of ids")
    problem = _problem(session, actor, keys.an_id(payload, "problem"), "problem")
    best = _best(
        session.scalars(
            select(Learnuplet).where(
                Learnuplet.tenant_id == actor.tenant_id, Learnuplet.problem == problem.uuid
            )
        ).all()
    )
    if best is None:
        raise BadRequestError(
            f"no problem or trained model: problem '{problem.uuid}' has no learnuplet reported "
            "done with a perf yet",
            field="problem",
        )
    preduplet = Preduplet(
        tenant_id=actor.tenant_id,
        uuid=str(uuids.uuid4()),
        problem=problem.uuid,
        data=data,
        timestamp_request=now(),
        model=best.model_end,
        status=TODO,
        worker=None,
        timestamp_done=None,
        workflow=problem.workflow,
        prediction_storage_uuid=None,
    )
    session.add(preduplet)
    session.flush()
    return preduplet


def claim(session: Session, actor: Principal, kind: str, uuid: str, payload: Any) -> str:
    """Set a `todo` uplet's worker and make it `pending`, in one conditional UPDATE, so of
    workers racing for it exactly one wins; a learnuplet must have its `model_start`."""
    if kind not in UPLETS:
        raise NotFoundError(
            f"Page does not exist: '{kind}' is not learnuplet or preduplet", field="uplet_type"
        )
    worker = keys.an_id(keys.payload_of(payload), "worker")
    model = UPLETS[kind]
    conditions = [model.tenant_id == actor.tenant_id, model.uuid == uuid, model.status == TODO]
    if model is Learnuplet:
        conditions.append(Learnuplet.model_start.is_not(None))
    claimed = session.execute(
        update(model)
        .where(*conditions)
        .values(worker=worker, status=PENDING)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        uplet = _get(session, model, actor, kind, uuid)
        why = (
            "it waits for its model_start (the rank before it is not done yet)"
            if uplet.status == TODO
            else f"its status is {uplet.status}"
        )
        raise BadRequestError(
            f"worker not set for {kind} {uuid}. Might be already pending: {why}", field="uuid"
        )
    return uuid


def learn_done(session: Session, actor: Principal, uuid: str, payload: Any) -> Learnuplet:
    """Record a claimed learnuplet's outcome. On `done`, the next rank of its algo's chain
    starts from the chain's best model so far; on `failed` the chain waits there."""
    payload = keys.payload_of(payload)
    status = keys.status_of(payload, REPORTED)
    values: dict[str, Any] = {"status": status, "timestamp_done": now()}
    if status == DONE:
        values |= {
            "perf": keys.perf_of(payload),
            "train_perf": keys.perfs_of(payload, "train_perf"),
            "test_perf": keys.perfs_of(payload, "test_perf"),
        }
    uplet = _report(session, actor, Learnuplet, "learnuplet", uuid, values)
    if status == DONE:
        _lock_chain(session, actor, uplet.algo)
        best = _best(_chain(session, actor, uplet.algo))
        assert best is not None  # this one at least
        session.execute(
            update(Learnuplet)
            .where(
                Learnuplet.tenant_id == actor.tenant_id,
                Learnuplet.algo == uplet.algo,
                Learnuplet.rank == uplet.rank + 1,
                Learnuplet.status == TODO,
            )
            .values(model_start=best.model_end)
            .execution_options(synchronize_session=False)
        )
    return uplet


def pred_done(session: Session, actor: Principal, uuid: str, payload: Any) -> Preduplet:
    """Record a claimed preduplet's outcome; `done` names where its prediction is stored."""
    payload = keys.payload_of(payload)
    status = keys.status_of(payload, REPORTED)
    values: dict[str, Any] = {"status": status}
    if status == DONE:
        values |= {
            "prediction_storage_uuid": keys.an_id(payload, "prediction_storage_uuid"),
            "timestamp_done": now(),
        }
    return _report(session, actor, Preduplet, "preduplet", uuid, values)


def _report(
    session: Session,
    actor: Principal,
    model: type[U],
    kind: str,
    uuid: str,
    values: Mapping[str, Any],
) -> U:
    """Write a `pending` uplet's outcome, every value at once or none; a result for an uplet
    no worker holds changes nothing (400)."""
    reported = session.execute(
        update(model)
        .where(model.tenant_id == actor.tenant_id, model.uuid == uuid, model.status == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    uplet = _get(session, model, actor, kind, uuid)
    if reported.rowcount != 1:  # type: ignore[attr-defined]
        raise BadRequestError(
            f"no update of {kind} {uuid}: its status is {uplet.status}; only a pending "
            f"{kind} (claimed through /worker) takes a result",
            field="uuid",
        )
    session.refresh(uplet)
    return uplet
