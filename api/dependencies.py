"""Per-request dependencies: the database session and the platform."""

from __future__ import annotations

from collections.abc import Iterator

from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.orm import Session

from api.platform import Platform


def provide_platform(state: State) -> Platform:
    platform: Platform = state.platform
    return platform


def provide_db(state: State) -> Iterator[Session]:
    yield from provide_platform(state).session()


DEPENDENCIES = {
    "platform": Provide(provide_platform, sync_to_thread=False),
    "db": Provide(provide_db),
}
