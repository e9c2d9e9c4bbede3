"""Tables of the workbench profile: a tenant's projects, the datasets uploaded into them (each
a Strata dataset, with the profile of the file as it was uploaded), and the models trained
from templates (each a Strata predictor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lakehouse.store.models import Base, Dataset, Predictor, new_uuid, utcnow


class WorkbenchProject(Base):
    __tablename__ = "workbench_projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    icon: Mapped[str | None] = mapped_column(String(64))
    color: Mapped[str | None] = mapped_column(String(32))
    # `metadata` is the declarative base's own name
    details: Mapped[Any] = mapped_column("metadata", JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkbenchDataset(Base):
    """A dataset uploaded through the workbench: `table_name` is what its project's SQL calls
    it, and `profile` what the upload answered about the file."""

    __tablename__ = "workbench_datasets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "table_name", name="uq_workbench_datasets_table"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("workbench_projects.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), unique=True
    )
    table_name: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    file_type: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    profile: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    dataset: Mapped[Dataset] = relationship(lazy="joined")


class WorkbenchModel(Base):
    """A model trained from a workbench template: a Strata predictor, with what the workbench
    answers about it."""

    __tablename__ = "workbench_models"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("workbench_projects.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("workbench_datasets.id", ondelete="SET NULL")
    )
    predictor_id: Mapped[int] = mapped_column(
        ForeignKey("predictors.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(200))
    template_id: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[Any] = mapped_column(JSON)
    test_share: Mapped[float] = mapped_column(Float)
    target_column: Mapped[str | None] = mapped_column(String(255))
    feature_columns: Mapped[Any] = mapped_column(JSON)
    feature_types: Mapped[Any] = mapped_column(JSON)
    sample_request: Mapped[Any] = mapped_column(JSON)
    metrics: Mapped[Any] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    training_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    predictor: Mapped[Predictor] = relationship(lazy="joined")


class WorkbenchDeployment(Base):
    """A model serving behind its own API keys: `status` `healthy` while it answers,
    `stopped` once stopped."""

    __tablename__ = "workbench_deployments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("workbench_projects.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[str] = mapped_column(
        ForeignKey("workbench_models.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    config: Mapped[Any] = mapped_column(JSON)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    model: Mapped[WorkbenchModel] = relationship(lazy="joined")


class WorkbenchApiKey(Base):
    """A deployment's API key: only its prefix is kept readable; the key itself is kept as
    a salted SHA-256."""

    __tablename__ = "workbench_api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("workbench_deployments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    key_prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    key_salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateWindow(Base):
    """Requests counted under a key in its latest window of time and the one before, shared
    by every API process."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger)
    """The latest window's start, in seconds since the epoch."""
    count: Mapped[int] = mapped_column(Integer)
    previous: Mapped[int] = mapped_column(Integer)
    """Requests of the window before it (0 when none were made)."""
