"""The one way to reach MLflow's tracking store."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lakehouse.settings import Settings
from lakehouse.storage import export_aws_env
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
    """A client on the configured tracking store (a SQLite file by default), with MLflow's
    module-level API (runs, model logging) pointed at the same store."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    export_aws_env(settings)  # MLflow's S3 artifact store reads nothing else
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with SCHEMA_LOCK:  # the client's store makes its schema on opening, once per database
        return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def check_tracking_store(settings: Settings) -> int:
    """Open the tracking store (creating its schema on first use) and count its experiments,
    every page of them."""
    client, count, token = tracking_client(settings), 0, None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        count += len(page)
        token = page.token
        if not token:
            return count
