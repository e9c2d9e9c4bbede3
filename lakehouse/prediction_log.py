"""The log of real-time predictions, written in the background so requests never wait on it."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from sqlalchemy import insert

from lakehouse.store import MetadataStore
from lakehouse.store.models import Prediction, utcnow

log = logging.getLogger("strata.predictions")
FLUSH_SECONDS = 0.2
MAX_BATCH = 500


class PredictionLog:
    """Queues real-time predictions and inserts them in batches from one thread."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._written = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="strata-prediction-log", daemon=True)
        self._thread.start()

    def record(self, **values: Any) -> None:
        with self._written:
            self._pending += 1
        self._queue.put({**values, "created_at": utcnow(), "modified_at": utcnow()})

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything recorded so far is in the metadata store."""
        with self._written:
            self._written.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[dict[str, Any]] = []
            try:
                item = self._queue.get(timeout=FLUSH_SECONDS)
            except queue.Empty:
                continue
            while True:
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            with self._store.session() as session:
                session.execute(insert(Prediction), batch)
        except Exception:  # the log must never take the serving path down with it
            log.exception("could not record %d real-time predictions", len(batch))
        finally:
            with self._written:
                self._pending -= len(batch)
                self._written.notify_all()
