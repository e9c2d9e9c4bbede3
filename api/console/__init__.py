"""The Strata console: pages served by the API process at /console for analysts and model
owners, rendered on the server from the same services as the API (Litestar's Jinja templates,
a little plain JavaScript), signed in with the same accounts and showing only the signed-in
tenant's things."""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.console import datalake, datasets, models, runs
from api.console.session import (
    PREFIX,
    RenewedTokens,
    error_handlers,
    home,
    no_such_page,
    same_origin,
    session_middleware,
    sign_in,
    sign_in_page,
    sign_out,
)
from api.security import PUBLIC

HERE = Path(__file__).parent


def console_router() -> Router:
    """The console's pages, signed in by its own cookies rather than a bearer token."""
    return Router(
        PREFIX,
        route_handlers=[
            home,
            sign_in_page,
            sign_in,
            sign_out,
            *datasets.ROUTES,
            *datalake.ROUTES,
            *models.ROUTES,
            *runs.ROUTES,
            no_such_page,
        ],
        middleware=[RenewedTokens, session_middleware()],
        exception_handlers=error_handlers(),
        before_request=same_origin,
        opt=PUBLIC,  # not the API's bearer tokens: the console session's cookies
        include_in_schema=False,
    )


def static_files() -> Router:
    return create_static_files_router(
        path=f"{PREFIX}/static", directories=[HERE / "static"], opt=PUBLIC, include_in_schema=False
    )


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)
