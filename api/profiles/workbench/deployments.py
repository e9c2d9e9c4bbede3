"""The workbench's deployments: a trained model answering on Strata's real-time path (no
container per deployment) to callers with one of its API keys, or its owners' tokens, within
a per-deployment rate limit every API process shares; every call is logged."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from litestar import Request, Response, delete, get, patch, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.platform import Platform
from api.profiles.workbench.models import READ, TRAIN
from api.profiles.workbench.schemas import ApiKeyCreate, DeploymentCreate, DeploymentUpdate
from api.security import PUBLIC
from lakehouse.accounts.rate_limit import RateLimit
from lakehouse.accounts.rbac import Principal
from lakehouse.charts import png
from lakehouse.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
    StrataError,
)
from lakehouse.lake.naming import PredictorTables
from lakehouse.ml.serving import ServingModel
from lakehouse.profiles.workbench import charts, deployments, models, observability
from lakehouse.profiles.workbench.projects import get_project
from lakehouse.profiles.workbench.templates import template_of
from lakehouse.states import WorkState
from lakehouse.store.models import Prediction
from lakehouse.store.workbench import WorkbenchDeployment

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Document = dict[str, Any]
MAX_BODY = 1024 * 1024  # a prediction request: 1 MiB at most (more: 413)
AnswerFormat = Annotated[
    Literal["json", "png"],
    Parameter(query="format", description="json, or png for a chart of the answer"),
]


def document(request: Request, deployment: WorkbenchDeployment) -> Document:
    platform: Platform = request.app.state.platform
    return deployments.deployment_document(deployment, platform.settings.workbench_prefix)


@post(
    "/deployments",
    operation_id="workbench_create_deployment",
    guards=TRAIN,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
)
def create_deployment(db: Session, request: Request, data: DeploymentCreate) -> Document:
    """Deploy a classification or regression model of the project: it answers at once on
    `endpointUrl`. At most 5 active deployments per project (more: 409)."""
    actor: Principal = request.user
    get_project(db, actor, data.projectId)
    model = models.get_model(db, actor, data.modelId)
    if model.project_id != data.projectId:
        raise NotFoundError("Model not found in this project", field="modelId")
    task = template_of(model.template_id).task
    deployment = deployments.create_deployment(db, actor, model, task, data.name)
    return {"deployment": document(request, deployment)}


@get("/deployments", operation_id="workbench_deployments", guards=READ, sync_to_thread=True)
def list_deployments(
    db: Session,
    request: Request,
    project_id: Annotated[str, Parameter(query="projectId", min_length=1, max_length=64)],
) -> Document:
    """The project's deployments, newest first."""
    get_project(db, request.user, project_id)
    found = deployments.list_deployments(db, request.user, project_id)
    return {"deployments": [document(request, d) for d in found]}


@get(
    "/deployments/{deployment_id:str}",
    operation_id="workbench_deployment",
    guards=READ,
    sync_to_thread=True,
)
def get_deployment(db: Session, request: Request, deployment_id: str) -> Document:
    deployment = deployments.get_deployment(db, request.user, deployment_id)
    return {"deployment": document(request, deployment)}


@patch(
    "/deployments/{deployment_id:str}",
    operation_id="workbench_update_deployment",
    guards=TRAIN,
    sync_to_thread=True,
)
def update_deployment(
    db: Session, request: Request, deployment_id: str, data: DeploymentUpdate
) -> Document:
    """`{action: stop}` stops answering (503); `{action: start}` answers again, within the
    project's cap."""
    deployment = deployments.get_deployment(db, request.user, deployment_id)
    deployments.change_status(db, deployment, data.action)
    return {"deployment": document(request, deployment)}


@delete(
    "/deployments/{deployment_id:str}",
    operation_id="workbench_delete_deployment",
    guards=TRAIN,
    status_code=HTTP_204_NO_CONTENT,
    sync_to_thread=True,
)
def delete_deployment(db: Session, request: Request, deployment_id: str) -> None:
    """Delete the deployment with its keys and its log (the model stays)."""
    db.delete(deployments.get_deployment(db, request.user, deployment_id))


