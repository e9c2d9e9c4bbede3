"""The workbench's experiments: a model's evaluation, SHAP values and error analysis (computed
by the evaluation run after training), models compared, a model tuned with Optuna in a run
whose trials stream back as NDJSON, and phrases read as filters."""

from __future__ import annotations

import json
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
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError, StrataError
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
    _, _, document = evaluation_document(platform, model, SHAP)
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
            evaluation=evaluation_document(platform, m, EVALUATION)[2],
        )
        for m in found
    ]
    return experiments.comparison(compared)


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
    predictor = model.predictor
    runs.ensure_idle(platform.gateway, predictor.last_run_id, f"model {model.id}", "modelId")
    platform.gateway.add_partition(PREDICTOR_PARTITIONS, str(predictor.id))
    run_id = platform.gateway.submit(
        PREDICTOR_TUNING_JOB,
        partition_key=str(predictor.id),
        run_config=tuning_run_config(metric, data.nTrials, data.sampler, data.timeoutSeconds, keys),
        tags={TENANT_TAG: actor.tenant_id},
    )
    refit = TrainRequest(
        projectId=project_id,
        datasetId=model.dataset_id,
        templateId=model.template_id,
        targetColumn=model.target_column,
        testSize=model.test_share,
        name=f"{model.name} (tuned)",
    )
    return Stream(tuning_events(platform, actor, model.id, run_id, refit), media_type=NDJSON)


def tuning_events(
    platform: Platform, actor: Principal, model_id: str, run_id: str, refit: TrainRequest
) -> Iterator[str]:
    """The tuning run's events as NDJSON lines while it runs, then the refit best model."""
    offset, tuned, failure = 0, None, None
    while True:
        finished = platform.gateway.status(run_id).is_finished
        page = platform.gateway.logs(run_id, offset)
        offset += len(page)
        for entry in page:
            event = parse_event(entry.message)
            if event is None:
                continue
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
        if finished and not page:
            break
        if not page:
            time.sleep(POLL_SECONDS)
    if tuned is None:
        yield line({"type": "error", "message": failure or f"tuning run {run_id} ended early"})
        return
    try:
        with platform.store.session() as db:
            model = models.get_model(db, actor, model_id)
            refit.parameters = {**model.parameters, **tuned["best_params"]}
            held = get_workbench_dataset(db, actor, refit.datasetId)
            result = train_from_template(
                db, platform, actor, held, template_of(model.template_id), refit
            )
            result_id = result.id
    except StrataError as exc:
        yield line({"type": "error", "message": f"refitting the best parameters: {exc.message}"})
        return
    yield line(
        {
            "type": "done",
            "resultModelId": result_id,
            "best_params": tuned["best_params"],
            "best_value": tuned["best_value"],
            "runId": run_id,
        }
    )


def line(event: Document) -> str:
    return json.dumps(event, default=str) + "\n"


ROUTES = [evaluation, retry_evaluation, shap_values, error_analysis, compare, nl_filter, tune]
