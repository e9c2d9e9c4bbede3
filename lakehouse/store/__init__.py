"""Metadata store: SQLAlchemy models, engine and Alembic migrations."""

from lakehouse.store.engine import MetadataStore
from lakehouse.store.models import (
    Base,
    DataFile,
    Dataset,
    Permission,
    Prediction,
    Predictor,
    RefreshToken,
    Role,
    Template,
    Tenant,
    TrainingJob,
    User,
)
from lakehouse.store.workbench import (
    RateWindow,
    WorkbenchApiKey,
    WorkbenchDataset,
    WorkbenchDeployment,
    WorkbenchModel,
    WorkbenchProject,
)

__all__ = [
    "Base",
    "DataFile",
    "Dataset",
    "MetadataStore",
    "Permission",
    "Prediction",
    "Predictor",
    "RateWindow",
    "RefreshToken",
    "Role",
    "Template",
    "Tenant",
    "TrainingJob",
    "User",
    "WorkbenchApiKey",
    "WorkbenchDataset",
    "WorkbenchDeployment",
    "WorkbenchModel",
    "WorkbenchProject",
]
