"""The workbench's experiments: a model's evaluation, SHAP values and error analysis (computed
by the evaluation run after training), models compared, a model tuned with Optuna in a run
whose trials stream back as NDJSON, and phrases read as filters."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from litestar import Request, get, post
from litestar.openapi import ResponseSpec
from litestar.response import Response, Stream
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
    HTTP_409_CONFLICT,
)
from sqlalchemy.orm import Session

from api import runs
from api.platform import Platform
from api.profiles.workbench.models import READ, TRAIN, train_from_template
from api.profiles.workbench.schemas import (
    CompareRequest,
    NlFilterRequest,
    TrainRequest,
    TuneRequest,
    WorkbenchError,
)
from lakehouse.accounts.rbac import Principal
from lakehouse.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
    StrataError,
)
from lakehouse.ml.spec import ProblemType
from lakehouse.predictors.evaluation import ERROR_ANALYSIS, EVALUATION, SHAP
from lakehouse.predictors.tuning import parse_event
from lakehouse.profiles.workbench import experiments, models
from lakehouse.profiles.workbench.datasets import get_workbench_dataset
from lakehouse.profiles.workbench.projects import get_project
from lakehouse.profiles.workbench.templates import template_of
from lakehouse.runs import PREDICTOR_PARTITIONS, PREDICTOR_TUNING_JOB, tuning_run_config
from lakehouse.states import WorkState
from lakehouse.store.workbench import WorkbenchModel
from pipelines.gateway import TENANT_TAG

log = logging.getLogger("strata.workbench")
Document = dict[str, Any]
NDJSON = "application/x-ndjson"
POLL_SECONDS = 0.25
FAILED_EVALUATION = {
    HTTP_409_CONFLICT: ResponseSpec(
        data_container=WorkbenchError,
        description="The evaluation failed (retry it) or is running already",
        generate_examples=False,
    )
}


def evaluation_document(
    platform: Platform, model: WorkbenchModel, path: str
) -> tuple[str, str | None, Any]:
    """The evaluation's state (the original's name for it), why it failed, and the document
    at `path` once it is ready."""
    from lakehouse.ml import registry

    predictor = model.predictor
    state, error = runs.evaluation_state(platform.gateway, predictor)
    status = models.EVALUATION_STATUS.get(WorkState(state), "failed")
    if status != "ready" or predictor.mlflow_run_id is None:
        return status, error, None
    return status, None, registry.run_document(platform.settings, predictor.mlflow_run_id, path)


@get(
    "/experiments/{model_id:str}/evaluation",
    operation_id="workbench_evaluation",
    guards=READ,
    sync_to_thread=True,
    responses={
        HTTP_202_ACCEPTED: ResponseSpec(
            data_container=dict[str, str],
            description="The evaluation is still being computed",
            generate_examples=False,
        ),
        **FAILED_EVALUATION,
    },
)
def evaluation(db: Session, platform: Platform, request: Request, model_id: str) -> Response[Any]:
    """The model's evaluation on its test rows: metrics, confusion matrix and ROC curves (or
    predicted against actual), importance by the model and by permutation, learning curve and
    cross-validation scores. 202 while its run computes it; 409 when it failed."""
    model = models.get_model(db, request.user, model_id)
    if model.predictor.evaluation_status is None:
        raise ConflictError(
            "No evaluation was started for this model's current version; start one with POST "
            f"/experiments/{model_id}/evaluation/retry",
            field="modelId",
        )
    status, error, document = evaluation_document(platform, model, EVALUATION)
    if status == "failed":
        raise ConflictError(
            f"The evaluation failed: {error}; retry it with POST "
            f"/experiments/{model_id}/evaluation/retry",
            field="modelId",
        )
    if document is None:
        return Response(
            {"status": status, "message": "The evaluation is being computed; try again shortly"},
            status_code=HTTP_202_ACCEPTED,
        )
    return Response(document, status_code=HTTP_200_OK)


@post(
    "/experiments/{model_id:str}/evaluation/retry",
    operation_id="workbench_retry_evaluation",
    guards=TRAIN,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
    responses=FAILED_EVALUATION,
)
def retry_evaluation(db: Session, platform: Platform, request: Request, model_id: str) -> Document:
    """Compute the model's evaluation again (409 while a run still computes it)."""
    model = models.get_model(db, request.user, model_id)
    runs.start_evaluation(db, platform, model.predictor)
    status, _ = runs.evaluation_state(platform.gateway, model.predictor)
    return {"ok": True, "evaluationStatus": models.EVALUATION_STATUS[WorkState(status)]}


