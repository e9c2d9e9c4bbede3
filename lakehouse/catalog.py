"""The one way to open the Iceberg catalog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from lakehouse.settings import Settings
from lakehouse.store.engine import database_url

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

CATALOG_NAME = "strata"


def open_catalog(settings: Settings) -> SqlCatalog:
    """PyIceberg's SQL catalog on the configured database and warehouse."""
    from pyiceberg.catalog.sql import SqlCatalog

    if settings.warehouse.startswith("file://"):
        Path(urlparse(settings.warehouse).path).mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        CATALOG_NAME,
        uri=database_url(settings.catalog_url).render_as_string(hide_password=False),
        warehouse=settings.warehouse,
        init_catalog_tables="true",
    )
