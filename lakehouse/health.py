"""Health probes of the stores Strata depends on; each reports ok or error with detail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lakehouse.lake.catalog import open_catalog
from lakehouse.ml.tracking import check_tracking_store
from lakehouse.settings import Settings
from lakehouse.store import MetadataStore
from lakehouse.store.engine import redacted


class Starting(Exception):  # noqa: N818 - a state, not a failure
    """A component that works but is not yet at full speed; the message says how far it is."""


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    status: str
    detail: str


def probe(name: str, check: Callable[[], str]) -> ComponentHealth:
    """Run `check`; its return value is the detail when it succeeds, its error when it fails,
    and a component still starting says so."""
    try:
        return ComponentHealth(name, "ok", check())
    except Starting as exc:
        return ComponentHealth(name, "starting", str(exc))
    except Exception as exc:  # a probe reports every failure instead of raising it
        return ComponentHealth(name, "error", f"{type(exc).__name__}: {exc}")


def metadata_store(store: MetadataStore) -> ComponentHealth:
    return probe("metadata_store", lambda: f"migration {store.ping()}")


def iceberg_catalog(settings: Settings) -> ComponentHealth:
    def check() -> str:
        namespaces = open_catalog(settings).list_namespaces()
        return f"{len(namespaces)} namespaces"

    return probe("iceberg_catalog", check)


def mlflow_tracking(settings: Settings) -> ComponentHealth:
    def check() -> str:
        uri = redacted(settings.mlflow_tracking_uri)
        return f"{check_tracking_store(settings)} experiments at {uri}"

    return probe("mlflow_tracking", check)
