"""Column templates of the caller's tenant (module 5)."""

from __future__ import annotations

from litestar import Controller, Request, delete, get, post, put
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.orm import Session

from api.schemas.base import PathId, StatusMessage
from api.schemas.data import (
    TemplateCreated,
    TemplateDetail,
    TemplatesPublic,
    TemplateSummary,
    TemplateUpdated,
    TemplateWrite,
)
from api.security import requires_permission
from lakehouse.data import templates
from lakehouse.store import Template

READ = [requires_permission("templates:read")]
MANAGE = [requires_permission("templates:manage")]


def template_input(data: TemplateWrite) -> templates.TemplateInput:
    return templates.TemplateInput(
        template_name=data.template_name,
        columns=[templates.ColumnInput(**c.model_dump()) for c in data.template_schema],
        null_markers=data.null_markers,
        min_usability=data.min_usability,
    )


def summary_fields(template: Template) -> dict[str, object]:
    return {
        "template_name": template.template_name,
        "id": template.id,
        "tenant_id": template.tenant_id,
        "no_of_columns": len(template.template_schema),
        "created_by": template.created_by,
        "created_at": template.created_at,
        "modified_at": template.modified_at,
        "modified_by": template.modified_by,
    }


class TemplateController(Controller):
    path = "/api/v1/template"
    tags = ["Template"]

    @post(
        "/",
        operation_id="create_template",
        guards=MANAGE,
        status_code=HTTP_201_CREATED,
        sync_to_thread=True,
    )
    def create(self, db: Session, request: Request, data: TemplateWrite) -> TemplateCreated:
        """Create a template: typed columns with optional defaults and rules."""
        template = templates.create_template(db, request.user, template_input(data))
        return TemplateCreated(status=201, message="Template created successfully.", id=template.id)

    @get("/list", operation_id="list_templates", guards=READ, sync_to_thread=True)
    def list_templates(self, db: Session, request: Request) -> TemplatesPublic:
        """The templates of your tenant."""
        found = templates.list_templates(db, request.user)
        data = [TemplateSummary.model_validate(summary_fields(t)) for t in found]
        return TemplatesPublic(total=len(data), data=data)

    @get("/{template_id:int}", operation_id="get_template", guards=READ, sync_to_thread=True)
    def get_template(self, db: Session, request: Request, template_id: PathId) -> TemplateDetail:
        """One template with its full column list."""
        template = templates.get_template(db, request.user, template_id)
        return TemplateDetail.model_validate(
            {
                **summary_fields(template),
                "template_schema": template.template_schema,
                "null_markers": template.null_markers,
                "min_usability": template.min_usability,
            }
        )

    @put(
        "/update/{template_id:int}",
        operation_id="update_template",
        guards=MANAGE,
        sync_to_thread=True,
    )
    def update(
        self, db: Session, request: Request, template_id: PathId, data: TemplateWrite
    ) -> TemplateUpdated:
        """Rename a template and replace its columns."""
        template = templates.update_template(db, request.user, template_id, template_input(data))
        return TemplateUpdated(
            template_name=template.template_name,
            template_schema=template.template_schema,
            null_markers=template.null_markers,
            min_usability=template.min_usability,
        )

    @delete(
        "/{template_id:int}",
        operation_id="delete_template",
        guards=MANAGE,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def delete(self, db: Session, request: Request, template_id: PathId) -> StatusMessage:
        """Delete a template."""
        templates.delete_template(db, request.user, template_id)
        return StatusMessage(status_code=200, message="Template deleted successfully")
