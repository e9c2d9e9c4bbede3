"""The one way to open the Iceberg catalog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from sqlalchemy.engine import make_url

from lakehouse.settings import Settings

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

CATALOG_NAME = "strata"


def _sqlalchemy_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def open_catalog(settings: Settings) -> SqlCatalog:
    """PyIceberg's SQL catalog on the configured database and warehouse."""
    from pyiceberg.catalog.sql import SqlCatalog

    if settings.warehouse.startswith("file://"):
        Path(urlparse(settings.warehouse).path).mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        CATALOG_NAME,
        uri=_sqlalchemy_url(settings.catalog_url),
        warehouse=settings.warehouse,
        init_catalog_tables="true",
    )
