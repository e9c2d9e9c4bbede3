"""The workbench's models: templates, and models trained from them on a project's dataset,
each a Strata predictor trained and registered by a run that the request waits for."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.params import Parameter
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy.orm import Session

from api import runs
from api.downloads import content_disposition
from api.platform import Platform
from api.profiles.workbench.schemas import TrainRequest
from api.security import requires_permission
from lakehouse.accounts.rbac import Principal
from lakehouse.errors import BadRequestError, NotFoundError, StrataError
from lakehouse.ml.clustering import grouped_sizes
from lakehouse.predictors import records
from lakehouse.profiles.workbench import models
from lakehouse.profiles.workbench.datasets import get_workbench_dataset
from lakehouse.profiles.workbench.projects import get_project
from lakehouse.profiles.workbench.templates import TEMPLATES, ModelTemplate, template_of
from lakehouse.store.workbench import WorkbenchDataset, WorkbenchModel

READ = [requires_permission("models:read")]
TRAIN = [requires_permission("models:train")]
Document = dict[str, Any]


def discard(db: Session, platform: Platform, actor: Principal, predictor_id: int) -> None:
    """Remove the predictor of a training that gave no model; one a run still writes (the wait
    ran out) is left to the main API's delete."""
    db.rollback()
    with contextlib.suppress(StrataError):
        runs.remove_predictor(db, platform, actor, predictor_id, runs.Removed())


@get("/models/templates", operation_id="workbench_model_templates", guards=READ)
async def model_templates() -> Document:
    """The model templates: the original's eight scikit-learn models and Strata's XGBoost and
    LightGBM, each with its task, metrics and the parameters a training may set (with their
    bounds or options)."""
    return {"templates": [template.document() for template in TEMPLATES]}


def train_from_template(
    db: Session,
    platform: Platform,
    actor: Principal,
    held: WorkbenchDataset,
    template: ModelTemplate,
    data: TrainRequest,
) -> WorkbenchModel:
    """Train the template on the dataset as a Strata predictor, waiting for its run, record
    the workbench's model and start its evaluation. A training that gives no model is a 400
    and leaves nothing behind."""
    catalog = platform.catalog
    new = models.new_predictor(
        catalog, held, template, data.targetColumn, data.parameters, data.testSize
    )
    predictor = records.create_predictor(db, actor, catalog, new)
    started = time.perf_counter()
    try:
        runs.wait_for_run(platform, runs.start_training(db, platform, predictor))
    except StrataError:
        discard(db, platform, actor, predictor.id)
        raise
    elapsed = int((time.perf_counter() - started) * 1000)
    db.refresh(predictor)
    if predictor.model_version is None or predictor.mlflow_run_id is None:
        error = predictor.training_error or "the training run ended without a model"
        discard(db, platform, actor, predictor.id)
        raise BadRequestError(f"Failed to train model: {error}", field="templateId")
    from lakehouse.ml import registry

    metrics = registry.training_run(platform.settings, predictor.mlflow_run_id).metrics
    features, types, sample = models.feature_facts(catalog, held, data.targetColumn)
    model = WorkbenchModel(
        tenant_id=actor.tenant_id,
        project_id=held.project_id,
        dataset_id=held.id,
        predictor_id=predictor.id,
        name=data.name or template.name,
        template_id=template.id,
        parameters=new.hyperparameters or {},
        test_share=predictor.test_share or 0.15,
        target_column=data.targetColumn,
        feature_columns=features,
        feature_types=types,
        sample_request=sample,
        metrics=grouped_sizes(metrics),
        status="completed",
        training_ms=elapsed,
    )
    db.add(model)
    db.commit()
    with contextlib.suppress(StrataError):  # recorded: retrying the evaluation may start it
        runs.start_evaluation(db, platform, predictor)
    return model


def model_document(platform: Platform, model: WorkbenchModel) -> Document:
    """The ModelRecord, with the state of its evaluation as its run has it."""
    status, _ = runs.evaluation_state(platform.gateway, model.predictor)
    return models.model_document(model, template_of(model.template_id), status)


@post(
    "/models/train",
    operation_id="workbench_train_model",
    guards=TRAIN,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def train_model(db: Session, platform: Platform, request: Request, data: TrainRequest) -> Document:
    """Train a template on a dataset of the project: `targetColumn` is what it learns to
    predict, every other column a feature; `parameters` are the template's (checked against
    their bounds); `testSize` (0.05-0.5, default 0.15) the share of rows it is scored on. The
    request waits for the training run and answers the model with its metrics; its evaluation
    then runs (`evaluationStatus` pending, computing, then ready or failed)."""
    actor: Principal = request.user
    project = get_project(db, actor, data.projectId)
    held = get_workbench_dataset(db, actor, data.datasetId)
    if held.project_id != project.id:
        raise NotFoundError("Dataset not found in this project", field="datasetId")
    template = template_of(data.templateId)
    model = train_from_template(db, platform, actor, held, template, data)
    return {
        "success": True,
        "message": f"Model trained: {template.name}",
        "model": model_document(platform, model),
    }


@get("/models", operation_id="workbench_models", guards=READ, sync_to_thread=True)
def list_models(
    db: Session,
    platform: Platform,
    request: Request,
    project_id: Annotated[str | None, Parameter(query="projectId", max_length=64)] = None,
) -> Document:
    """Your tenant's models, of one project when `projectId` is given; newest first."""
    if project_id is not None:
        get_project(db, request.user, project_id)
    found = models.list_models(db, request.user, project_id)
    return {"models": [model_document(platform, m) for m in found]}


@get("/models/{model_id:str}", operation_id="workbench_model", guards=READ, sync_to_thread=True)
def get_model(db: Session, platform: Platform, request: Request, model_id: str) -> Document:
    model = models.get_model(db, request.user, model_id)
    return {"model": model_document(platform, model)}


@get(
    "/models/{model_id:str}/artifact",
    operation_id="workbench_model_artifact",
    guards=READ,
    sync_to_thread=True,
)
def model_artifact(
    db: Session, platform: Platform, request: Request, model_id: str
) -> Response[bytes]:
    """The trained model's file: its fitted scikit-learn pipeline in skops (never a pickle),
    which `skops.io.load` reads back with the types it trusts."""
    import tempfile
    from pathlib import Path

    from lakehouse.ml import registry
    from lakehouse.model_files import PIPELINE

    model = models.get_model(db, request.user, model_id)
    predictor = model.predictor
    if predictor.model_version is None:
        raise NotFoundError("This model was not trained: it has no file", field="modelId")
    with tempfile.TemporaryDirectory(prefix="strata-artifact-") as scratch:
        directory = registry.model_directory(
            platform.settings, predictor.tables.model_name, predictor.model_version, Path(scratch)
        )
        content = (directory / PIPELINE).read_bytes()
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Content-Disposition": content_disposition(f"{model.name}.skops")},
    )


@delete(
    "/models/{model_id:str}",
    operation_id="workbench_delete_model",
    guards=TRAIN,
    status_code=HTTP_204_NO_CONTENT,
    sync_to_thread=True,
)
def delete_model(db: Session, platform: Platform, request: Request, model_id: str) -> None:
    """Delete the model: its predictor's tables and registered versions too."""
    model = models.get_model(db, request.user, model_id)
    predictor_id = model.predictor_id
    db.delete(model)
    db.flush()
    runs.remove_predictor(db, platform, request.user, predictor_id, runs.Removed())


ROUTES = [model_templates, train_model, list_models, get_model, model_artifact, delete_model]
