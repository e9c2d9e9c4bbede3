"""Login throttling: after a few consecutive failures under a user name or a client address,
further attempts under it are refused for a while.

The counters live in the metadata store, so the throttle holds across every API process. A
block lasts `seconds` and is never extended by the attempts it refuses, so nobody can keep
another user (the platform administrator included) locked out for longer than that at a time.
Failures are forgotten `seconds` after the last one, so guesses at names that do not exist
leave no lasting rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lakehouse.errors import TooManyRequestsError
from lakehouse.store.models import LoginThrottle

KEY_LENGTH = 200


def throttle_keys(username: str, address: str | None) -> list[str]:
    """The keys a login attempt counts under: its user name and its client's address."""
    keys = [f"user:{username}"[:KEY_LENGTH]]
    if address:
        keys.append(f"addr:{address}"[:KEY_LENGTH])
    return keys


@dataclass(frozen=True)
class Throttle:
    allowed: int
    """Consecutive failures under one key before attempts under it are refused."""
    seconds: int
    """How long a block lasts."""

    def check(self, session: Session, keys: Sequence[str]) -> None:
        """Refuse an attempt under a blocked key with 429 and when to try again."""
        now = time.time()
        until = session.scalar(
            select(LoginThrottle.blocked_until)
            .where(LoginThrottle.key.in_(keys), LoginThrottle.blocked_until > now)
            .order_by(LoginThrottle.blocked_until.desc())
            .limit(1)
        )
        if until is not None:
            raise TooManyRequestsError(
                "too many failed logins; try again later", retry_after=math.ceil(until - now)
            )

    def failed(self, session: Session, keys: Sequence[str]) -> None:
        """Count a failure under each key; the one that reaches `allowed` starts a block and
        begins the count afresh. One atomic upsert per key, so parallel guesses all count."""
        now = time.time()
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.last_failure < now - self.seconds,
                LoginThrottle.blocked_until < now,
            )
        )
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        reached = LoginThrottle.failures + 1 >= self.allowed
        for key in keys:
            first_blocks = self.allowed <= 1
            statement = dialect.insert(LoginThrottle).values(
                key=key,
                failures=0 if first_blocks else 1,
                blocked_until=now + self.seconds if first_blocks else 0.0,
                last_failure=now,
            )
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[LoginThrottle.key],
                    set_={
                        "failures": case((reached, 0), else_=LoginThrottle.failures + 1),
                        "blocked_until": case(
                            (reached, now + self.seconds), else_=LoginThrottle.blocked_until
                        ),
                        "last_failure": now,
                    },
                )
            )

    def succeeded(self, session: Session, keys: Sequence[str]) -> None:
        """A success clears the counts under its keys."""
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
