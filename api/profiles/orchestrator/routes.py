"""The orchestrator profile's routes, with the original's paths, keys and statuses: documents
are created with 201, claims and reports answer 200, and errors are `{"Error": ...}` (400 for
what the ledger refuses, 404 for what is not there, 409 for a uuid already taken)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIType, Operation, Schema
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_400_BAD_REQUEST
from sqlalchemy.orm import Session

from api.downloads import landed_file
from api.errors import shaped_handlers
from api.openapi import ERROR_MODEL, JSON, documented_body
from api.platform import Platform
from api.profiles.orchestrator.schemas import OrchestratorError
from api.security import BASIC_AUTH, requires_permission
from lakehouse.profiles import ledger_prediction
from lakehouse.profiles import orchestrator as ledger
from lakehouse.profiles.ledger_input import MAX_ID
from lakehouse.profiles.ledger_listing import list_documents, parse_filters

SUBMIT = [requires_permission("models:train")]
PREDICT = [requires_permission("models:predict")]
READ = [requires_permission("models:read")]
Document = dict[str, Any]

ID = Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_ID)
IDS = Schema(type=OpenAPIType.ARRAY, items=ID, unique_items=True)
SOME_IDS = Schema(type=OpenAPIType.ARRAY, items=ID, unique_items=True, min_items=1)
STATUS = Schema(type=OpenAPIType.STRING, enum=list(ledger.REPORTED))
NUMBER = Schema(type=OpenAPIType.NUMBER)
SCORES = Schema(
    one_of=[
        Schema(type=OpenAPIType.OBJECT, additional_properties=NUMBER),
        Schema(type=OpenAPIType.ARRAY, items=NUMBER),
    ]
)


def json_body(properties: dict[str, Schema], *required: str) -> type[Operation]:
    return documented_body(properties, required=required, media_types=(JSON,))


def error_shape(_status: int, message: str, field: str | None) -> dict[str, Any]:
    """The original's errors, `{"Error": ...}`, naming a field if any."""
    return {"Error": message, **({"field": field} if field else {})}


@post(
    "/workflow",
    operation_id="orchestrator_post_workflow",
    operation_class=json_body(
        {
            "uuid": ID,
            "target": ID,
            "problem_type": Schema(type=OpenAPIType.STRING, enum=list(ledger.WORKFLOW_METRICS)),
            "metric": Schema(
                type=OpenAPIType.STRING,
                enum=sorted({m for ms in ledger.WORKFLOW_METRICS.values() for m in ms}),
            ),
        },
        "uuid",
        "target",
        "problem_type",
    ),
    guards=SUBMIT,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
)
def post_workflow(request: Request, db: Session, data: Any) -> Document:
    """Add a Strata workflow: the `target` column to predict, the `problem_type`
    (classification or regression) and the `metric` reported as a model's perf (accuracy,
    precision, recall, f1, roc_auc; r2 for regression). A problem whose `workflow` names it
    is trained by Strata's engine, on data uuids that name the tenant's uploaded files."""
    return {"new_workflow": ledger.post_workflow(db, request.user, data).document()}


@post(
    "/problem",
    operation_id="orchestrator_post_problem",
    operation_class=json_body(
        {
            "uuid": ID,
            "workflow": ID,
            "test_dataset": IDS,
            "size_train_dataset": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=2**31 - 1),
        },
        "uuid",
        "workflow",
        "test_dataset",
        "size_train_dataset",
    ),
    guards=SUBMIT,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
)
def post_problem(request: Request, db: Session, data: Any) -> Document:
    """Add a problem: `uuid`, `workflow`, `test_dataset` (data uuids held out for scoring) and
    `size_train_dataset` (data per training mini-batch)."""
    return {"new_problem": ledger.post_problem(db, request.user, data).document()}


@post(
    "/algo",
    operation_id="orchestrator_post_algo",
    operation_class=json_body({"uuid": ID, "name": ID, "problem": ID}, "uuid", "name", "problem"),
    guards=SUBMIT,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
)
def post_algo(request: Request, db: Session, data: Any) -> Document:
    """Add an algorithm (`uuid`, `name`, `problem`); its chain of learnuplets starts over the
    problem's training data so far."""
    algo, made = ledger.post_algo(db, request.user, data)
    return {"new_algo": algo.document(), "new_learnuplets": made}


@post(
    "/data",
    operation_id="orchestrator_post_data",
    operation_class=json_body(
        {"uuid": Schema(one_of=[ID, IDS]), "problems": Schema(one_of=[ID, IDS])}, "uuid", "problems"
    ),
    guards=SUBMIT,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
)
def post_data(request: Request, db: Session, data: Any) -> Document:
    """Add data: `uuid` (one or a list) of `problems` (one or a list); each algo of those
    problems extends its chain over them."""
    datas, made = ledger.post_data(db, request.user, data)
    return {"new_datas": [d.document() for d in datas], "new_learnuplets": made}


