"""The request class of the API: JSON bodies are checked before they are decoded."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, HTTPException, SerializationException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE


def is_json(media_type: str) -> bool:
    """`application/json` and the structured `+json` types (`application/merge-patch+json`)."""
    return media_type == "application/json" or media_type.endswith("+json")


class StrataRequest(Request[Any, Any, Any]):
    """A request whose JSON body must be declared as JSON and nested no deeper than the
    decoder can follow; a body that is neither is the client's error, not the server's."""

    async def json(self) -> Any:
        media_type, _ = self.content_type
        if media_type and not is_json(media_type):
            raise HTTPException(
                status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                detail=f"the body must be application/json, not {media_type}",
            )
        try:
            return await super().json()
        except RecursionError as exc:
            raise ClientException("the JSON body is nested too deeply") from exc
        except (SerializationException, UnicodeDecodeError) as exc:
            raise ClientException(str(exc)) from exc
