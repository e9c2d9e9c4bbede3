"""Workbench models: a template trained on a project's dataset becomes a Strata predictor,
trained and registered by the usual run; the workbench keeps what it answers about it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.errors import InvalidInputError
from lakehouse.ml.spec import Attribute, ProblemType
from lakehouse.predictors import records
from lakehouse.profiles.workbench.accounts import iso
from lakehouse.profiles.workbench.datasets import dtype_of, json_rows, silver_rows
from lakehouse.profiles.workbench.templates import ModelTemplate
from lakehouse.states import WorkState
from lakehouse.store.owned import get_owned
from lakehouse.store.workbench import WorkbenchDataset, WorkbenchModel

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

DOMAIN = "workbench"


def get_model(session: Session, actor: Principal, model_id: str) -> WorkbenchModel:
    """A model of the caller's tenant; any other is not found."""
    return get_owned(
        session, WorkbenchModel, model_id, actor.tenant_id, "model", "modelId", "Model not found"
    )


def list_models(
    session: Session, actor: Principal, project_id: str | None
) -> Sequence[WorkbenchModel]:
    query = select(WorkbenchModel).where(WorkbenchModel.tenant_id == actor.tenant_id)
    if project_id is not None:
        query = query.where(WorkbenchModel.project_id == project_id)
    return session.scalars(query.order_by(WorkbenchModel.created_at.desc())).all()


def new_predictor(
    catalog: Catalog,
    held: WorkbenchDataset,
    template: ModelTemplate,
    target: str | None,
    parameters: Mapping[str, Any] | None,
    test_share: float | None,
) -> records.NewPredictor:
    """The Strata predictor a training from `template` makes: the target and every other
    column of the dataset a feature, the template's algorithm and its checked parameters. A
    clustering has no target: a `target` given is left out of its features."""
    columns = silver_rows(catalog, held.dataset, 0).column_names
    clustering = template.problem is ProblemType.CLUSTERING
    if target and target not in columns:
        raise InvalidInputError(
            f"targetColumn '{target}' is no column of the dataset; the columns are "
            f"{', '.join(columns)}",
            field="targetColumn",
        )
    if not target and not clustering:
        raise InvalidInputError(
            f"targetColumn is required for {template.task}; the columns are {', '.join(columns)}",
            field="targetColumn",
        )
    role_of_target = Attribute.IGNORE if clustering else Attribute.TARGET
    roles = [
        {
            "column_name": name,
            "attribute_name": (role_of_target if name == target else Attribute.FEATURE).value,
        }
        for name in columns
    ]
    slug = re.sub(r"[^a-z0-9]+", "_", template.id)
    return records.NewPredictor(
        dataset_id=held.dataset_id,
        predictor_name=f"wb_{slug}_{secrets.token_hex(4)}",
        domain=DOMAIN,
        problem_type=template.problem.value,
        columns=roles,
        algorithm=template.algorithm.value,
        hyperparameters=template.hyperparameters(parameters),
        test_share=test_share,
    )


def feature_facts(
    catalog: Catalog, held: WorkbenchDataset, target: str | None
) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """The features, their types and a request a client could send: the first row's values."""
    rows = silver_rows(catalog, held.dataset, 1)
    features = [name for name in rows.column_names if name != target]
    types = {name: dtype_of(rows.schema.field(name).type) for name in features}
    first = json_rows(rows.select(features))
    return features, types, first[0] if first else {}


# The original's names of the evaluation's states.
EVALUATION_STATUS = {
    WorkState.NOT_STARTED: "pending",
    WorkState.SUBMITTED: "pending",
    WorkState.RUNNING: "computing",
    WorkState.COMPLETED: "ready",
    WorkState.FAILED: "failed",
}


def model_document(
    model: WorkbenchModel, template: ModelTemplate, evaluation: str
) -> dict[str, Any]:
    """The original's ModelRecord; `evaluation` is the state of its evaluation's run."""
    predictor = model.predictor
    artifact = None
    if predictor.model_version is not None:
        artifact = {
            "filename": "model.skops",
            "path": f"models:/{predictor.tables.model_name}/{predictor.model_version}",
            "size": None,
        }
    return {
        "modelId": model.id,
        "projectId": model.project_id,
        "datasetId": model.dataset_id,
        "name": model.name,
        "templateId": model.template_id,
        "taskType": template.task,
        "library": template.library,
        "algorithm": template.model_class,
        "parameters": model.parameters,
        "metrics": model.metrics,
        "status": model.status,
        "createdAt": iso(model.created_at),
        "updatedAt": iso(model.updated_at),
        "trainingMs": model.training_ms,
        "targetColumn": model.target_column,
        "featureColumns": model.feature_columns,
        "featureTypes": model.feature_types,
        "sampleRequest": model.sample_request,
        "sampleCount": predictor.rows_used,
        "artifact": artifact,
        "evaluationStatus": EVALUATION_STATUS.get(WorkState(evaluation), "failed"),
        "metadata": {
            "strataPredictorId": predictor.id,
            "modelVersion": predictor.model_version,
            "testSize": model.test_share,
            "error": predictor.training_error,
        },
    }
