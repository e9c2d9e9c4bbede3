"""The workbench's features that need a language model, a code sandbox or a mail service,
none of which Strata runs: each answers 501, saying what is missing. They are listed so that a
client learns that, rather than a 404 it would take for a wrong path."""

from __future__ import annotations

from typing import Literal

from litestar import route
from litestar.handlers import HTTPRouteHandler

from lakehouse.errors import NotAvailableError

LANGUAGE_MODEL = "a language-model service, which this Strata platform does not run"
SANDBOX = "a sandboxed code runtime, which this Strata platform does not run"
MAIL = "a mail service to send reset links, which this Strata platform does not run"
OAUTH = "a Google OAuth client, which this Strata platform is not configured with"

Method = Literal["GET", "POST", "PATCH", "DELETE"]
# (path, methods, the feature, what it needs)
UNAVAILABLE: list[tuple[str, list[Method], str, str]] = [
    ("/query/nl", ["POST"], "Natural-language SQL", LANGUAGE_MODEL),
    ("/query/nl/stream", ["POST"], "Natural-language SQL", LANGUAGE_MODEL),
    ("/workflows", ["GET"], "Workflows", LANGUAGE_MODEL),
    ("/workflows/turns/stream", ["POST"], "Workflows", LANGUAGE_MODEL),
    ("/workflows/{run_id:str}", ["GET"], "Workflows", LANGUAGE_MODEL),
    ("/workflows/{run_id:str}/interrupt", ["POST"], "Workflows", LANGUAGE_MODEL),
    ("/llm/tools", ["GET"], "LLM tools", LANGUAGE_MODEL),
    ("/llm/models", ["GET"], "LLM models", LANGUAGE_MODEL),
    ("/mcp", ["GET", "POST", "DELETE"], "The MCP endpoint", LANGUAGE_MODEL),
    ("/execute", ["POST"], "Code execution", SANDBOX),
    ("/execute/session", ["POST"], "Code execution", SANDBOX),
    ("/execute/session/{session_id:str}", ["GET", "DELETE"], "Code execution", SANDBOX),
    ("/execute/packages", ["POST"], "Code execution", SANDBOX),
    ("/execute/packages/{session_id:str}", ["GET"], "Code execution", SANDBOX),
    ("/execute/runtimes", ["GET"], "Code execution", SANDBOX),
    ("/execute/health", ["GET"], "Code execution", SANDBOX),
    ("/projects/{project_id:str}/notebooks", ["GET", "POST"], "Notebooks", SANDBOX),
    ("/notebooks/{notebook_id:str}/cells", ["GET", "POST"], "Notebooks", SANDBOX),
    ("/cells/{cell_id:str}", ["PATCH", "DELETE"], "Notebooks", SANDBOX),
    ("/cells/{cell_id:str}/run", ["POST"], "Notebooks", SANDBOX),
    ("/cells/{cell_id:str}/interrupt", ["POST"], "Notebooks", SANDBOX),
    ("/notebooks/{notebook_id:str}/savepoints", ["GET", "POST"], "Notebooks", SANDBOX),
    (
        "/notebooks/{notebook_id:str}/savepoints/{savepoint_id:str}/restore",
        ["POST"],
        "Notebooks",
        SANDBOX,
    ),
    ("/python/completions", ["POST"], "Editor intelligence", SANDBOX),
    ("/python/hover", ["POST"], "Editor intelligence", SANDBOX),
    ("/python/signatures", ["POST"], "Editor intelligence", SANDBOX),
    ("/python/diagnostics", ["POST"], "Editor intelligence", SANDBOX),
    ("/auth/forgot-password", ["POST"], "Password reset by email", MAIL),
    ("/auth/reset-password", ["POST"], "Password reset by email", MAIL),
    ("/auth/google", ["GET"], "Google sign-in", OAUTH),
    ("/auth/google/callback", ["GET", "POST"], "Google sign-in", OAUTH),
]


def unavailable(path: str, methods: list[Method], feature: str, needs: str) -> HTTPRouteHandler:
    async def handler() -> None:
        raise NotAvailableError(f"{feature} is not available: it needs {needs}")

    handler.__doc__ = f"{feature}: not available here (501); it needs {needs}."
    name = path.strip("/").replace("/", "_").replace("{", "").replace("}", "").replace(":str", "")
    return route(
        path,
        http_method=methods,
        operation_id=f"workbench_unavailable_{name}",
        status_code=501,
        include_in_schema=False,
    )(handler)


ROUTES = [unavailable(*entry) for entry in UNAVAILABLE]
