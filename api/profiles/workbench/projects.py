"""The workbench's projects: a tenant's workspaces; another tenant's project is not found."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, patch, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.orm import Session

from api import runs
from api.platform import Platform
from api.profiles.workbench.datasets import remove_workbench_dataset
from api.profiles.workbench.schemas import ProjectCreate, ProjectUpdate
from api.security import requires_permission
from lakehouse.errors import PermissionDeniedError
from lakehouse.profiles.workbench import datasets as workbench_datasets
from lakehouse.profiles.workbench import projects

READ = [requires_permission("datasets:read")]
MANAGE = [requires_permission("datasets:manage")]
Document = dict[str, Any]


def fields_of(data: ProjectCreate | ProjectUpdate) -> projects.ProjectFields:
    given = {key: getattr(data, key) for key in projects.OPTIONAL if key in data.model_fields_set}
    return projects.ProjectFields(name=data.name, given=given)


@get("/projects", operation_id="workbench_projects", guards=READ, sync_to_thread=True)
def list_projects(db: Session, request: Request) -> Document:
    """Your tenant's projects, the most recently updated first."""
    return {
        "projects": [projects.project_document(p) for p in projects.list_projects(db, request.user)]
    }


@post(
    "/projects",
    operation_id="workbench_create_project",
    guards=MANAGE,
    status_code=HTTP_201_CREATED,
    sync_to_thread=True,
)
def create_project(db: Session, request: Request, data: ProjectCreate) -> Document:
    """A new project; `metadata` is kept as given."""
    project = projects.create_project(db, request.user, fields_of(data))
    return {"project": projects.project_document(project)}


@delete(
    "/projects/reset",
    operation_id="workbench_reset_projects",
    guards=MANAGE,
    status_code=HTTP_200_OK,
)
async def reset_projects() -> None:
    """The original's reset of every project, for its own tests: refused here."""
    raise PermissionDeniedError("Resetting projects is only available in test environments")


@get(
    "/projects/{project_id:str}",
    operation_id="workbench_project",
    guards=READ,
    sync_to_thread=True,
)
def get_project(db: Session, request: Request, project_id: str) -> Document:
    return {
        "project": projects.project_document(projects.get_project(db, request.user, project_id))
    }


@patch(
    "/projects/{project_id:str}",
    operation_id="workbench_update_project",
    guards=MANAGE,
    sync_to_thread=True,
)
def update_project(db: Session, request: Request, project_id: str, data: ProjectUpdate) -> Document:
    """Change the fields sent; the others stay."""
    project = projects.update_project(db, request.user, project_id, fields_of(data))
    return {"project": projects.project_document(project)}


@delete(
    "/projects/{project_id:str}",
    operation_id="workbench_delete_project",
    guards=MANAGE,
    status_code=HTTP_204_NO_CONTENT,
    sync_to_thread=True,
)
def delete_project(db: Session, platform: Platform, request: Request, project_id: str) -> None:
    """Delete a project with its datasets (their tables and files too)."""
    project = projects.get_project(db, request.user, project_id)
    held = workbench_datasets.project_datasets(db, request.user, project.id)
    for each in held:  # none deleted while one is still being written
        runs.ensure_dataset_idle(platform.gateway, each.dataset)
    for each in held:
        remove_workbench_dataset(db, platform, request.user, each)
    db.delete(project)


ROUTES = [
    list_projects,
    create_project,
    reset_projects,
    get_project,
    update_project,
    delete_project,
]
