"""Tables of the metadata store; every tenant-owned row carries `tenant_id`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from lakehouse.lake.naming import DatasetTables, PredictorTables
from lakehouse.states import ValidationState, WorkState

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)

role_permissions = Table(
    "role_permissions",
    Base.metadata,
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("permission_id", ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True),
)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(150))
    last_name: Mapped[str | None] = mapped_column(String(150))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_roles_tenant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    permissions: Mapped[list[Permission]] = relationship(
        secondary=role_permissions, lazy="selectin", order_by="Permission.name"
    )


class Permission(Base):
    __tablename__ = "permissions"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_permissions_tenant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RefreshToken(Base):
    """A refresh token, stored as its SHA-256 digest; `family_id` links a chain of rotations."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoginThrottle(Base):
    """Consecutive failed logins under one key (a user name, or a client address), and until
    when (epoch seconds) further attempts under it are refused."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)
    last_failure: Mapped[float] = mapped_column(Float, default=0.0)


class Template(Base):
    """A named list of typed columns; `template_schema` holds the checked column specs."""

    __tablename__ = "templates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "template_name", name="uq_templates_tenant_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    template_name: Mapped[str] = mapped_column(String(255))
    template_schema: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    null_markers: Mapped[list[str] | None] = mapped_column(JSON)
    min_usability: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(150))
    modified_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(Base):
    """Uploaded files of one tenant that land as one table per layer."""

    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dataset_name", name="uq_datasets_tenant_name"),
        UniqueConstraint("tenant_id", "iceberg_table_name", name="uq_datasets_tenant_table"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    dataset_name: Mapped[str] = mapped_column(String(255))
    usage: Mapped[str] = mapped_column(String(8))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"), index=True)
    iceberg_table_name: Mapped[str] = mapped_column(String(64))
    data_source: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(150))
    validation_status: Mapped[str] = mapped_column(String(16), default=ValidationState.PENDING)
    validation_error: Mapped[str | None] = mapped_column(Text)
    dataset_usability: Mapped[float | None] = mapped_column(Float)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    passed_rows: Mapped[int | None] = mapped_column(Integer)
    usability_threshold: Mapped[float | None] = mapped_column(Float)
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    # Held by the one request whose run will write the dataset next, from its first commit
    # until the run is recorded (lakehouse.data.datasets.claim_run); Unix time for its age.
    run_claim: Mapped[str | None] = mapped_column(String(32))
    run_claimed_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    template: Mapped[Template | None] = relationship(lazy="selectin")

    @property
    def tables(self) -> DatasetTables:
        return DatasetTables(self.tenant_id, self.iceberg_table_name)

    files: Mapped[list[DataFile]] = relationship(
        back_populates="dataset",
        lazy="selectin",
        order_by="DataFile.id",
        cascade="all, delete-orphan",
    )


class DataFile(Base):
    """One uploaded file of a dataset, as kept in the landing store; `uuid` names it for good
    (the orchestrator profile's data uuids)."""

    __tablename__ = "data_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(512))
    file_format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    total_fields: Mapped[int] = mapped_column(Integer)
    total_records: Mapped[int] = mapped_column(Integer)
    error_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="files")


