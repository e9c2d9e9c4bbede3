"""Request rate limits shared by every API process: requests are counted per key in windows
of fixed length in the metadata store, one atomic upsert per request. A request is judged on a
sliding window: this window's count plus the previous one's, weighted by how much of it the
last `seconds` still cover, so no burst at a window's turn doubles the limit."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sqlalchemy import case
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
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        same = RateWindow.window == window
        follows = RateWindow.window == window - self.seconds
        statement = dialect.insert(RateWindow).values(key=key, window=window, count=1, previous=0)
        row = session.execute(
            statement.on_conflict_do_update(
                index_elements=[RateWindow.key],
                set_={
                    "count": case((same, RateWindow.count + 1), else_=1),
                    "previous": case(
                        (same, RateWindow.previous), (follows, RateWindow.count), else_=0
                    ),
                    "window": window,
                },
            ).returning(RateWindow.count, RateWindow.previous)
        ).one()
        count, previous = row
        still_covered = 1 - (now - window) / self.seconds
        if count + previous * still_covered > self.limit:
            raise TooManyRequestsError(
                self.message, retry_after=math.ceil(window + self.seconds - now)
            )
        return int(count)
