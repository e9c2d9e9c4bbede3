"""Workbench deployments: a registered model answering through Strata's real-time path, to
callers holding one of the deployment's API keys (or its owners' tokens), within a rate limit
shared by every API process."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import String, and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from lakehouse.profiles.workbench.accounts import iso
from lakehouse.store.models import Predictor, utcnow
from lakehouse.store.owned import get_owned
from lakehouse.store.workbench import WorkbenchApiKey, WorkbenchDeployment, WorkbenchModel

MAX_ACTIVE = 5
INACTIVE = ("stopped", "failed")
KEY_PREFIX = "ak_"
SHOWN_PREFIX = 11  # "ak_" and 8 hex characters: enough to tell keys apart, useless to guess
SERVED_TASKS = ("classification", "regression")
LAST_USED_EVERY = timedelta(seconds=60)  # how stale `lastUsedAt` may be, to spare writes


def get_deployment(session: Session, actor: Principal, deployment_id: str) -> WorkbenchDeployment:
    """A deployment of the caller's tenant; any other is not found."""
    return get_owned(
        session,
        WorkbenchDeployment,
        deployment_id,
        actor.tenant_id,
        "deployment",
        "deploymentId",
        "Deployment not found",
    )


def list_deployments(
    session: Session, actor: Principal, project_id: str
) -> Sequence[WorkbenchDeployment]:
    return session.scalars(
        select(WorkbenchDeployment)
        .where(
            WorkbenchDeployment.tenant_id == actor.tenant_id,
            WorkbenchDeployment.project_id == project_id,
        )
        .order_by(WorkbenchDeployment.created_at.desc())
    ).all()


def check_room(session: Session, project_id: str) -> None:
    """Refuse (409) a deployment over the project's cap of active ones."""
    active = session.scalar(
        select(func.count())
        .select_from(WorkbenchDeployment)
        .where(
            WorkbenchDeployment.project_id == project_id,
            WorkbenchDeployment.status.not_in(INACTIVE),
        )
    )
    if (active or 0) >= MAX_ACTIVE:
        raise ConflictError(
            f"Maximum of {MAX_ACTIVE} active deployments per project reached; stop one first",
            field="projectId",
        )


def create_deployment(
    session: Session, actor: Principal, model: WorkbenchModel, task: str, name: str
) -> WorkbenchDeployment:
    """Deploy a classification or regression model of the project, within the cap."""
    if task not in SERVED_TASKS:
        raise InvalidInputError(
            f"Only classification and regression models can be deployed, not {task}",
            field="modelId",
        )
    if model.predictor.model_version is None:
        raise ConflictError("The model has no trained version to serve", field="modelId")
    check_room(session, model.project_id)
    deployment = WorkbenchDeployment(
        tenant_id=actor.tenant_id,
        project_id=model.project_id,
        model_id=model.id,
        name=name,
        status="healthy",
        config={"modelVersion": model.predictor.model_version},
    )
    session.add(deployment)
    session.flush()
    return deployment


@dataclass(frozen=True)
class Served:
    """What a prediction call needs of its deployment, with the live keys a caller's key may
    be (those of its prefix), read in one query."""

    tenant_id: str
    status: str
    predictor_id: int
    table_name: str
    version: int
    keys: tuple[Any, ...]
    """Rows of id, key_prefix, key_hash, key_salt and last_used_at."""


ADMISSION = (
    select(
        WorkbenchDeployment.tenant_id,
        WorkbenchDeployment.status,
        WorkbenchDeployment.config,
        Predictor.id,
        Predictor.table_name,
        WorkbenchApiKey.id,
        WorkbenchApiKey.key_prefix,
        WorkbenchApiKey.key_hash,
        WorkbenchApiKey.key_salt,
        WorkbenchApiKey.last_used_at,
    )
    .select_from(WorkbenchDeployment)
    .join(WorkbenchModel, WorkbenchModel.id == WorkbenchDeployment.model_id)
    .join(Predictor, Predictor.id == WorkbenchModel.predictor_id)
    .outerjoin(
        WorkbenchApiKey,
        and_(
            WorkbenchApiKey.deployment_id == WorkbenchDeployment.id,
            WorkbenchApiKey.key_prefix == bindparam("prefix", type_=String),
            WorkbenchApiKey.revoked_at.is_(None),
        ),
    )
    .where(WorkbenchDeployment.id == bindparam("deployment_id", type_=String))
)