class Predictor(Base):
    """A named model of one tenant: its training request, state and registered versions."""

    __tablename__ = "predictors"
    __table_args__ = (
        UniqueConstraint("tenant_id", "predictor_name", name="uq_predictors_tenant_name"),
        UniqueConstraint("tenant_id", "table_name", name="uq_predictors_tenant_table"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    predictor_name: Mapped[str] = mapped_column(String(255))
    table_name: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(255))
    problem_type: Mapped[str] = mapped_column(String(32))
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), index=True
    )
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    algorithm: Mapped[str] = mapped_column(String(32))
    hyperparameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    test_share: Mapped[float | None] = mapped_column(Float)
    is_incremental: Mapped[bool] = mapped_column(Boolean, default=False)
    shap_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    preprocess_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(150))
    training_status: Mapped[str] = mapped_column(String(16), default=WorkState.SUBMITTED)
    training_error: Mapped[str | None] = mapped_column(Text)
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    trained_algorithm: Mapped[str | None] = mapped_column(String(32))
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[int | None] = mapped_column(Integer)
    accuracy: Mapped[float | None] = mapped_column(Float)
    rows_used: Mapped[int | None] = mapped_column(Integer)
    rows_rejected: Mapped[int | None] = mapped_column(Integer)
    shap_status: Mapped[str | None] = mapped_column(String(16))
    shap_error: Mapped[str | None] = mapped_column(Text)
    shap_run_id: Mapped[str | None] = mapped_column(String(64))
    evaluation_status: Mapped[str | None] = mapped_column(String(16))
    evaluation_error: Mapped[str | None] = mapped_column(Text)
    evaluation_run_id: Mapped[str | None] = mapped_column(String(64))
    tuning_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    dataset: Mapped[Dataset | None] = relationship(lazy="selectin")

    @property
    def tables(self) -> PredictorTables:
        return PredictorTables(self.tenant_id, self.table_name)


class Prediction(Base):
    """One prediction request: a real-time call or a batch job over a dataset."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    predictor_id: Mapped[int] = mapped_column(
        ForeignKey("predictors.id", ondelete="CASCADE"), index=True
    )
    prediction_type: Mapped[str] = mapped_column(String(16))
    dataset_id: Mapped[int | None] = mapped_column(Integer)
    input_data: Mapped[Any] = mapped_column(JSON)
    output: Mapped[Any] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    no_of_records: Mapped[int | None] = mapped_column(Integer)
    model_version: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(64))
    result_path: Mapped[str | None] = mapped_column(String(512))
    deployment_id: Mapped[str | None] = mapped_column(
        ForeignKey("workbench_deployments.id", ondelete="CASCADE"), index=True
    )
    """The workbench deployment a real-time call came through, if any."""
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrainingJob(Base):
    """A training started through the jobs profile: a CSV, a label and a model choice."""

    __tablename__ = "training_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    predictor_id: Mapped[int] = mapped_column(
        ForeignKey("predictors.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str | None] = mapped_column(String(64))
    data_path: Mapped[str] = mapped_column(String(255))
    satellite: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    predictor: Mapped[Predictor] = relationship(lazy="joined")


class LedgerDocument:
    """A document of the orchestrator profile's ledger: a tenant's row, named by the `uuid`
    its client chose (unique per tenant and collection), shown as the fields of `FIELDS`."""

    FIELDS: tuple[str, ...] = ()

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    uuid: Mapped[str] = mapped_column(String(255))

    def document(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}


class EngineWork(LedgerDocument):
    """An uplet Strata's engine may do: the Dagster run doing it and, when the run failed,
    why. A document the engine took shows these under `strata`, beside the original's fields."""

    run_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)

    def engine_details(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "error": self.error}

    def document(self) -> dict[str, Any]:
        shown = super().document()
        if self.run_id is not None or self.error is not None:
            shown["strata"] = self.engine_details()
        return shown


class LedgerWorkflow(LedgerDocument, Base):
    """How Strata's engine trains and scores the models of a problem whose `workflow` names
    it: the column to predict, the kind of problem, and the metric that is a model's `perf`."""

    __tablename__ = "ledger_workflows"
    __table_args__ = (UniqueConstraint("tenant_id", "uuid", name="uq_ledger_workflows_uuid"),)
    FIELDS = ("uuid", "target", "problem_type", "metric", "timestamp_upload")

    target: Mapped[str] = mapped_column(String(255))
    problem_type: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(32))
    timestamp_upload: Mapped[int] = mapped_column(BigInteger)


class LedgerProblem(LedgerDocument, Base):
    """A learning problem: the workflow that scores its models, its test data, and how many
    data make one mini-batch of training."""

    __tablename__ = "ledger_problems"
    __table_args__ = (UniqueConstraint("tenant_id", "uuid", name="uq_ledger_problems_uuid"),)
    FIELDS = ("uuid", "workflow", "test_dataset", "size_train_dataset", "timestamp_upload")

    workflow: Mapped[str] = mapped_column(String(255))
    test_dataset: Mapped[list[str]] = mapped_column(JSON)
    size_train_dataset: Mapped[int] = mapped_column(Integer)
    timestamp_upload: Mapped[int] = mapped_column(BigInteger)


