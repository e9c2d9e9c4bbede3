"""The lakehouse as a Dagster resource: Strata's settings and its Iceberg catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

from lakehouse.catalog import open_catalog
from lakehouse.settings import Settings

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog


class LakehouseResource(dg.ConfigurableResource):
    """Strata's settings, read from `STRATA_*` when a run starts, and the catalog they name."""

    _settings: Settings | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._settings = Settings()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    def catalog(self) -> SqlCatalog:
        return open_catalog(self.settings)