def served_by(session: Session, deployment_id: str, raw_key: str | None) -> Served | None:
    """The deployment a call names, or None when there is none. A prediction call's only read
    of the store: a statement built once, run on the session's connection."""
    prefix = raw_key[:SHOWN_PREFIX] if raw_key else None
    rows = (
        session.connection()
        .execute(ADMISSION, {"deployment_id": deployment_id, "prefix": prefix})
        .all()
    )
    if not rows:
        return None
    tenant_id, status, config, predictor_id, table_name = rows[0][:5]
    keys = tuple(row[5:] for row in rows if row[5] is not None)
    return Served(tenant_id, status, predictor_id, table_name, int(config["modelVersion"]), keys)


def check_api_key(session: Session, served: Served, raw_key: str) -> str:
    """The prefix of the deployment's live key `raw_key` is; a wrong, revoked or another
    deployment's key is refused (403)."""
    for key_id, prefix, key_hash, salt, last_used_at in served.keys:
        if hmac.compare_digest(key_hash, digest(salt, raw_key)):
            now = utcnow()
            if last_used_at is None or now - as_aware(last_used_at) > LAST_USED_EVERY:
                session.connection().execute(
                    update(WorkbenchApiKey)
                    .where(WorkbenchApiKey.id == key_id)
                    .values(last_used_at=now)
                )
            return str(prefix)
    raise PermissionDeniedError("Invalid API key for this deployment", field="x-api-key")


def change_status(session: Session, deployment: WorkbenchDeployment, action: str) -> None:
    """Stop a deployment (it answers no more) or start it again (within the cap)."""
    if action == "stop":
        if deployment.status not in INACTIVE:
            deployment.status, deployment.stopped_at = "stopped", utcnow()
    elif action == "start":
        if deployment.status in INACTIVE:
            check_room(session, deployment.project_id)
            deployment.status, deployment.stopped_at = "healthy", None
    else:
        raise InvalidInputError(f"action must be stop or start, not '{action}'", field="action")
    deployment.updated_at = utcnow()


def deployment_document(deployment: WorkbenchDeployment, prefix: str) -> dict[str, Any]:
    """The original's DeploymentRecord; no container: Strata serves it in the API itself."""
    return {
        "deploymentId": deployment.id,
        "modelId": deployment.model_id,
        "projectId": deployment.project_id,
        "name": deployment.name,
        "status": deployment.status,
        "containerId": None,
        "port": None,
        "endpointUrl": f"{prefix}/deployments/{deployment.id}/predict",
        "errorMessage": deployment.error_message,
        "config": deployment.config,
        "createdAt": iso(deployment.created_at),
        "updatedAt": iso(deployment.updated_at),
        "stoppedAt": iso(deployment.stopped_at) if deployment.stopped_at else None,
    }


def digest(salt: str, raw_key: str) -> str:
    return hashlib.sha256((salt + raw_key).encode()).hexdigest()


def create_api_key(
    session: Session, deployment: WorkbenchDeployment, name: str
) -> tuple[WorkbenchApiKey, str]:
    """A new key for the deployment: `ak_` and 64 hex characters, answered this once and kept
    only as a salted hash."""
    raw_key = KEY_PREFIX + secrets.token_hex(32)
    salt = secrets.token_hex(16)
    key = WorkbenchApiKey(
        tenant_id=deployment.tenant_id,
        deployment_id=deployment.id,
        name=name,
        key_prefix=raw_key[:SHOWN_PREFIX],
        key_hash=digest(salt, raw_key),
        key_salt=salt,
    )
    session.add(key)
    session.flush()
    return key, raw_key


def list_api_keys(session: Session, deployment: WorkbenchDeployment) -> Sequence[WorkbenchApiKey]:
    return session.scalars(
        select(WorkbenchApiKey)
        .where(WorkbenchApiKey.deployment_id == deployment.id)
        .order_by(WorkbenchApiKey.created_at)
    ).all()


def revoke_api_key(session: Session, deployment: WorkbenchDeployment, key_id: str) -> None:
    """Revoke a key of the deployment; it stops working at once. Another's is not found."""
    key = session.get(WorkbenchApiKey, key_id)
    if key is None or key.deployment_id != deployment.id:
        raise NotFoundError("API key not found", field="keyId")
    if key.revoked_at is None:
        key.revoked_at = utcnow()


def api_key_document(key: WorkbenchApiKey) -> dict[str, Any]:
    """A key as listed: never its hash or salt."""
    return {
        "keyId": key.id,
        "deploymentId": key.deployment_id,
        "name": key.name,
        "keyPrefix": key.key_prefix,
        "createdAt": iso(key.created_at),
        "lastUsedAt": iso(key.last_used_at) if key.last_used_at else None,
        "revokedAt": iso(key.revoked_at) if key.revoked_at else None,
    }


def as_aware(moment: Any) -> Any:
    """A stored time with its zone (SQLite gives it back naive, in UTC)."""
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
