"""Namespaces made on first use by runs that start together."""

from __future__ import annotations

import threading
from pathlib import Path

from lakehouse.lake.catalog import ensure_namespace, open_catalog
from tests.conftest import make_settings


def test_runs_creating_one_namespace_at_once_all_go_on(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    catalogs = [open_catalog(settings) for _ in range(6)]  # one per run worker
    errors: list[BaseException] = []
    for round_ in range(10):
        barrier = threading.Barrier(len(catalogs))

        def create(
            n: int, barrier: threading.Barrier = barrier, namespace: str = f"race_{round_}"
        ) -> None:
            barrier.wait()
            try:
                ensure_namespace(catalogs[n], namespace)
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(n,)) for n in range(len(catalogs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert {f"race_{n}" for n in range(10)} <= {ns[0] for ns in catalogs[0].list_namespaces()}
