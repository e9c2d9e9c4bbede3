"""What the API holds for its lifetime: settings, metadata store, tokens, runs, query engine,
served models and the prediction log."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from cachetools import TTLCache

from lakehouse.accounts import SessionIssuer
from lakehouse.bootstrap import BootstrapResult, bootstrap
from lakehouse.datasets import sweep_landing
from lakehouse.landing import LandingStore
from lakehouse.prediction_log import PredictionLog
from lakehouse.predictors import ServingState, serving_state
from lakehouse.query import QueryEngine, open_engine
from lakehouse.rbac import Principal
from lakehouse.sandbox import sandbox_principal
from lakehouse.security import TokenSigner, signing_secret
from lakehouse.serving import ModelCache
from lakehouse.settings import Settings
from lakehouse.store import MetadataStore
from lakehouse.throttle import Throttle
from pipelines.gateway import RunGateway, open_gateway

log = logging.getLogger("strata.api")
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
        self.landing = LandingStore(settings.landing_dir)
        self.issuer = SessionIssuer(
            TokenSigner(signing_secret(settings), timedelta(minutes=settings.access_token_minutes)),
            refresh_lifetime=timedelta(days=settings.refresh_token_days),
            throttle=Throttle(settings.login_failures_allowed, settings.login_throttle_seconds),
        )
        self._warmup: threading.Thread | None = None
        self.sandbox: Sandbox | None = None
        # Resolved principals by (user, tenant, session), reused for a few seconds.
        self._principals: TTLCache[tuple[int, str, str], Principal] = TTLCache(
            maxsize=10_000, ttl=settings.principal_cache_seconds or 1
        )
        self._principal_lock = threading.Lock()
        self._principal_generation = 0
        self._serving: TTLCache[tuple[str, int], ServingState] = TTLCache(
            maxsize=10_000, ttl=SERVING_STATE_SECONDS
        )
        self._serving_lock = threading.Lock()

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

    def serving_state(self, tenant_id: str, predictor_id: int) -> ServingState:
        """A predictor's serving state, read at most once a second per predictor: a newly
        registered version is served within a second of its registration."""
        key = (tenant_id, predictor_id)
        with self._serving_lock:
            state = self._serving.get(key)
        if state is None:
            with self.store.session(writes=False) as session:
                state = serving_state(session, tenant_id, predictor_id)
            with self._serving_lock:
                self._serving[key] = state
        return state

    def cached_serving_state(self, tenant_id: str, predictor_id: int) -> ServingState | None:
        with self._serving_lock:
            return self._serving.get((tenant_id, predictor_id))

    def forget_serving_state(self, tenant_id: str, predictor_id: int) -> None:
        with self._serving_lock:
            self._serving.pop((tenant_id, predictor_id), None)

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

    def cached_principal(self, access_token: str) -> Principal | None:
        """The token's principal if resolved lately; the token itself is checked every time."""
        claims = self.issuer.signer.verify(access_token)
        with self._principal_lock:
            return self._principals.get((claims.user_id, claims.tenant_id, claims.session_id))

    def forget_principals(self) -> None:
        """Resolve every principal afresh: users, roles, permissions or sessions changed."""
        with self._principal_lock:
            self._principals.clear()
            self._principal_generation += 1

    def principal(self, access_token: str) -> Principal:
        claims = self.issuer.signer.verify(access_token)
        with self._principal_lock:
            generation = self._principal_generation
        with self.store.session(writes=False) as session:
            principal = self.issuer.principal_of(session, claims)
        if self.settings.principal_cache_seconds > 0:
            with self._principal_lock:
                # Read before a change that cleared the cache: keep it out of the cache.
                if generation == self._principal_generation:
                    key = (claims.user_id, claims.tenant_id, claims.session_id)
                    self._principals[key] = principal
        return principal
