"""Per-request dependencies: the database session, the platform and a multipart form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.orm import Session

from api.multipart import provide_form
from api.platform import Platform
from api.security import READ_METHODS, WRITES


def provide_platform(state: State) -> Platform:
    platform: Platform = state.platform
    return platform


def _finish(session: Session, committed: bool) -> None:
    try:
        if committed:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def provide_db(state: State, request: Request[Any, Any, Any]) -> AsyncIterator[Session]:
    """The request's session, committed when the handler succeeds and rolled back otherwise.

    A request that may write (any but GET, HEAD and OPTIONS, or a handler whose `opt` sets
    `WRITES`) begins its transaction as a writer (see `lakehouse.store.engine`).
    The transaction ends in AnyIO's worker threads, not in the pool that runs the handlers: a
    burst of handlers waiting for the database lock cannot starve the commit that frees it.
    """
    writes = request.method not in READ_METHODS or bool(request.route_handler.opt.get(WRITES))
    session = provide_platform(state).store.new_session(writes=writes)
    try:
        yield session
    except BaseException:
        await anyio.to_thread.run_sync(_finish, session, False)
        raise
    await anyio.to_thread.run_sync(_finish, session, True)


DEPENDENCIES = {
    "platform": Provide(provide_platform, sync_to_thread=False),
    "db": Provide(provide_db),
    # a multipart form, for handlers that declare `form`
    "form": Provide(provide_form),
}