@get(
    "/experiments/{model_id:str}/shap",
    operation_id="workbench_shap",
    guards=READ,
    sync_to_thread=True,
    responses={
        HTTP_204_NO_CONTENT: ResponseSpec(
            data_container=None, description="Not computed yet", generate_examples=False
        )
    },
)
def shap_values(db: Session, platform: Platform, request: Request, model_id: str) -> Response[Any]:
    """SHAP values of a sample of the test rows, per feature (a class's for a classifier: the
    positive one of two, else each row's predicted one), with base values, the rows' values
    and the mean |SHAP| per feature; 204 until the evaluation has computed them (and for a
    clustering, which has none)."""
    model = models.get_model(db, request.user, model_id)
    if template_of(model.template_id).problem is ProblemType.CLUSTERING:
        return Response(None, status_code=HTTP_204_NO_CONTENT)  # no SHAP of cluster numbers
    try:
        _, _, document = evaluation_document(platform, model, SHAP)
    except NotFoundError:  # SHAP could not explain this model: the evaluation has none
        document = None
    if document is None:
        return Response(None, status_code=HTTP_204_NO_CONTENT)
    return Response(document, status_code=HTTP_200_OK)


@get(
    "/experiments/{model_id:str}/error-analysis",
    operation_id="workbench_error_analysis",
    guards=READ,
    sync_to_thread=True,
)
def error_analysis(db: Session, platform: Platform, request: Request, model_id: str) -> Document:
    """Where the model errs: a decision tree of depth 4 over the features separating the test
    rows it gets wrong, and its worst mistakes with their top SHAP contributors; `{available:
    false, reason}` until the evaluation is ready or when it makes no mistakes."""
    model = models.get_model(db, request.user, model_id)
    status, error, document = evaluation_document(platform, model, ERROR_ANALYSIS)
    if document is None:
        reason = f"the evaluation is {status}" + (f": {error}" if error else "")
        return {"available": False, "reason": reason}
    found: Document = document
    return found


def project_model(db: Session, actor: Principal, project_id: str, model_id: str) -> WorkbenchModel:
    """A model of the project; a model of another project or tenant is not found."""
    model = models.get_model(db, actor, model_id)
    if model.project_id != project_id:
        raise NotFoundError("Model not found in this project", field="modelId")
    return model