@post(
    "/deployments/{deployment_id:str}/api-keys",
    operation_id="workbench_create_api_key",
    guards=TRAIN,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
)
def create_api_key(
    db: Session, request: Request, deployment_id: str, data: ApiKeyCreate
) -> Document:
    """A new API key: `rawKey` (`ak_` and 64 hex characters) is shown this once; Strata keeps
    only a salted hash of it."""
    deployment = deployments.get_deployment(db, request.user, deployment_id)
    key, raw_key = deployments.create_api_key(db, deployment, data.name)
    return {"key": deployments.api_key_document(key), "rawKey": raw_key}


@get(
    "/deployments/{deployment_id:str}/api-keys",
    operation_id="workbench_api_keys",
    guards=READ,
    sync_to_thread=True,
)
def list_api_keys(db: Session, request: Request, deployment_id: str) -> Document:
    """The deployment's keys, revoked ones too, by prefix (never their hash or salt)."""
    deployment = deployments.get_deployment(db, request.user, deployment_id)
    return {
        "keys": [deployments.api_key_document(k) for k in deployments.list_api_keys(db, deployment)]
    }


@delete(
    "/deployments/{deployment_id:str}/api-keys/{key_id:str}",
    operation_id="workbench_revoke_api_key",
    guards=TRAIN,
    status_code=HTTP_204_NO_CONTENT,
    sync_to_thread=True,
)
def revoke_api_key(db: Session, request: Request, deployment_id: str, key_id: str) -> None:
    """Revoke the key: it is refused from the next request on, in every API process."""
    deployment = deployments.get_deployment(db, request.user, deployment_id)
    deployments.revoke_api_key(db, deployment, key_id)


@get(
    "/deployments/{deployment_id:str}/schema",
    operation_id="workbench_deployment_schema",
    guards=READ,
    sync_to_thread=True,
)
def deployment_schema(
    db: Session, platform: Platform, request: Request, deployment_id: str
) -> Document:
    """What a caller sends and gets: feature columns and types, a sample request, class
    labels, metrics, and the ranges and categories of the training data."""
    deployment = deployments.get_deployment(db, request.user, deployment_id)
    task = template_of(deployment.model.template_id).task
    return observability.deployment_schema(platform.catalog, deployment, task)


@get(
    "/deployments/{deployment_id:str}/logs",
    operation_id="workbench_deployment_logs",
    guards=READ,
    sync_to_thread=True,
)
def deployment_logs(
    db: Session,
    request: Request,
    deployment_id: str,
    status: Annotated[str | None, Parameter(query="status", max_length=16)] = None,
    start_time: Annotated[datetime | None, Parameter(query="startTime")] = None,
    end_time: Annotated[datetime | None, Parameter(query="endTime")] = None,
    limit: Annotated[int, Parameter(query="limit", ge=1, le=observability.MAX_LOGS)] = 50,
    offset: Annotated[int, Parameter(query="offset", ge=0)] = 0,
) -> Document:
    """The deployment's calls, newest first: inputs, prediction, latency, status and error;
    `status` success or error, `startTime` and `endTime` (ISO 8601), `limit` (at most 500)
    and `offset` page them; `total` counts what the filters leave."""
    deployment = deployments.get_deployment(db, request.user, deployment_id)
    return observability.deployment_logs(
        db, deployment, status, start_time, end_time, limit, offset
    )


@get(
    "/deployments/{deployment_id:str}/stats",
    operation_id="workbench_deployment_stats",
    guards=READ,
    sync_to_thread=True,
)
def deployment_stats(
    db: Session,
    request: Request,
    deployment_id: str,
    range_name: Annotated[str, Parameter(query="range", max_length=8)] = "24h",
    answer_format: AnswerFormat = "json",
) -> Response[Any]:
    """Per hour of the last `range` (1h, 6h, 24h or 7d): requests, errors, average and
    p50/p95/p99 latency in milliseconds; `format=png` draws them."""
    deployment = deployments.get_deployment(db, request.user, deployment_id)
    stats = observability.hourly_stats(db, deployment, range_name)
    if answer_format == "png":
        return chart(charts.stats_figure, deployment.name, stats)
    return Response(stats)


