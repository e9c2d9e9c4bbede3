"""A migrated metadata store for the accounts tests, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lakehouse.store import MetadataStore


@pytest.fixture
def store(database_url: str) -> Iterator[MetadataStore]:
    store = MetadataStore(database_url)
    store.migrate()
    yield store
    store.dispose()