@post(
    "/experiments/{project_id:str}/compare",
    operation_id="workbench_compare",
    guards=READ,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def compare(
    db: Session, platform: Platform, request: Request, project_id: str, data: CompareRequest
) -> Document:
    """Compare 2 to 5 models of the project: each shared metric's values and spread, and the
    cross-validation scores' (with Welch's t-test for two models whose evaluations are
    ready). Models not found are left out; fewer than two found is a 404."""
    experiments.check_count(data.modelIds)
    get_project(db, request.user, project_id)
    found = []
    for model_id in dict.fromkeys(data.modelIds):
        try:
            found.append(project_model(db, request.user, project_id, model_id))
        except NotFoundError:
            continue
    if len(found) < experiments.MIN_COMPARED:
        raise NotFoundError("Fewer than 2 of these models were found", field="modelIds")
    compared = [
        experiments.Compared(
            model_id=m.id,
            name=m.name,
            template_id=m.template_id,
            task=template_of(m.template_id).task,
            metrics=m.metrics,
            evaluation=ready_evaluation(platform, m),
        )
        for m in found
    ]
    return experiments.comparison(compared)


def ready_evaluation(platform: Platform, model: WorkbenchModel) -> Any:
    """The model's evaluation if it is ready, else None."""
    try:
        return evaluation_document(platform, model, EVALUATION)[2]
    except NotFoundError:
        return None


@post(
    "/experiments/{project_id:str}/nl-filter",
    operation_id="workbench_nl_filter",
    guards=READ,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def nl_filter(db: Session, request: Request, project_id: str, data: NlFilterRequest) -> Document:
    """Read simple phrases ("accuracy above 0.9 and name contains forest") as predicates
    `{field, operator, value}`; what it cannot read is left out."""
    get_project(db, request.user, project_id)
    return {"predicates": experiments.parse_filter(data.query)}


@post(
    "/experiments/{project_id:str}/tune",
    operation_id="workbench_tune",
    guards=TRAIN,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
    media_type=NDJSON,
    responses={
        HTTP_409_CONFLICT: ResponseSpec(
            data_container=WorkbenchError,
            description="A run still trains the model, or its dataset was deleted",
            generate_examples=False,
        )
    },
)
def tune(
    db: Session, platform: Platform, request: Request, project_id: str, data: TuneRequest
) -> Stream:
    """Tune a model's hyperparameters with Optuna (`sampler` tpe, seeded, or random) for
    `nTrials` trials or `timeoutSeconds`, each trial cross-validated (5 folds) for `metric`.
    Streams NDJSON: a `trial_result` and a `convergence_update` per trial, then `done` naming
    the best parameters refitted and saved as a new model (`resultModelId`), or `error`."""
    from lakehouse.ml.tuning import Tuning, search_space

    actor: Principal = request.user
    get_project(db, actor, project_id)
    model = project_model(db, actor, project_id, data.modelId)
    template = template_of(model.template_id)
    if template.problem is ProblemType.CLUSTERING:
        raise InvalidInputError(
            f"{template.name} models are not tuned: a clustering has no score to cross-validate",
            field="modelId",
        )
    metric = data.metric or ("accuracy" if template.problem is ProblemType.CLASSIFICATION else "r2")
    Tuning(metric, data.nTrials, data.sampler, data.timeoutSeconds).check(template.problem)
    keys = [p.key for p in template.parameters if p.tunable]
    if not search_space(template.algorithm, template.problem, keys):
        raise InvalidInputError(f"{template.name} has no parameter to tune", field="modelId")
    if model.dataset_id is None:
        raise ConflictError(
            "The model's dataset was deleted: its best parameters could not be refitted",
            field="modelId",
        )
    suffix = " (tuned)"
    refit = TrainRequest(
        projectId=project_id,
        datasetId=model.dataset_id,
        templateId=model.template_id,
        targetColumn=model.target_column,
        testSize=model.test_share,
        name=model.name[: 200 - len(suffix)] + suffix,
    )
    predictor = model.predictor
    for run_id in (predictor.last_run_id, predictor.tuning_run_id):
        runs.ensure_idle(platform.gateway, run_id, f"model {model.id}", "modelId")
    predictor_id = predictor.id
    config = tuning_run_config(metric, data.nTrials, data.sampler, data.timeoutSeconds, keys)

    def launch() -> str:
        platform.gateway.add_partition(PREDICTOR_PARTITIONS, str(predictor_id))
        return platform.gateway.submit(
            PREDICTOR_TUNING_JOB,
            partition_key=str(predictor_id),
            run_config=config,
            tags={TENANT_TAG: actor.tenant_id},
        )

    run_id = runs.submit_committed(db, platform, actor.tenant_id, launch)
    predictor.tuning_run_id = run_id
    db.commit()
    deadline = time.monotonic() + data.timeoutSeconds + platform.settings.profile_wait_seconds
    events = tuning_events(platform, actor, model.id, run_id, refit, deadline)
    return Stream(events, media_type=NDJSON)


def tuning_events(
    platform: Platform,
    actor: Principal,
    model_id: str,
    run_id: str,
    refit: TrainRequest,
    deadline: float,
) -> Iterator[str]:
    """The tuning run's events as NDJSON lines while it runs, then the refit best model, or
    an `error` line. A run past the deadline, or whose client went away, is canceled."""
    finished = False
    try:
        tuned, failure = None, None
        for event in run_events(platform, run_id, deadline):
            if event["type"] == "trial_result":
                yield line(event)
                yield line(
                    {
                        "type": "convergence_update",
                        "trial_number": event["trial_number"],
                        "best_value": event["best_value"],
                    }
                )
            elif event["type"] == "tuned":
                tuned = event
            elif event["type"] == "error":
                failure = str(event.get("message"))
        finished = True
        if tuned is None:
            yield line({"type": "error", "message": failure or f"tuning run {run_id} ended early"})
            return
        yield line(refitted(platform, actor, model_id, refit, tuned) | {"runId": run_id})
    except StrataError as exc:
        yield line({"type": "error", "message": exc.message})
    except Exception:
        log.exception("tuning stream of run %s failed", run_id)
        yield line({"type": "error", "message": f"tuning run {run_id} could not be followed"})
    finally:
        if not finished:
            with contextlib.suppress(StrataError):
                platform.gateway.cancel(run_id)


def run_events(platform: Platform, run_id: str, deadline: float) -> Iterator[Document]:
    """The events a tuning run logs, as it logs them, until it ends; past the deadline a
    ServiceUnavailableError."""
    offset = 0
    while True:
        finished = platform.gateway.status(run_id).is_finished
        page = platform.gateway.logs(run_id, offset)
        offset += len(page)
        for entry in page:
            event = parse_event(entry.message)
            if event is not None:
                yield event
        if finished and not page:
            return
        if time.monotonic() > deadline:
            raise ServiceUnavailableError(f"tuning run {run_id} ran past its time and was stopped")
        if not page:
            time.sleep(POLL_SECONDS)


def refitted(
    platform: Platform, actor: Principal, model_id: str, refit: TrainRequest, tuned: Document
) -> Document:
    """Train the best parameters as a new model: the `done` event naming it."""
    with platform.store.session() as db:
        model = models.get_model(db, actor, model_id)
        refit.parameters = {**model.parameters, **tuned["best_params"]}
        held = get_workbench_dataset(db, actor, refit.datasetId)
        result = train_from_template(
            db, platform, actor, held, template_of(model.template_id), refit
        )
        return {
            "type": "done",
            "resultModelId": result.id,
            "best_params": tuned["best_params"],
            "best_value": tuned["best_value"],
        }


def line(event: Document) -> str:
    return json.dumps(event, default=str) + "\n"


ROUTES = [evaluation, retry_evaluation, shap_values, error_analysis, compare, nl_filter, tune]
