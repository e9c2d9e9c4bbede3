"""Request rate limits shared by every API process: requests are counted per key in windows
of fixed length in the metadata store, one atomic upsert per request. A request is judged on a
sliding window: this window's count plus the previous one's, weighted by how much of it the
last `seconds` still cover, so no burst at a window's turn doubles the limit."""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lakehouse.errors import TooManyRequestsError
from lakehouse.store.workbench import RateWindow


@dataclass(frozen=True)
class RateLimit:
    limit: int
    """Requests allowed under one key in `seconds`."""
    seconds: int = 60
    message: str = "Rate limit exceeded"

    def hit(self, session: Session, key: str, now: float | None = None) -> int:
        """Count a request under `key`; one over the limit is refused with 429 and when to
        try again (the caller rolls the count back with its transaction). Answers the
        requests counted in this window so far."""
        now = time.time() if now is None else now
        window = int(now // self.seconds) * self.seconds
        row = (
            session.connection()
            .execute(
                counting(session.get_bind().dialect.name),
                {"key": key, "window": window, "window_before": window - self.seconds},
            )
            .one()
        )
        count, previous = row
        still_covered = 1 - (now - window) / self.seconds
        if count + previous * still_covered > self.limit:
            raise TooManyRequestsError(
                self.message, retry_after=math.ceil(window + self.seconds - now)
            )
        return int(count)


@functools.cache
def counting(dialect_name: str) -> Any:
    """The upsert counting one request under `key` in `window`: the row moves on to a new
    window keeping the count of the one before it (`window_before`), or none if older."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    window = bindparam("window", type_=RateWindow.window.type)
    same = RateWindow.window == window
    follows = RateWindow.window == bindparam("window_before", type_=RateWindow.window.type)
    statement = dialect.insert(RateWindow).values(
        key=bindparam("key"), window=window, count=1, previous=0
    )
    return statement.on_conflict_do_update(
        index_elements=[RateWindow.key],
        set_={
            "count": case((same, RateWindow.count + 1), else_=1),
            "previous": case((same, RateWindow.previous), (follows, RateWindow.count), else_=0),
            "window": window,
        },
    ).returning(RateWindow.count, RateWindow.previous)
