"""The Litestar application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from api.allow import allowed_methods, answer_options
from api.console import console_router, static_files, template_config
from api.console.session import PREFIX as CONSOLE
from api.console.session import error_handlers as console_error_handlers
from api.controllers.accounts.auth import LoginController
from api.controllers.accounts.rbac import RBACController
from api.controllers.accounts.tenants import TenantController
from api.controllers.accounts.users import UserController
from api.controllers.data.datalake import DatalakeController
from api.controllers.data.datasets import DatasetController, FileController
from api.controllers.data.templates import TemplateController
from api.controllers.models.inference import InferenceController
from api.controllers.models.train import TrainController
from api.controllers.platform.runs import RayController, RunController
from api.controllers.platform.utils import UtilsController
from api.dependencies import DEPENDENCIES
from api.errors import exception_handlers, under_prefix
from api.openapi import TruthfulJsonRenderPlugin, document_errors
from api.platform import Platform
from api.profiles.jobs.routes import jobs_router
from api.profiles.orchestrator.routes import orchestrator_router
from api.profiles.quickstart.routes import quickstart_router
from api.profiles.workbench.routes import workbench_router
from api.requests import StrataRequest
from api.security import authentication
from lakehouse.logs import configure_logging
from lakehouse.settings import Settings

# Threads of the synchronous handlers. The loop's default (cores + 4) is six here: six requests
# waiting on a lock or a run would hold every one of them.
HANDLER_THREADS = 64

CONTROLLERS = [
    LoginController,
    UserController,
    RBACController,
    TenantController,
    TemplateController,
    DatasetController,
    FileController,
    DatalakeController,
    TrainController,
    InferenceController,
    UtilsController,
    RunController,
    RayController,
]


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API for `settings` (read from `STRATA_*` and `.env` when not given)."""
    settings = settings or Settings()
    configure_logging()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        handlers = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="strata-handler")
        asyncio.get_running_loop().set_default_executor(handlers)
        platform = Platform(settings)
        platform.start()
        app.state.platform = platform
        try:
            yield
        finally:
            platform.stop()

    profiles = [quickstart_router()] if settings.quickstart else []
    if settings.jobs_profile:
        profiles.append(jobs_router())
    if settings.orchestrator_profile:
        profiles.append(orchestrator_router(settings.orchestrator_prefix))
    if settings.workbench_profile:
        profiles.append(workbench_router(settings.workbench_prefix))
    allowed: dict[str, str] = {}
    app = Litestar(
        route_handlers=[*CONTROLLERS, *profiles, console_router(), static_files()],
        before_request=answer_options(allowed),
        lifespan=[lifespan],
        dependencies=DEPENDENCIES,
        middleware=[authentication()],
        request_class=StrataRequest,
        template_config=template_config(),
        exception_handlers=under_prefix(
            exception_handlers(settings.debug), CONSOLE, console_error_handlers()
        ),
        openapi_config=OpenAPIConfig(
            title="Strata",
            version="0.1.0",
            description="Pipeline-as-code ML platform on an Iceberg lakehouse.",
            path="/schema",
            render_plugins=[
                SwaggerRenderPlugin(),
                ScalarRenderPlugin(),
                TruthfulJsonRenderPlugin(),
            ],
        ),
        request_max_body_size=settings.max_upload_bytes,
        debug=settings.debug,
    )
    allowed.update(allowed_methods(app))
    document_errors(app)
    return app