@post(
    "/deployments/{deployment_id:str}/drift",
    operation_id="workbench_deployment_drift",
    guards=READ,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def deployment_drift(
    db: Session,
    platform: Platform,
    request: Request,
    deployment_id: str,
    answer_format: AnswerFormat = "json",
) -> Response[Any]:
    """Drift of the latest 500 answered calls (at least 10) against the training data: per
    feature the PSI on the training bins (green below 0.1, yellow below 0.25, else red) with a
    KS test for numbers or a chi-squared test for categories, and the predictions' drift
    against the model's predictions of the training rows; `format=png` draws the index of
    each feature."""
    from lakehouse.profiles.workbench import drift

    deployment = deployments.get_deployment(db, request.user, deployment_id)
    rows = db.scalars(
        select(Prediction)
        .where(
            Prediction.deployment_id == deployment.id,
            Prediction.status == WorkState.COMPLETED,
        )
        .order_by(Prediction.created_at.desc(), Prediction.id.desc())
        .limit(drift.LATEST_CALLS)
    ).all()
    calls = [row.input_data or {} for row in rows]
    predictions = [(row.output or {}).get("prediction") for row in rows]
    model = deployment.model
    served = platform.models.get(
        model.predictor.tables.model_name, int(deployment.config["modelVersion"])
    )
    table = platform.catalog.load_table(model.predictor.tables.features.identifier)
    frame = table.scan().to_arrow().to_pandas()
    if len(frame) > drift.BASELINE_ROWS:
        frame = frame.sample(drift.BASELINE_ROWS, random_state=0)
    numeric = {
        name: model.feature_types.get(name) in ("integer", "float")
        for name in model.feature_columns
        if name in frame.columns
    }
    baseline_predictions = served.model.predict(frame).tolist()
    report = drift.drift_report(frame, baseline_predictions, calls, predictions, numeric)
    if answer_format == "png":
        return chart(charts.drift_figure, deployment.name, report)
    return Response(report)


def chart(draw: Callable[[str, Document], Figure], name: str, document: Document) -> Response[Any]:
    """The document drawn, as a PNG image."""
    return Response(png(draw(name, document)), media_type="image/png")


@dataclass(frozen=True)
class Admitted:
    """What a prediction call may use, once its caller and the rate limit let it through."""

    tenant_id: str
    predictor_id: int
    model_name: str
    version: int
    caller: str
    features_table: tuple[str, ...]


def admit(
    platform: Platform, deployment_id: str, raw_key: str | None, principal: Principal | None
) -> Admitted:
    """Check the caller (the deployment's key, or a user of its tenant), that it answers, and
    count the call against the deployment's rate limit: one transaction."""
    limit = platform.settings.deployment_requests_per_minute
    rate = RateLimit(limit, message=f"Rate limit exceeded. Max {limit} requests per minute.")
    with platform.store.session() as session:
        found = deployments.served_by(session, deployment_id, raw_key)
        if found is None or (principal is not None and principal.tenant_id != found.tenant_id):
            raise NotFoundError("Deployment not found", field="deploymentId")
        if principal is not None:
            caller = principal.username
        else:
            assert raw_key is not None
            caller = f"key {deployments.check_api_key(session, found, raw_key)}"
        if found.status in deployments.INACTIVE:
            raise ServiceUnavailableError(f"Deployment is {found.status}")
        rate.hit(session, f"deployment:{deployment_id}")
        tables = PredictorTables(found.tenant_id, found.table_name)
        return Admitted(
            tenant_id=found.tenant_id,
            predictor_id=found.predictor_id,
            model_name=tables.model_name,
            version=found.version,
            caller=caller,
            features_table=tuple(tables.features.identifier),
        )


def flat_features(body: bytes) -> dict[str, Any]:
    """The request: one JSON object of feature names to plain values."""
    try:
        features = json.loads(body or b"null")
    except ValueError as exc:
        raise InvalidInputError(f"the body is not JSON: {exc}", field="body") from exc
    if not isinstance(features, dict):
        raise InvalidInputError("send one JSON object of feature names to values", field="body")
    for name, value in features.items():
        if isinstance(value, dict | list):
            raise InvalidInputError(
                f"feature '{name}' must be a plain value, not a list or an object", field=name
            )
    return features


@post(
    "/deployments/{deployment_id:str}/predict",
    operation_id="workbench_deployment_predict",
    opt=PUBLIC,
    status_code=HTTP_200_OK,
    request_max_body_size=MAX_BODY,
)
async def predict(
    request: Request, platform: Platform, deployment_id: str, explain: bool = False
) -> Document:
    """Predict one row, sent as a flat JSON object of feature values, with the deployment's
    `x-api-key` or an owner's bearer token: `{prediction, probabilities?}`, and with
    `explain=true` the row's SHAP values per feature, largest first (`shap_values`). 401
    without credentials, 403 with a wrong, revoked or another deployment's key, 413 over
    1 MiB, 429 over the deployment's requests a minute, 503 while it is stopped."""
    started = time.perf_counter()
    raw_key = request.headers.get("x-api-key")
    principal = None
    if not raw_key:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("send the deployment's x-api-key or a bearer token")
        principal = platform.cached_principal(token.strip())
        if principal is None:
            principal = await anyio.to_thread.run_sync(platform.principal, token.strip())
    features = flat_features(await request.body())  # over 1 MiB: 413, before any count
    admitted = await anyio.to_thread.run_sync(admit, platform, deployment_id, raw_key, principal)
    model = platform.models.cached(admitted.model_name, admitted.version)
    if model is None:
        model = await anyio.to_thread.run_sync(
            platform.models.get, admitted.model_name, admitted.version
        )
    answer, error = None, None
    try:
        answer = model.predict(features)
    except StrataError as exc:
        error = exc
    platform.prediction_log.record(
        tenant_id=admitted.tenant_id,
        predictor_id=admitted.predictor_id,
        prediction_type="realtime",
        dataset_id=None,
        input_data=features,
        output=None
        if answer is None
        else {"prediction": answer.prediction, "probabilities": answer.probabilities},
        status=WorkState.COMPLETED if answer is not None else WorkState.FAILED,
        error=None if error is None else error.message,
        no_of_records=1,
        model_version=admitted.version,
        created_by=admitted.caller[:150],
        deployment_id=deployment_id,
        latency_ms=(time.perf_counter() - started) * 1000,
    )
    if error is not None:
        raise error
    assert answer is not None
    result: Document = {"prediction": answer.prediction}
    if answer.probabilities is not None:
        result["probabilities"] = answer.probabilities
    if explain:
        result["shap_values"] = await anyio.to_thread.run_sync(
            explained_call, platform, admitted, model, features
        )
    return result


def explained_call(
    platform: Platform, admitted: Admitted, model: ServingModel, features: dict[str, Any]
) -> list[Document]:
    """SHAP values of one call's row against a sample of the training rows."""
    import pandas as pd

    from lakehouse.ml.evaluation import explain_rows

    trained = model.model
    row = pd.DataFrame([model.checked(features)])[trained.features]
    background = platform.explanation_background(admitted.features_table, admitted.version)
    found = explain_rows(trained, row, trained.pipeline.predict(row), background)
    values = zip(trained.features, found.values[0], strict=True)
    shown = [{"feature": name, "value": float(value)} for name, value in values]
    return sorted(shown, key=lambda item: -abs(item["value"]))


ROUTES = [
    create_deployment,
    list_deployments,
    get_deployment,
    update_deployment,
    delete_deployment,
    create_api_key,
    list_api_keys,
    revoke_api_key,
    deployment_schema,
    deployment_logs,
    deployment_stats,
    deployment_drift,
    predict,
]
