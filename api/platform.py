"""What the API holds for its lifetime: settings, metadata store, Iceberg catalog, tokens, runs,
query engine, served models and the prediction log."""

from __future__ import annotations

import gc
import hashlib
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from cachetools import LRUCache, TTLCache, cachedmethod

from api.ledger_engine import LedgerEngineWorker
from lakehouse.accounts.bootstrap import BootstrapResult, bootstrap
from lakehouse.accounts.rbac import Principal, principal_for
from lakehouse.accounts.security import AccessClaims, TokenSigner, signing_secret
from lakehouse.accounts.sessions import SessionIssuer
from lakehouse.accounts.throttle import Throttle
from lakehouse.data.datasets import sweep_landing
from lakehouse.data.landing import LandingStore
from lakehouse.lake.catalog import open_catalog
from lakehouse.lake.query import QueryEngine, open_engine
from lakehouse.lake.sql_service import SqlService
from lakehouse.ml.prediction_log import PredictionLog
from lakehouse.ml.serving import FreshCache, ModelCache, ServingModel
from lakehouse.predictors.serving_state import ServingState, servable, serving_state
from lakehouse.profiles.sandbox import sandbox_principal
from lakehouse.settings import Settings
from lakehouse.store import MetadataStore, Predictor, Tenant
from pipelines.gateway import RunGateway, open_gateway

if TYPE_CHECKING:
    import pandas as pd
    from pyiceberg.catalog.sql import SqlCatalog

log = logging.getLogger("strata.api")
# Seconds after start-up before the catalog and the query engine are opened ahead of need.
DATA_WARM_UP_DELAY = 2.0
SERVING_STATE_SECONDS = 1.0


@dataclass
class Sandbox:
    """The quickstart's tenant, acted in as its sandbox user, one request at a time."""

    principal: Principal
    lock: threading.Lock = field(default_factory=threading.Lock)


