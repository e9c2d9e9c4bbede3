"""Opening the metadata store and bringing its schema to the latest migration."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from lakehouse.errors import ConflictError, InvalidInputError, ServiceUnavailableError

MIGRATIONS = Path(__file__).with_name("migrations")

# Alembic keeps its running context in module globals, so no two schema migrations may overlap
# within one process: ours, Dagster's instance storage and MLflow's tracking store all use it.
SCHEMA_LOCK = threading.Lock()
SQLITE_BUSY_MS = 15_000
WRITES = "strata_writes"
# PostgreSQL's deadlock and serialization failures: the transaction was rolled back whole.
RETRYABLE_STATES = frozenset({"40P01", "40001"})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling off: `_begin_immediate` starts every transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a commit survives
    # any crash of the processes, and only a power loss may take the last few back.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def _begin(connection: Any) -> None:
    """Begin a SQLite transaction; one that is meant to write takes the write lock at once.

    A deferred transaction that has read and then writes cannot wait for another writer: SQLite
    answers "database is locked" at once, whatever the busy timeout. Begun immediately, writers
    queue on the busy timeout instead, and a race resolves to one winner and clear losers.
    Reading transactions stay deferred, so readers never wait on writers.
    """
    immediate = connection.get_execution_options().get(WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _client_errors(context: ExceptionContext) -> None:
    """Turn database refusals caused by what a client sent into Strata's errors.

    Services check uniqueness before writing and name the field; this catches the writes that
    race past those checks, and values the database cannot hold (NUL bytes, huge numbers).
    """
    error = context.sqlalchemy_exception
    if isinstance(error, OperationalError) and "database is locked" in str(error):
        # SQLite's write lock was held past the busy timeout: the store is busy, not broken.
        raise ServiceUnavailableError("the metadata store is busy; try again") from error
    if getattr(context.original_exception, "sqlstate", None) in RETRYABLE_STATES:
        # PostgreSQL chose this transaction to give way to another: nothing was written.
        raise ServiceUnavailableError("the metadata store is busy; try again") from error
    if isinstance(error, IntegrityError):
        raise ConflictError("a record with these values already exists") from error
    if isinstance(error, DataError):
        raise InvalidInputError(
            f"a value cannot be stored: {context.original_exception}"
        ) from error


class StoreSession(Session):
    """A session of the metadata store. A row it changes that another transaction deleted or
    changed first (PostgreSQL lets the UPDATE wait for that transaction, then match nothing)
    is a conflict the client can act on, not a crash: the request loses the race and its
    transaction is rolled back."""

    def flush(self, objects: Any = None) -> None:
        try:
            super().flush(objects)
        except StaleDataError as exc:
            raise ConflictError(
                "a record this request changes was changed or deleted by another request "
                "meanwhile; read it again"
            ) from exc


def database_url(url: str) -> URL:
    """The SQLAlchemy URL for a configured database: psycopg 3 for PostgreSQL, and a SQLite
    file's directory created."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    return parsed


def redacted(url: str) -> str:
    """`url` with any password masked, for logs and health reports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")).geturl()


def open_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin)
    else:
        engine = create_engine(parsed, pool_pre_ping=True)
    event.listen(engine, "handle_error", _client_errors)
    return engine


class MetadataStore:
    """The metadata store: one engine, a session factory and the migration runner."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_engine(url)
        self._sessions = sessionmaker(self.engine, class_=StoreSession, expire_on_commit=False)
        self._writing_sessions = sessionmaker(
            self.engine.execution_options(**{WRITES: True}),
            class_=StoreSession,
            expire_on_commit=False,
        )

    def migrate(self) -> None:
        """Apply every Alembic migration not yet applied."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with SCHEMA_LOCK, self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def new_session(self, *, writes: bool = True) -> Session:
        """A session of one transaction; `writes=False` for one that only reads."""
        return self._writing_sessions() if writes else self._sessions()

    @contextmanager
    def session(self, *, writes: bool = True) -> Iterator[Session]:
        """A session committed when the block ends cleanly, rolled back otherwise."""
        session = self.new_session(writes=writes)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> str:
        """The current migration revision; raises when the store cannot be reached."""
        with self.engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version"))
            return str(revision.scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()
