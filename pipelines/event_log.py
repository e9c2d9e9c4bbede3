"""Dagster's SQLite event log, one database per run, without Alembic's cost for every new run.

Dagster's `SqliteEventLogStorage` keeps each run's events in `<run_id>.db` and initialises that
database the first time a process touches it: it loads every Alembic revision script to learn
the head revision, creates the tables, then loads them all again to stamp the head. That is
about 0.2 s of CPU per run, paid by whichever process creates the run: the API, on every upload,
next to the requests it serves. Here a new run's database is a copy of one empty database
initialised that way, and an existing one is checked against the head revision read once per
process. The files, their tables and their stamp are Dagster's own.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

from dagster import __version__ as dagster_version
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine, get_alembic_config
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy.pool import NullPool

# A dot file: Dagster lists run databases with the glob `*.db`, which never matches it. One per
# Dagster release, so processes of two releases side by side never copy each other's.
TEMPLATE_NAME = f".empty-run-shard-{dagster_version}.db"


@functools.cache
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    config = get_alembic_config(sqlite_event_log.__file__)
    head = ScriptDirectory.from_config(config).as_revision_number("head")
    if head is None:
        raise RuntimeError("Dagster's event log migrations name no head revision")
    return str(head)


def current_revision(path: Path) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(
        f"sqlite:///{path}",
        poolclass=NullPool,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
    )
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


class TemplatedSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose new run databases start as copies of an initialised one."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._template_lock = threading.Lock()
        self._template_ready = False
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> TemplatedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _initdb(self, engine: Any, for_index_shard: bool = False) -> None:
        database = engine.url.database
        if for_index_shard or not database or Path(database).stem == INDEX_SHARD_NAME:
            super()._initdb(engine, for_index_shard)
            return
        path = Path(database)
        if path.exists():
            # Dagster only creates what has no revision; an older one is `dagster instance
            # migrate`'s to upgrade.
            if current_revision(path) is None:
                super()._initdb(engine, for_index_shard)
        elif not self._copy_template(path):
            super()._initdb(engine, for_index_shard)

    def _copy_template(self, path: Path) -> bool:
        """Put a copy of the template at `path` unless another process got there first; False
        where this file system cannot do it."""
        staged = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        try:
            try:
                shutil.copyfile(self._template(), staged)
            except FileNotFoundError:  # the template was removed since: make it again
                self._template_ready = False
                shutil.copyfile(self._template(), staged)
            os.link(staged, path)  # never over a database another process made meanwhile
        except FileExistsError:
            pass
        except OSError:  # no hard links here
            return False
        finally:
            staged.unlink(missing_ok=True)
        return True

    def _template(self) -> Path:
        template = Path(self._base_dir) / TEMPLATE_NAME
        with self._template_lock:
            if self._template_ready:
                return template
            if not template.exists() or current_revision(template) != head_revision():
                staged = template.with_name(f"{TEMPLATE_NAME}.{secrets.token_hex(8)}")
                engine = create_engine(f"sqlite:///{staged}", poolclass=NullPool)
                try:
                    super()._initdb(engine)
                finally:
                    engine.dispose()
                if current_revision(staged) != head_revision():
                    staged.unlink(missing_ok=True)
                    raise RuntimeError(f"an empty run database made at {staged} is not stamped")
                os.replace(staged, template)
            self._template_ready = True
            return template
