"""The lakehouse as a Dagster resource: Strata's settings and its Iceberg catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

from lakehouse.data.landing import LandingStore
from lakehouse.lake.catalog import open_catalog
from lakehouse.settings import Settings
from lakehouse.store import MetadataStore
from resources.cancellation import CancelWatch

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog


class LakehouseResource(dg.ConfigurableResource):
    """Strata's settings, read from `STRATA_*` when a run starts, and the stores they name."""

    _settings: Settings | None = PrivateAttr(default=None)
    _store: MetadataStore | None = PrivateAttr(default=None)
    _cancel_watch: CancelWatch | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._settings = Settings()
        # Embedded workers are stopped by their pool, never by an interrupt.
        if self._settings.run_mode == "dagster" and context.run_id and context.instance:
            self._cancel_watch = CancelWatch(context.instance, context.run_id).start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        try:
            if self._cancel_watch is not None:
                self._cancel_watch.stop()
                self._cancel_watch = None
        finally:
            if self._store is not None:
                self._store.dispose()
                self._store = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    def catalog(self) -> SqlCatalog:
        return open_catalog(self.settings)

    def store(self) -> MetadataStore:
        if self._store is None:
            self._store = MetadataStore(self.settings.database_url)
        return self._store

    def landing(self) -> LandingStore:
        return LandingStore.from_settings(self.settings)
