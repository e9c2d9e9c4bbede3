"""OPTIONS answers that list every method of their path.

Litestar builds a path's OPTIONS answer when the path's first handler is registered, and keeps
that list when later handlers add methods to the path; these answers are computed from the
finished routes instead.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT
from litestar.types import BeforeRequestHookHandler


def allowed_methods(app: Litestar) -> dict[str, str]:
    """Each HTTP path's `Allow` header."""
    return {
        route.path: ", ".join(sorted(route.methods))
        for route in app.routes
        if isinstance(route, HTTPRoute)
    }


def answer_options(allowed: dict[str, str]) -> BeforeRequestHookHandler:
    """A before-request hook answering OPTIONS from `allowed` (filled once the app is built)."""

    def answer(request: Request[Any, Any, Any]) -> Response[None] | None:
        if request.method != "OPTIONS":
            return None
        methods = next((allowed[p] for p in request.route_handler.paths if p in allowed), None)
        if methods is None:
            return None
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": methods})

    return answer