class LedgerAlgo(LedgerDocument, Base):
    """An algorithm posted for a problem; its learnuplets form one chain of ranks."""

    __tablename__ = "ledger_algos"
    __table_args__ = (UniqueConstraint("tenant_id", "uuid", name="uq_ledger_algos_uuid"),)
    FIELDS = ("uuid", "problem", "name", "timestamp_upload")

    problem: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    timestamp_upload: Mapped[int] = mapped_column(BigInteger)


class LedgerData(LedgerDocument, Base):
    """One data item (a file) and the problems it belongs to."""

    __tablename__ = "ledger_data"
    __table_args__ = (UniqueConstraint("tenant_id", "uuid", name="uq_ledger_data_uuid"),)
    FIELDS = ("uuid", "problems", "timestamp_upload")

    problems: Mapped[list[str]] = mapped_column(JSON)
    timestamp_upload: Mapped[int] = mapped_column(BigInteger)


class Learnuplet(EngineWork, Base):
    """A training task: train `algo` on `train_data` from the model `model_start`, giving
    `model_end`; `rank` orders an algo's chain."""

    __tablename__ = "ledger_learnuplets"
    __table_args__ = (UniqueConstraint("tenant_id", "uuid", name="uq_ledger_learnuplets_uuid"),)
    FIELDS = (
        "uuid",
        "problem",
        "workflow",
        "algo",
        "model_start",
        "model_end",
        "train_data",
        "test_data",
        "worker",
        "perf",
        "train_perf",
        "test_perf",
        "status",
        "rank",
        "timestamp_creation",
        "timestamp_done",
    )

    problem: Mapped[str] = mapped_column(String(255))
    workflow: Mapped[str] = mapped_column(String(255))
    algo: Mapped[str] = mapped_column(String(255), index=True)
    model_start: Mapped[str | None] = mapped_column(String(255))
    model_end: Mapped[str] = mapped_column(String(255))
    train_data: Mapped[list[str]] = mapped_column(JSON)
    test_data: Mapped[list[str]] = mapped_column(JSON)
    worker: Mapped[str | None] = mapped_column(String(255))
    perf: Mapped[float | None] = mapped_column(Float)
    train_perf: Mapped[Any] = mapped_column(JSON, nullable=True)
    test_perf: Mapped[Any] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(Integer)
    timestamp_creation: Mapped[int] = mapped_column(BigInteger)
    timestamp_done: Mapped[int | None] = mapped_column(BigInteger)
    # Where Strata's engine registered `model_end` in MLflow, when it trained this uplet.
    registered_model: Mapped[str | None] = mapped_column(String(255))
    registered_version: Mapped[int | None] = mapped_column(Integer)

    def engine_details(self) -> dict[str, Any]:
        return {
            **super().engine_details(),
            "model_name": self.registered_model,
            "model_version": self.registered_version,
        }


class Preduplet(EngineWork, Base):
    """A prediction task: apply `model` to `data` (one uuid, or a list of them)."""

    __tablename__ = "ledger_preduplets"
    __table_args__ = (UniqueConstraint("tenant_id", "uuid", name="uq_ledger_preduplets_uuid"),)
    FIELDS = (
        "uuid",
        "problem",
        "data",
        "timestamp_request",
        "model",
        "status",
        "worker",
        "timestamp_done",
        "workflow",
        "prediction_storage_uuid",
    )

    problem: Mapped[str] = mapped_column(String(255))
    data: Mapped[Any] = mapped_column(JSON)
    timestamp_request: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str | None] = mapped_column(String(255))
    timestamp_done: Mapped[int | None] = mapped_column(BigInteger)
    workflow: Mapped[str] = mapped_column(String(255))
    prediction_storage_uuid: Mapped[str | None] = mapped_column(String(255))
