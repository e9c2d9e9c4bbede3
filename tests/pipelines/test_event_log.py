"""Run databases made from the template are Dagster's own: same tables, same stamp, same reads."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from dagster import DagsterEvent, DagsterEventType, DagsterRun, EventLogEntry
from dagster._core.events import EngineEventData

from lakehouse.settings import Settings
from pipelines.event_log import TEMPLATE_NAME, TemplatedSqliteEventLogStorage, head_revision
from pipelines.instance import open_instance
from tests.conftest import make_settings


def engine_event(run_id: str, message: str) -> EventLogEntry:
    event = DagsterEvent(
        event_type_value=DagsterEventType.ENGINE_EVENT.value,
        job_name="held",
        message=message,
        event_specific_data=EngineEventData(),
    )
    return EventLogEntry(
        error_info=None,
        level=20,
        user_message=message,
        run_id=run_id,
        timestamp=1.0,
        dagster_event=event,
    )


def stamp(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        [(revision,)] = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        return str(revision)


def test_a_new_run_database_is_a_stamped_copy_that_reads_back(tmp_path: Path) -> None:
    storage = TemplatedSqliteEventLogStorage(str(tmp_path))
    storage.store_event(engine_event("run-a", "first"))
    storage.store_event(engine_event("run-a", "second"))

    assert stamp(tmp_path / "run-a.db") == head_revision()
    with sqlite3.connect(tmp_path / "run-a.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert [e.user_message for e in storage.get_logs_for_run("run-a")] == ["first", "second"]
    # The template is nobody's run, and a second process reads what the first wrote.
    assert (tmp_path / TEMPLATE_NAME).exists()
    assert storage.get_all_run_ids() == ["run-a"]
    other = TemplatedSqliteEventLogStorage(str(tmp_path))
    assert [e.user_message for e in other.get_logs_for_run("run-a")] == ["first", "second"]


def test_a_removed_template_is_made_again(tmp_path: Path) -> None:
    storage = TemplatedSqliteEventLogStorage(str(tmp_path))
    storage.store_event(engine_event("run-d", "before"))
    (tmp_path / TEMPLATE_NAME).unlink()
    storage.store_event(engine_event("run-e", "after"))
    assert stamp(tmp_path / "run-e.db") == head_revision()
    assert sorted(storage.get_all_run_ids()) == ["run-d", "run-e"]


def test_a_template_of_another_revision_is_made_again(tmp_path: Path) -> None:
    (tmp_path / TEMPLATE_NAME).touch()  # unstamped, as an older or broken one would be
    storage = TemplatedSqliteEventLogStorage(str(tmp_path))
    storage.store_event(engine_event("run-f", "fresh"))
    assert stamp(tmp_path / TEMPLATE_NAME) == head_revision()
    assert stamp(tmp_path / "run-f.db") == head_revision()


def test_an_unstamped_run_database_gets_dagsters_own_initialisation(tmp_path: Path) -> None:
    (tmp_path / "run-b.db").touch()  # as left by a process that died before creating tables
    storage = TemplatedSqliteEventLogStorage(str(tmp_path))
    storage.store_event(engine_event("run-b", "kept"))
    assert stamp(tmp_path / "run-b.db") == head_revision()
    assert [e.user_message for e in storage.get_logs_for_run("run-b")] == ["kept"]


def test_processes_creating_one_run_database_at_once_lose_no_event(tmp_path: Path) -> None:
    storages = [TemplatedSqliteEventLogStorage(str(tmp_path)) for _ in range(4)]
    barrier = threading.Barrier(len(storages))
    errors: list[BaseException] = []

    def write(n: int) -> None:
        barrier.wait()
        try:
            storages[n].store_event(engine_event("run-c", f"from {n}"))
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(storages))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    messages = {e.user_message for e in storages[0].get_logs_for_run("run-c")}
    assert messages == {f"from {n}" for n in range(len(storages))}


def test_the_instance_uses_it_on_sqlite_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    instance = open_instance(settings)
    try:
        assert isinstance(instance.event_log_storage, TemplatedSqliteEventLogStorage)
        run = instance.add_run(DagsterRun(job_name="held"))
        instance.report_engine_event("hello", run)
        assert [e.message for e in instance.all_logs(run.run_id)] == ["hello"]
        assert instance.get_run_by_id(run.run_id) is not None
    finally:
        instance.dispose()
    postgres = Settings.model_validate(
        {**settings.model_dump(), "dagster_storage_url": "postgresql://strata@localhost/dagster"}
    )
    from pipelines.instance import instance_config

    assert "event_log_storage" not in instance_config(postgres)