class Platform:
    """Clients the API opens at start-up and closes at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = MetadataStore(settings.database_url)
        self.landing = LandingStore.from_settings(settings)
        self.issuer = SessionIssuer(
            TokenSigner(signing_secret(settings), timedelta(minutes=settings.access_token_minutes)),
            refresh_lifetime=timedelta(days=settings.refresh_token_days),
            throttle=Throttle(settings.login_failures_allowed, settings.login_throttle_seconds),
        )
        self._warmup: threading.Thread | None = None
        self.ledger_engine: LedgerEngineWorker | None = None
        self._stopping = threading.Event()
        self.sandbox: Sandbox | None = None
        # Resolved principals by their token's claims, reused for a few seconds and read
        # again ahead of that in the background, so a client's requests never wait for it.
        self._principals: FreshCache[AccessClaims, Principal] = FreshCache(
            self._read_principal, settings.principal_cache_seconds, name="strata-principals"
        )
        # Principals of HTTP Basic credentials (the orchestrator profile's workers send them
        # with every request), by a keyed digest of the pair: a password is verified once.
        self._basic: TTLCache[bytes, Principal] = TTLCache(
            maxsize=1000, ttl=settings.principal_cache_seconds
        )
        self._basic_key = secrets.token_bytes(32)
        self._basic_lock = threading.Lock()
        self._basic_generation = 0  # a principal read before a clear is not kept after it
        self._serving: FreshCache[tuple[str, int], ServingState] = FreshCache(
            self._read_serving_state, SERVING_STATE_SECONDS, name="strata-serving-state"
        )
        self._backgrounds: LRUCache[tuple[tuple[str, ...], int], pd.DataFrame]
        self._backgrounds = LRUCache(maxsize=32)
        self._backgrounds_lock = threading.Lock()
        self._tenant_names: TTLCache[str, str] = TTLCache(maxsize=1000, ttl=60)
        self._tenant_names_lock = threading.Lock()

    @cached_property
    def gateway(self) -> RunGateway:
        return open_gateway(self.settings)

    @cached_property
    def catalog(self) -> SqlCatalog:
        """The Iceberg catalog every request reads and writes through: one connection pool."""
        return open_catalog(self.settings)

    @cached_property
    def engine(self) -> QueryEngine:
        return open_engine(self.settings)

    @cached_property
    def sql(self) -> SqlService:
        """Read-only SQL of the tenants' users, with its time limit and its answers' cache."""
        return SqlService(self.settings, lambda: self.catalog, lambda: self.engine)

    @cached_property
    def models(self) -> ModelCache:
        from lakehouse.ml import registry

        return ModelCache(
            lambda name, version, into: registry.model_directory(self.settings, name, version, into)
        )

    def served(self, predictor: Predictor) -> ServingModel:
        """The predictor's current version, loaded once and kept until a newer one is trained."""
        return self.models.get(predictor.tables.model_name, servable(predictor))

    def serving_state(self, tenant_id: str, predictor_id: int) -> ServingState:
        """A predictor's serving state, never older than a second: a newly registered version
        is served within a second of its registration. Requests in a steady stream find it
        read ahead in the background and never wait for the store."""
        return self._serving.get((tenant_id, predictor_id))

    def _read_serving_state(self, key: tuple[str, int]) -> ServingState:
        with self.store.session(writes=False) as session:
            return serving_state(session, *key)

    def cached_serving_state(self, tenant_id: str, predictor_id: int) -> ServingState | None:
        """The serving state if it is at hand, without waiting for the store."""
        return self._serving.peek((tenant_id, predictor_id))

    def forget_serving_state(self, tenant_id: str, predictor_id: int) -> None:
        self._serving.forget((tenant_id, predictor_id))

    @cachedmethod(lambda self: self._tenant_names, lock=lambda self: self._tenant_names_lock)
    def tenant_name(self, tenant_id: str) -> str:
        """A tenant's name, for pages to show; a renamed tenant shows its new name within a
        minute."""
        with self.store.session(writes=False) as session:
            tenant = session.get(Tenant, tenant_id)
            return tenant.name if tenant is not None else tenant_id

    @cachedmethod(lambda self: self._backgrounds, lock=lambda self: self._backgrounds_lock)
    def explanation_background(self, features_table: tuple[str, ...], version: int) -> pd.DataFrame:
        """The first training rows of a model version (read from its features table), against
        which its single calls are explained; kept for the 32 versions explained last."""
        from lakehouse.ml.explain import BACKGROUND_ROWS

        table = self.catalog.load_table(features_table)
        return table.scan(limit=BACKGROUND_ROWS).to_arrow().to_pandas()

    @cached_property
    def prediction_log(self) -> PredictionLog:
        return PredictionLog(self.store)

    def start(self) -> BootstrapResult:
        result = bootstrap(self.store, self.settings)
        with self.store.session(writes=False) as session:  # it only reads the records
            swept = sweep_landing(session, self.landing)
        if swept is None:
            log.info("landing store not swept: an upload of another API process is in flight")
        elif swept:
            log.warning("removed %d leftovers of interrupted uploads: %s", len(swept), swept[:10])
        if self.settings.quickstart:
            with self.store.session() as session:
                principal = sandbox_principal(session, self.settings.quickstart_tenant)
            self.sandbox = Sandbox(principal)
        if result.generated_password is not None:
            log.warning(
                "created platform admin '%s' with generated password: %s (shown once)",
                result.admin_username,
                result.generated_password,
            )
        # What the first requests would wait for is readied off the start path.
        self._warmup = threading.Thread(target=self._warm_up, name="strata-warmup")
        self._warmup.start()
        if (
            self.settings.orchestrator_profile
            and self.settings.orchestrator_engine
            and (self.settings.run_mode == "dagster" or self.settings.workers > 0)
        ):
            self.ledger_engine = LedgerEngineWorker(self, self.settings.orchestrator_engine_seconds)
            self.ledger_engine.start()
        # What start-up built lives as long as the API: the collector's full passes, which
        # stop every request while they run, need not walk it again and again.
        gc.freeze()
        return result

    def _warm_up(self) -> None:
        """Open the catalog and the query engine, and load PyIceberg's file IO, so that the
        first datalake query after start costs about what later ones do; open the Dagster
        instance (a second of imports) when runs are taken."""
        if self.settings.run_mode == "dagster" or self.settings.workers > 0:
            self.gateway.start()
            gc.freeze()  # Dagster and what it imported, as at start-up
        # Once the API answers: until then these imports would only slow its start.
        if self._stopping.wait(DATA_WARM_UP_DELAY):
            return
        try:
            import pyiceberg.io.pyarrow  # noqa: F401  (what reading a table's files needs)

            _ = self.catalog, self.engine
        except Exception:  # the first request that needs them tries again, and says why
            log.warning("the catalog or the query engine could not be opened", exc_info=True)
        gc.freeze()  # what they imported lives as long as the API, as at start-up

    def stop(self) -> None:
        self._stopping.set()
        if self.ledger_engine is not None:
            self.ledger_engine.stop()
        if self._warmup is not None:
            self._warmup.join()
        if "gateway" in self.__dict__:
            self.gateway.close()
        if "engine" in self.__dict__:
            self.engine.close()
        if "catalog" in self.__dict__:
            self.catalog.engine.dispose()
        if "prediction_log" in self.__dict__:
            self.prediction_log.close()
        self._serving.close()
        self._principals.close()
        self.store.dispose()

    def cached_principal(self, access_token: str) -> Principal | None:
        """The token's principal if resolved lately; the token itself is checked every time."""
        return self._principals.peek(self.issuer.signer.verify(access_token))

    def forget_principals(self) -> None:
        """Resolve every principal afresh: users, roles, permissions or sessions changed."""
        self._principals.clear()
        with self._basic_lock:
            self._basic.clear()
            self._basic_generation += 1

    def basic_principal(self, username: str, password: str, address: str | None) -> Principal:
        """The principal of a user name and password, as a login checks them (throttle
        included); a pair verified lately is not verified again."""
        key = hmac.digest(self._basic_key, f"{username}\0{password}".encode(), hashlib.sha256)
        with self._basic_lock:
            known = self._basic.get(key)
            generation = self._basic_generation
        if known is not None:
            return known
        with self.store.session() as session, self.store.session(writes=False) as reading:
            principal = principal_for(
                self.issuer.authenticate(session, username, password, address, reading=reading)
            )
        with self._basic_lock:
            if generation == self._basic_generation:
                self._basic[key] = principal
        return principal

    def principal(self, access_token: str) -> Principal:
        return self._principals.get(self.issuer.signer.verify(access_token))

    def _read_principal(self, claims: AccessClaims) -> Principal:
        with self.store.session(writes=False) as session:
            return self.issuer.principal_of(session, claims)