@post(
    "/prediction",
    operation_id="orchestrator_post_prediction",
    operation_class=json_body(
        {"data": Schema(one_of=[ID, SOME_IDS]), "problem": ID}, "data", "problem"
    ),
    guards=PREDICT,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
)
def post_prediction(request: Request, db: Session, data: Any) -> Document:
    """Ask for a prediction of `data` (a uuid or a list) with the best model of `problem`:
    answers the preduplet, with `new_preduplets`."""
    preduplet = ledger.post_prediction(db, request.user, data)
    return {**preduplet.document(), "new_preduplets": 1}


@post(
    "/worker/{uplet_type:str}/{uuid:str}",
    operation_id="orchestrator_claim",
    operation_class=json_body({"worker": ID}, "worker"),
    guards=SUBMIT,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def claim(request: Request, db: Session, uplet_type: str, uuid: str, data: Any) -> Document:
    """Claim a `todo` learnuplet or preduplet for `worker`; of workers racing, one wins and
    the others get 400. A learnuplet is claimable once its `model_start` is set."""
    claimed = ledger.claim(db, request.user, uplet_type, uuid, data)
    return {f"{uplet_type}_worker_set": claimed}


@post(
    "/learndone/{uuid:str}",
    operation_id="orchestrator_learn_done",
    operation_class=json_body(
        {"status": STATUS, "perf": NUMBER, "train_perf": SCORES, "test_perf": SCORES}, "status"
    ),
    guards=SUBMIT,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def learn_done(request: Request, db: Session, uuid: str, data: Any) -> Document:
    """Report a claimed learnuplet `done` (with `perf`, `train_perf`, `test_perf`) or
    `failed`; done, the next rank starts from the best model of the chain so far."""
    return {"updated_learnuplet": ledger.learn_done(db, request.user, uuid, data).uuid}


@post(
    "/preddone/{uuid:str}",
    operation_id="orchestrator_pred_done",
    operation_class=json_body({"status": STATUS, "prediction_storage_uuid": ID}, "status"),
    guards=SUBMIT,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def pred_done(request: Request, db: Session, uuid: str, data: Any) -> Document:
    """Report a claimed preduplet `done` (with `prediction_storage_uuid`) or `failed`."""
    return {"updated_preduplet": ledger.pred_done(db, request.user, uuid, data).uuid}


def documents(request: Request, db: Session, collection: str) -> Document:
    """The documents of a collection (problem, algo, data, learnuplet, preduplet), filtered by
    fields in the query string, compared as typed values (`?rank=0`, `?status=todo`)."""
    filters = parse_filters(collection, dict(request.query_params))
    found = list_documents(db, request.user, collection, filters)
    return {ledger.plural(collection): [d.document() for d in found]}


def listing(collection: str) -> HTTPRouteHandler:
    """GET of a collection: a path of its own, as a POST of the same path (`/data`) would
    otherwise answer every GET of it with 405."""

    def handler(request: Request, db: Session) -> Document:
        return documents(request, db, collection)

    handler.__doc__ = (
        f"The {ledger.plural(collection)}, filtered by their fields, compared as typed values "
        "(`?rank=0`, `?status=todo`; a list field matches when it holds the value)."
    )
    return get(
        f"/{collection}",
        operation_id=f"orchestrator_list_{collection}",
        guards=READ,
        sync_to_thread=True,
    )(handler)


@get(
    "/{collection:str}",
    operation_id="orchestrator_list",
    guards=READ,
    sync_to_thread=True,
    include_in_schema=False,
)
def any_collection(request: Request, db: Session, collection: str) -> Document:
    """Any other collection: not found."""
    return documents(request, db, collection)


@get(
    "/{collection:str}/{uuid:str}",
    operation_id="orchestrator_get",
    guards=READ,
    sync_to_thread=True,
)
def get_document(request: Request, db: Session, collection: str, uuid: str) -> Document:
    """One document of a collection."""
    return ledger.get_document(db, request.user, collection, uuid).document()


@get(
    "/storage/prediction/{storage_uuid:str}",
    operation_id="orchestrator_stored_prediction",
    guards=READ,
    sync_to_thread=True,
)
def stored_prediction(
    request: Request, db: Session, platform: Platform, storage_uuid: str
) -> Stream:
    """The predictions Strata's engine stored for a preduplet, by its
    `prediction_storage_uuid`: a CSV with a line per validated row of its data (`data`,
    `row_number`, `prediction`, and `probability_<class>` for a classifier)."""
    relative = ledger_prediction.stored_prediction(db, request.user, storage_uuid)
    return landed_file(platform.landing, request.user.tenant_id, relative, f"{storage_uuid}.csv")


def orchestrator_router(prefix: str) -> Router:
    return Router(
        path=prefix,
        route_handlers=[
            post_workflow,
            post_problem,
            post_algo,
            post_data,
            post_prediction,
            claim,
            learn_done,
            pred_done,
            *(listing(collection) for collection in ledger.COLLECTIONS),
            any_collection,
            get_document,
            stored_prediction,
        ],
        tags=["Orchestrator"],
        opt={ERROR_MODEL: OrchestratorError, BASIC_AUTH: True},
        exception_handlers=shaped_handlers(error_shape, malformed=HTTP_400_BAD_REQUEST),
    )
