"""Workbench projects: a tenant's named workspaces, holding datasets and models; the
`metadata` a client keeps on one (phases, instructions) is stored as given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.profiles.workbench.accounts import iso
from lakehouse.store.models import utcnow
from lakehouse.store.owned import get_owned
from lakehouse.store.workbench import WorkbenchProject

# The fields a client sets, besides `name`.
OPTIONAL = ("description", "icon", "color", "metadata")


@dataclass(frozen=True)
class ProjectFields:
    """What a create or update sets: `name` and, of OPTIONAL, the fields in `given`."""

    name: str | None
    given: dict[str, Any]


def get_project(session: Session, actor: Principal, project_id: str) -> WorkbenchProject:
    """A project of the caller's tenant; any other, or an id that is no project, is not found."""
    return get_owned(
        session,
        WorkbenchProject,
        project_id,
        actor.tenant_id,
        "project",
        "projectId",
        "Project not found",
    )


def list_projects(session: Session, actor: Principal) -> Sequence[WorkbenchProject]:
    return session.scalars(
        select(WorkbenchProject)
        .where(WorkbenchProject.tenant_id == actor.tenant_id)
        .order_by(WorkbenchProject.updated_at.desc(), WorkbenchProject.id)
    ).all()


def create_project(session: Session, actor: Principal, fields: ProjectFields) -> WorkbenchProject:
    assert fields.name is not None
    project = WorkbenchProject(
        tenant_id=actor.tenant_id, user_id=actor.user_id or None, name=fields.name
    )
    _apply(project, fields)
    session.add(project)
    session.flush()
    return project


def update_project(
    session: Session, actor: Principal, project_id: str, fields: ProjectFields
) -> WorkbenchProject:
    project = get_project(session, actor, project_id)
    if fields.name is not None:
        project.name = fields.name
    _apply(project, fields)
    project.updated_at = utcnow()
    session.flush()
    return project


def _apply(project: WorkbenchProject, fields: ProjectFields) -> None:
    for key, value in fields.given.items():
        if key == "metadata":
            project.details = value
        elif key in OPTIONAL:
            setattr(project, key, value)


def project_document(project: WorkbenchProject) -> dict[str, Any]:
    """The original's Project, camelCase; optional fields only when set."""
    document: dict[str, Any] = {
        "id": project.id,
        "userId": str(project.user_id) if project.user_id is not None else None,
        "name": project.name,
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at),
    }
    for key in ("description", "icon", "color"):
        if getattr(project, key) is not None:
            document[key] = getattr(project, key)
    if project.details is not None:
        document["metadata"] = project.details
    return document
