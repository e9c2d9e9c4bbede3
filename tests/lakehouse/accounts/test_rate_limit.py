"""Requests counted per key and window in the metadata store, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from lakehouse.accounts.rate_limit import RateLimit
from lakehouse.errors import TooManyRequestsError
from lakehouse.store import MetadataStore, RateWindow


def test_requests_over_the_limit_wait_for_the_next_window(store: MetadataStore) -> None:
    limit = RateLimit(3, seconds=60, message="slow down")
    start = 1_800_000_000.0  # a window's first second
    with store.session() as session:
        assert [limit.hit(session, "d:1", start + n) for n in range(3)] == [1, 2, 3]
    with pytest.raises(TooManyRequestsError) as refused, store.session() as session:
        limit.hit(session, "d:1", start + 10)
    assert refused.value.message == "slow down" and refused.value.retry_after == 50
    with store.session() as session:
        assert limit.hit(session, "d:2", start + 10) == 1  # another key counts apart
    # Early in the next window the last one still weighs: 3 x 5/6 + 1 is over 3.
    with pytest.raises(TooManyRequestsError), store.session() as session:
        limit.hit(session, "d:1", start + 70)
    # Two thirds in, 3 x 1/3 + 1 and then + 2 are within it, + 3 is not.
    with store.session() as session:
        assert [limit.hit(session, "d:1", start + 100 + n) for n in range(2)] == [1, 2]
    with pytest.raises(TooManyRequestsError), store.session() as session:
        limit.hit(session, "d:1", start + 102)
    with store.session() as session:
        assert limit.hit(session, "d:1", start + 185) == 1  # two windows on: none weighs
        kept = session.get(RateWindow, "d:1")
        assert kept is not None and (kept.window, kept.count, kept.previous) == (start + 180, 1, 0)


def test_parallel_requests_all_count(store: MetadataStore) -> None:
    limit = RateLimit(1000)

    def hit(_: int) -> int:
        with store.session() as session:
            return limit.hit(session, "busy", 1_800_000_000.0)

    with ThreadPoolExecutor(8) as pool:
        counts = sorted(pool.map(hit, range(40)))
    assert counts == list(range(1, 41))
