"""The log of real-time predictions, written in the background so requests never wait on it."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from sqlalchemy import insert

from lakehouse.store import MetadataStore
from lakehouse.store.models import Prediction, utcnow

log = logging.getLogger("strata.predictions")
FLUSH_SECONDS = 0.2
MAX_BATCH = 1000


class PredictionLog:
    """Queues real-time predictions; one thread inserts what gathered over FLUSH_SECONDS in
    one statement, so a busy endpoint costs the store a few transactions a second."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="strata-prediction-log", daemon=True)
        self._thread.start()

    def record(self, **values: Any) -> None:
        now = utcnow()
        self._queue.put({**values, "created_at": now, "modified_at": now})

    def flush(self) -> None:
        """Wait until everything recorded so far is in the metadata store."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[dict[str, Any]] = []
            taken = 1
            deadline = time.monotonic() + FLUSH_SECONDS
            while True:
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
                remaining = deadline - time.monotonic()
                if stopping or len(batch) >= MAX_BATCH or remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                taken += 1
            self._write(batch)
            for _ in range(taken):
                self._queue.task_done()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        try:
            with self._store.session() as session:
                session.execute(insert(Prediction), batch)
        except Exception:  # the log must never take the serving path down with it
            log.exception("could not record %d real-time predictions", len(batch))
