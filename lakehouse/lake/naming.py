"""Iceberg table names: a user-facing `layer.table`, stored in a namespace of its tenant's own."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from lakehouse.errors import InvalidInputError

MAX_TABLE_NAME = 64
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Layer(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


def table_name_from(text: str, field: str = "iceberg_table_name") -> str:
    """A table name derived from free text: lower snake case, ASCII, starting with a letter."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    if name and not name[0].isalpha():
        name = f"t_{name}"
    name = name[:MAX_TABLE_NAME].rstrip("_")
    if not TABLE_NAME.fullmatch(name):
        raise InvalidInputError(
            f"'{text}' gives no usable table name; use letters, digits and underscores", field=field
        )
    return name


@dataclass(frozen=True)
class TableRef:
    """A tenant's table: users see `layer.name`; the catalog holds it as `tenant.layer.name`."""

    tenant_id: str
    layer: Layer
    name: str

    @property
    def namespace(self) -> tuple[str, str]:
        return (tenant_namespace(self.tenant_id), self.layer.value)

    @property
    def identifier(self) -> tuple[str, str, str]:
        return (*self.namespace, self.name)

    @property
    def display_name(self) -> str:
        return f"{self.layer.value}.{self.name}"


def tenant_namespace(tenant_id: str) -> str:
    """The catalog namespace of a tenant, derived from its id (never from a name it can choose)."""
    return "t_" + re.sub(r"[^0-9a-f]", "", tenant_id.lower())


@dataclass(frozen=True)
class DatasetTables:
    """Every table the pipelines write for one dataset."""

    tenant_id: str
    name: str

    @property
    def bronze(self) -> TableRef:
        return TableRef(self.tenant_id, Layer.BRONZE, self.name)

    @property
    def silver(self) -> TableRef:
        return TableRef(self.tenant_id, Layer.SILVER, self.name)

    @property
    def rejects(self) -> TableRef:
        return TableRef(self.tenant_id, Layer.SILVER, f"{self.name}__rejects")

    @property
    def statistics(self) -> TableRef:
        return TableRef(self.tenant_id, Layer.GOLD, f"{self.name}__stats")

    def all(self) -> list[TableRef]:
        return [self.bronze, self.silver, self.rejects, self.statistics]


@dataclass(frozen=True)
class PredictorTables:
    """The gold tables the model pipelines write for one predictor."""

    tenant_id: str
    name: str

    @property
    def features(self) -> TableRef:
        return TableRef(self.tenant_id, Layer.GOLD, f"{self.name}__features")

    @property
    def shap(self) -> TableRef:
        return TableRef(self.tenant_id, Layer.GOLD, f"{self.name}__shap")

    @property
    def predictions(self) -> TableRef:
        return TableRef(self.tenant_id, Layer.GOLD, f"{self.name}__predictions")

    def all(self) -> list[TableRef]:
        return [self.features, self.shap, self.predictions]

    @property
    def model_name(self) -> str:
        """The predictor's registered model: one per tenant and predictor."""
        return f"{tenant_namespace(self.tenant_id)}.{self.name}"
