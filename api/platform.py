"""What the API holds for its lifetime: settings, metadata store, tokens, runs, query engine,
served models and the prediction log."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from functools import cached_property

from sqlalchemy.orm import Session

from lakehouse.accounts import SessionIssuer
from lakehouse.bootstrap import BootstrapResult, bootstrap
from lakehouse.landing import LandingStore
from lakehouse.prediction_log import PredictionLog
from lakehouse.query import QueryEngine, open_engine
from lakehouse.rbac import Principal
from lakehouse.security import TokenSigner, signing_secret
from lakehouse.serving import ModelCache
from lakehouse.settings import Settings
from lakehouse.store import MetadataStore
from pipelines.gateway import RunGateway, open_gateway

log = logging.getLogger("strata.api")


class Platform:
    """Clients the API opens at start-up and closes at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = MetadataStore(settings.database_url)
        self.landing = LandingStore(settings.landing_dir)
        self.issuer = SessionIssuer(
            TokenSigner(signing_secret(settings), timedelta(minutes=settings.access_token_minutes)),
            refresh_lifetime=timedelta(days=settings.refresh_token_days),
        )
        self._warmup: threading.Thread | None = None

    @cached_property
    def gateway(self) -> RunGateway:
        return open_gateway(self.settings)

    @cached_property
    def engine(self) -> QueryEngine:
        return open_engine(self.settings)

    @cached_property
    def models(self) -> ModelCache:
        from lakehouse import registry

        return ModelCache(
            lambda name, version, into: registry.model_directory(self.settings, name, version, into)
        )

    @cached_property
    def prediction_log(self) -> PredictionLog:
        return PredictionLog(self.store)

    def start(self) -> BootstrapResult:
        result = bootstrap(self.store, self.settings)
        if result.generated_password is not None:
            log.warning(
                "created platform admin '%s' with generated password: %s (shown once)",
                result.admin_username,
                result.generated_password,
            )
        if self.settings.run_mode == "dagster" or self.settings.workers > 0:
            # Opening the Dagster instance costs a second of imports: keep it off the start path.
            self._warmup = threading.Thread(target=self.gateway.start, name="strata-gateway")
            self._warmup.start()
        return result

    def stop(self) -> None:
        if self._warmup is not None:
            self._warmup.join()
        if "gateway" in self.__dict__:
            self.gateway.close()
        if "engine" in self.__dict__:
            self.engine.close()
        if "prediction_log" in self.__dict__:
            self.prediction_log.close()
        self.store.dispose()

    def session(self) -> Iterator[Session]:
        with self.store.session() as session:
            yield session

    def principal(self, access_token: str) -> Principal:
        with self.store.session() as session:
            return self.issuer.principal(session, access_token)
