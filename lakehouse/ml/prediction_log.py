"""The log of real-time predictions, written in the background so requests never wait on it."""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import OperationalError

from lakehouse.store import MetadataStore
from lakehouse.store.models import Prediction, utcnow

log = logging.getLogger("strata.predictions")
FLUSH_SECONDS = 0.2
MAX_BATCH = 1000
RETRY_SECONDS = 1.0
# Rows kept while the store refuses writes (locked, unreachable); beyond, the oldest go.
MAX_PENDING = 100_000


# Columns a row may leave out: a call's error, and the deployment it came through.
OPTIONAL_COLUMNS = ("error", "deployment_id", "latency_ms")

Item = dict[str, Any] | threading.Event | None  # a row, a flush marker, or stop


def json_safe(value: Any) -> Any:
    """The value as JSON can hold it: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


class PredictionLog:
    """Queues real-time predictions; one thread inserts what gathered over FLUSH_SECONDS in
    one statement, so a busy endpoint costs the store a few transactions a second. While the
    store refuses writes (another writer holds SQLite's lock past its busy timeout, say), the
    rows wait and are written together once it accepts them again."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._queue: queue.Queue[Item] = queue.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="strata-prediction-log", daemon=True)
        self._thread.start()

    def record(self, **values: Any) -> None:
        now = utcnow()
        # every row has the optional columns, so a batch inserts in one statement
        optional = dict.fromkeys(OPTIONAL_COLUMNS)
        self._queue.put({**optional, **values, "created_at": now, "modified_at": now})

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything recorded so far is in the metadata store (at most `timeout`
        seconds); False when it was not written in time or the log is closed."""
        if self._closed.is_set():
            return False
        written = threading.Event()
        self._queue.put(written)
        return written.wait(timeout)

    def close(self) -> None:
        self._closed.set()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        rows: list[dict[str, Any]] = []
        markers: list[threading.Event] = []
        stopping = False
        while True:
            stopping = self._gather(rows, markers, wait=not rows) or stopping
            if len(rows) > MAX_PENDING:
                log.error(
                    "the metadata store refused writes too long: %d real-time predictions "
                    "not recorded",
                    len(rows) - MAX_PENDING,
                )
                del rows[: len(rows) - MAX_PENDING]
            written = self._write(rows)
            if not written and not stopping:
                time.sleep(RETRY_SECONDS)
                continue
            if not written:
                log.error("closed with %d real-time predictions not recorded", len(rows))
            rows = []
            for marker in markers:
                marker.set()
            markers = []
            if stopping:
                return

    def _gather(
        self, rows: list[dict[str, Any]], markers: list[threading.Event], *, wait: bool
    ) -> bool:
        """Add to `rows` what arrives within FLUSH_SECONDS of the first item (waiting for
        that one only when `wait`); True when the log is to stop."""
        deadline = time.monotonic() + FLUSH_SECONDS
        try:
            item = self._queue.get() if wait else self._queue.get_nowait()
        except queue.Empty:
            return False
        gathered = 0
        while True:
            if item is None:
                return True
            if isinstance(item, threading.Event):
                markers.append(item)
                return False
            rows.append(item)
            gathered += 1
            remaining = deadline - time.monotonic()
            if gathered >= MAX_BATCH or remaining <= 0:
                return False
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False

    def _write(self, batch: list[dict[str, Any]]) -> bool:
        """Insert the rows; False when the store refused the write for now (nothing written)."""
        if not batch:
            return True
        rows = [
            {
                **row,
                "input_data": json_safe(row.get("input_data")),
                "output": json_safe(row.get("output")),
            }
            for row in batch
        ]
        try:
            with self._store.session() as session:
                session.execute(insert(Prediction), rows)
            return True
        except OperationalError as exc:
            log.warning("could not record %d real-time predictions yet: %s", len(rows), exc.orig)
            return False
        except Exception:  # the log must never take the serving path down with it
            log.warning("could not record %d real-time predictions at once; one by one", len(rows))
        for row in rows:  # one bad row (its predictor just deleted, say) loses only itself
            try:
                with self._store.session() as session:
                    session.execute(insert(Prediction), [row])
            except Exception:
                log.exception(
                    "could not record a real-time prediction of predictor %s",
                    row.get("predictor_id"),
                )
        return True
