"""The one settings object: every `STRATA_*` variable, with `.env` honoured."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

HEAVY_MODULES = (
    "pyarrow",
    "pyiceberg.catalog.sql",
    "polars",
    "great_expectations",
    "mlflow",
    # MLflow's SQL stores, imported apart from `mlflow`: 2 s of a batch run's first client
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "sklearn",
    "xgboost",
    "lightgbm",
    "shap",
    # the model files' reader, whose table of trusted types takes 1.4 s to build
    "skops.io",
)


SECRETS = frozenset({"secret_key", "admin_password", "trino_password", "service_token"})
OBJECT_STORE = ("s3://",)


def child_env(settings: Settings, *, with_secrets: bool = False) -> dict[str, str]:
    """The environment for a child process of the platform: ours, minus secrets it need not see."""
    from lakehouse.storage import aws_env, uses_object_store

    hidden = {f"STRATA_{name.upper()}" for name in SECRETS} if not with_secrets else set()
    inherited = {k: v for k, v in os.environ.items() if k not in hidden}
    storage = aws_env(settings) if uses_object_store(settings) else {}
    return {**inherited, **storage, **settings.as_env(with_secrets=with_secrets)}


class Settings(BaseSettings):
    """Strata's configuration; derived locations default to places under `data_dir`."""

    model_config = SettingsConfigDict(
        env_prefix="STRATA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(Path(".strata"), description="Directory holding all local state.")
    database_url: str = Field(
        "", description="Metadata store URL; default a SQLite file in data_dir."
    )
    secret_key: SecretStr | None = Field(
        None,
        min_length=32,
        description="JWT signing secret; default generated once into data_dir/secret_key.",
    )
    access_token_minutes: int = Field(30, ge=1, description="Access token lifetime.")
    principal_cache_seconds: float = Field(
        5.0, ge=0, description="How long a user's resolved roles are reused; 0 never."
    )
    refresh_token_days: int = Field(7, ge=1, description="Refresh token lifetime.")
    admin_username: str = Field("admin", min_length=1, description="First platform admin.")
    admin_email: str = Field("admin@strata.local", description="First platform admin's email.")
    admin_password: SecretStr | None = Field(
        None, description="First admin's password; default generated and printed once."
    )
    first_tenant_name: str = Field("default", min_length=1, description="First tenant's name.")
    api_host: str = Field("127.0.0.1", description="Interface the API listens on.")
    api_port: int = Field(8000, description="API port.")
    dagster_port: int = Field(3000, description="Dagster UI port.")
    run_mode: Literal["embedded", "dagster"] = Field(
        "embedded", description="embedded: warm worker processes; dagster: webserver + daemon."
    )
    run_launcher: Literal["default", "celery"] = Field(
        "default",
        description="How dagster run mode starts a run: a process beside the daemon (default), "
        "or a task for the Celery workers (celery).",
    )
    celery_broker_url: str = Field("", description="Celery broker for run_launcher=celery.")
    celery_backend_url: str = Field(
        "", description="Celery result backend for run_launcher=celery; default the broker."
    )
    workers: int = Field(2, ge=0, description="Warm worker processes in embedded mode.")
    worker_preload: list[str] = Field(
        default_factory=lambda: list(HEAVY_MODULES),
        description="Modules each worker imports once at start.",
    )
    dagster_home: Path | None = Field(None, description="Dagster instance directory.")
    dagster_storage_url: str | None = Field(
        None, description="PostgreSQL URL for Dagster's storage; default SQLite in dagster_home."
    )
    dagster_url: str = Field(
        "", description="Dagster webserver used in dagster run mode; default api_host:dagster_port."
    )
    dagster_location: str = Field("strata", description="Code location name of Strata's jobs.")
    dagster_compute_logs: str = Field(
        "", description="Where Dagster keeps run logs: s3://bucket/prefix; default dagster_home."
    )
    catalog_url: str = Field("", description="Iceberg SQL catalog URL; default SQLite.")
    warehouse: str = Field("", description="Iceberg warehouse location; default data_dir.")
    mlflow_tracking_uri: str = Field("", description="MLflow tracking store; default SQLite.")
    mlflow_artifact_root: str = Field(
        "", description="Where MLflow keeps run artifacts and models; default data_dir."
    )
    mlflow_port: int = Field(5000, description="MLflow UI port.")
    landing_url: str = Field(
        "", description="Where uploaded files land: s3://bucket/prefix; default data_dir/landing."
    )
    s3_endpoint: str = Field(
        "", description="S3-compatible endpoint of s3:// locations; default AWS's own."
    )
    s3_region: str = Field("us-east-1", min_length=1, description="Region of the S3 buckets.")
    s3_access_key_id: str = Field("", description="Access key of the S3 buckets.")
    s3_secret_access_key: SecretStr | None = Field(None, description="Secret of that key.")
    service_token: SecretStr | None = Field(
        None, description="Bearer token of compute engines posting to the callback endpoints."
    )
    query_engine: Literal["embedded", "trino"] = Field(
        "embedded", description="Engine of the datalake queries: embedded DuckDB, or Trino."
    )
    trino_url: str = Field(
        "", description="Trino for query_engine=trino: http(s)://user@host:port/catalog."
    )
    trino_password: SecretStr | None = Field(None, description="Trino password (basic auth).")
    valid_usability: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Share of rows that must pass for a dataset to be valid (a template's "
        "min_usability overrides it).",
    )
    max_upload_bytes: int = Field(
        1024**3, ge=1, description="Largest accepted upload request, in bytes (larger: 413)."
    )
    max_columns: int = Field(
        1000, ge=1, description="Most columns an uploaded file may have (more: 422 at upload)."
    )
    tenant_run_limit: int = Field(
        20, ge=1, description="Most queued and running runs one tenant may have (more: 429)."
    )
    run_time_limit_seconds: float = Field(
        3600, gt=0, description="Longest a run may take; past it the run fails, naming the limit."
    )
    login_failures_allowed: int = Field(
        5, ge=1, description="Consecutive failed logins per user name or address before throttling."
    )
    login_throttle_seconds: int = Field(
        60, ge=1, description="How long logins stay throttled after too many failures."
    )
    quickstart: bool = Field(
        False, description="Serve the quickstart profile (/, /upload, /train...): no auth."
    )
    quickstart_tenant: str = Field(
        "quickstart", min_length=1, description="The sandbox tenant the quickstart works in."
    )
    jobs_profile: bool = Field(
        True, description="Serve the jobs profile (/api/train, /api/predict, /api/merge, /media)."
    )
    orchestrator_profile: bool = Field(
        True,
        description="Serve the orchestrator profile (problems, algos, data, learnuplets and "
        "preduplets) under `orchestrator_prefix`.",
    )
    orchestrator_engine: bool = Field(
        True,
        description="Let Strata's engine claim and do the orchestrator profile's learnuplets "
        "and preduplets whose problem names a Strata workflow.",
    )
    orchestrator_engine_seconds: float = Field(
        1.0, gt=0, description="How often the engine looks for uplets it can do."
    )
    orchestrator_prefix: str = Field(
        "/morpheo",
        pattern=r"^(/[A-Za-z0-9._~-]+)+$",
        description="Where the orchestrator profile is mounted.",
    )
    workbench_profile: bool = Field(
        True,
        description="Serve the workbench profile (accounts, projects, datasets, SQL, models "
        "and experiments) under `workbench_prefix`.",
    )
    workbench_prefix: str = Field(
        "/api",
        pattern=r"^(/[A-Za-z0-9._~-]+)+$",
        description="Where the workbench profile is mounted.",
    )
    workbench_registration: bool = Field(
        False,
        description="Let anyone register a workbench account (a user in a tenant of its own).",
    )
    workbench_upload_bytes: int = Field(
        300 * 1024 * 1024, ge=1, description="Largest dataset the workbench takes (more: 413)."
    )
    deployment_requests_per_minute: int = Field(
        60,
        ge=1,
        description="Predictions a workbench deployment answers a minute, across every API "
        "process (more: 429).",
    )
    sql_default_limit: int = Field(
        200, ge=1, description="The LIMIT read-only SQL gets when it has none."
    )
    sql_max_rows: int = Field(1000, ge=1, description="Most rows read-only SQL returns.")
    sql_timeout_seconds: float = Field(
        5.0, gt=0, description="Longest a read-only SQL statement may run."
    )
    sql_cache_seconds: float = Field(
        300, ge=0, description="How long a read-only SQL result is reused (0: never)."
    )
    sql_cache_entries: int = Field(500, ge=0, description="Most read-only SQL results kept.")
    merge_token_seconds: int = Field(
        1800, ge=1, description="How long a merge token of the jobs profile stays valid."
    )
    profile_wait_seconds: float = Field(
        900, gt=0, description="Longest a profile request waits for the runs it starts."
    )
    debug: bool = Field(False, description="Show exception detail in error responses.")

    @model_validator(mode="after")
    def _derive_locations(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'strata.db'}"
        if self.dagster_home is None:
            self.dagster_home = self.data_dir / "dagster"
        if not self.catalog_url:
            self.catalog_url = f"sqlite:///{self.data_dir / 'iceberg' / 'catalog.db'}"
        if not self.warehouse:
            self.warehouse = (self.data_dir / "warehouse").as_uri()
        if not self.dagster_url:
            self.dagster_url = f"http://{self.api_host}:{self.dagster_port}"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{self.data_dir / 'mlflow' / 'mlflow.db'}"
        if not self.mlflow_artifact_root:
            self.mlflow_artifact_root = (self.data_dir / "mlflow" / "artifacts").as_uri()
        if not self.landing_url:
            self.landing_url = (self.data_dir / "landing").as_uri()
        if self.query_engine == "trino" and not self.trino_url:
            raise ValueError("STRATA_TRINO_URL is required when STRATA_QUERY_ENGINE is trino")
        if self.run_launcher == "celery":
            if self.run_mode != "dagster":
                raise ValueError("STRATA_RUN_LAUNCHER=celery needs STRATA_RUN_MODE=dagster")
            if not self.celery_broker_url:
                raise ValueError("STRATA_CELERY_BROKER_URL is required for the celery launcher")
            self.celery_backend_url = self.celery_backend_url or self.celery_broker_url
        for name in ("warehouse", "landing_url", "mlflow_artifact_root", "dagster_compute_logs"):
            location = getattr(self, name)
            if "://" in location and not location.startswith(("file://", *OBJECT_STORE)):
                raise ValueError(f"STRATA_{name.upper()} must be a file:// or s3:// location")
        return self

    @property
    def landing_dir(self) -> Path:
        """The landing store's directory, when it is one (landing_url a file:// location)."""
        from lakehouse.storage import local_path

        return local_path(self.landing_url)

    @property
    def dagster_dir(self) -> Path:
        assert self.dagster_home is not None  # set by _derive_locations
        return self.dagster_home

    def as_env(self, *, with_secrets: bool = False) -> dict[str, str]:
        """These settings as `STRATA_*` variables, for processes that must see the same platform.

        Secrets are left out unless asked for: run workers and Dagster's processes execute
        pipeline code, which has no business with the signing key or the admin's password.
        """
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None or (name in SECRETS and not with_secrets):
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, list | dict):
                text = json.dumps(value)
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            env[f"STRATA_{name.upper()}"] = text
        env["DAGSTER_HOME"] = str(self.dagster_dir)
        return env
