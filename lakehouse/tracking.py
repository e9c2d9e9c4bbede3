"""The one way to reach MLflow's tracking store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.settings import Settings
from lakehouse.store.engine import SCHEMA_LOCK, database_url

if TYPE_CHECKING:
    from mlflow import MlflowClient


def tracking_uri(settings: Settings) -> str:
    """The tracking store's URI as MLflow takes it (database URLs in SQLAlchemy's form)."""
    uri = settings.mlflow_tracking_uri
    if uri.startswith(("sqlite:", "postgresql:", "postgresql+")):
        uri = database_url(uri).render_as_string(hide_password=False)
    return uri


def tracking_client(settings: Settings) -> MlflowClient:
    """An MLflow client on the configured tracking store (SQLite file by default)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(settings), registry_uri=tracking_uri(settings))


def check_tracking_store(settings: Settings) -> int:
    """Open the tracking store (creating its schema on first use) and count experiments."""
    with SCHEMA_LOCK:
        return len(tracking_client(settings).search_experiments(max_results=10))
