"""One tenant's view of the datalake: its schemas, tables and columns, and queries over them.

Every name a caller gives is looked up in the tenant's own catalog namespace before it
goes near a query; an unknown schema, table or column is a 404 naming the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lakehouse.errors import BadRequestError, NotFoundError, ServiceUnavailableError
from lakehouse.lake.naming import Layer, TableRef, tenant_namespace
from lakehouse.lake.query import ColumnInfo, NumericStats, QueryEngine, sql_type

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table
    from pyiceberg.types import IcebergType, NestedField

NUMERIC_TYPES = {"int", "long", "float", "double"}


@dataclass(frozen=True)
class Field:
    """Which query parameters carry the schema, table and column (the reference varies)."""

    schema: str = "schema_name"
    table: str = "table_name"
    column: str = "column_name"


@dataclass(frozen=True)
class TableMetadata:
    schema: str
    table: str
    owner: str | None
    created_time: datetime | None
    last_access_time: datetime | None
    location: str
    format: str
    snapshot_id: int | None
    row_count: int
    file_count: int
    last_updated: datetime


def is_numeric(field_type: IcebergType) -> bool:
    return str(field_type) in NUMERIC_TYPES or str(field_type).startswith("decimal")


def from_millis(millis: int | None) -> datetime | None:
    return None if millis is None else datetime.fromtimestamp(millis / 1000, tz=UTC)


class Datalake:
    """A tenant's schemas (the layers it has written) and tables, read through the catalog."""

    def __init__(self, catalog: Catalog, engine: QueryEngine, tenant_id: str) -> None:
        self.catalog = catalog
        self.engine = engine
        self.tenant_id = tenant_id

    def schemas(self) -> list[str]:
        from pyiceberg.exceptions import NoSuchNamespaceError

        try:
            namespaces = self.catalog.list_namespaces(tenant_namespace(self.tenant_id))
        except NoSuchNamespaceError:
            return []
        present = {namespace[-1] for namespace in namespaces}
        return [layer.value for layer in Layer if layer.value in present]

    def readable(self) -> dict[str, TableRef]:
        """Every table of the tenant by the name its SQL uses: `<schema>.<table>`."""
        return {
            f"{layer}.{name}": TableRef(self.tenant_id, Layer(layer), name)
            for layer in self.schemas()
            for name in self._table_names(Layer(layer))
        }

    def tables(self, schema: str, field: Field = Field()) -> list[str]:
        layer = self._layer(schema, field)
        return sorted(self._table_names(layer))

    def columns(self, schema: str, table: str, field: Field = Field()) -> list[ColumnInfo]:
        ref, loaded = self.resolve(schema, table, field)
        return self.engine.columns(loaded, ref)

    def table_metadata(
        self, schema: str, table: str, owner: str | None, field: Field = Field()
    ) -> TableMetadata:
        ref, loaded = self.resolve(schema, table, field)
        metadata = loaded.metadata
        snapshot = loaded.current_snapshot()
        summary = snapshot.summary if snapshot is not None else None
        row_count = self.engine.row_count(loaded, ref) if snapshot is not None else 0
        first = min((s.timestamp_ms for s in metadata.snapshots), default=None)
        last_updated = from_millis(metadata.last_updated_ms)
        assert last_updated is not None
        return TableMetadata(
            schema=ref.layer.value,
            table=ref.name,
            owner=owner,
            created_time=from_millis(first) or last_updated,
            # Iceberg records writes, not reads: the last access known is the last commit.
            last_access_time=last_updated,
            location=loaded.location(),
            format="iceberg",
            snapshot_id=snapshot.snapshot_id if snapshot is not None else None,
            row_count=row_count,
            file_count=int(summary.get("total-data-files") or 0) if summary is not None else 0,
            last_updated=last_updated,
        )

    def numeric_stats(
        self, schema: str, table: str, column: str, field: Field = Field()
    ) -> NumericStats:
        ref, loaded = self.resolve(schema, table, field)
        found = self._column(loaded, column, field)
        if not is_numeric(found.field_type):
            raise BadRequestError(
                f"column '{found.name}' of {ref.display_name} is {sql_type(found.field_type)}, "
                "not numeric; numeric_stats needs an integer, real, double or decimal column",
                field=field.column,
            )
        return self.engine.numeric_stats(loaded, ref, found.name)

    def numeric_columns(self, schema: str, table: str) -> set[str]:
        """The names of the table's numeric columns (those `numeric_stats` describes)."""
        _, loaded = self.resolve(schema, table)
        return {f.name for f in loaded.schema().fields if is_numeric(f.field_type)}

    def distinct_count(self, schema: str, table: str, column: str, field: Field = Field()) -> int:
        ref, loaded = self.resolve(schema, table, field)
        found = self._column(loaded, column, field)
        return self.engine.distinct_count(loaded, ref, found.name)

    def resolve(self, schema: str, table: str, field: Field = Field()) -> tuple[TableRef, Table]:
        """The tenant's table `schema.table`, as the catalog has it; 404 when it has none."""
        from pyiceberg.exceptions import NoSuchTableError

        layer = self._layer(schema, field)
        ref = TableRef(self.tenant_id, layer, table)
        try:
            return ref, self.catalog.load_table(ref.identifier)
        except OSError as exc:  # the catalog points at metadata the warehouse lost
            raise ServiceUnavailableError(
                f"table '{table}' cannot be read from the warehouse"
            ) from exc
        except NoSuchTableError:
            raise NotFoundError(
                f"table '{table}' not found in schema '{schema}'", field=field.table
            ) from None

    def _layer(self, schema: str, field: Field) -> Layer:
        if schema not in self.schemas():
            raise NotFoundError(f"schema '{schema}' not found", field=field.schema)
        return Layer(schema)

    def _table_names(self, layer: Layer) -> set[str]:
        from pyiceberg.exceptions import NoSuchNamespaceError

        try:
            identifiers = self.catalog.list_tables((tenant_namespace(self.tenant_id), layer.value))
        except NoSuchNamespaceError:
            return set()
        return {identifier[-1] for identifier in identifiers}

    @staticmethod
    def _column(table: Table, column: str, field: Field) -> NestedField:
        for candidate in table.schema().fields:
            if candidate.name == column:
                return candidate
        raise NotFoundError(
            f"column '{column}' not found in table '{table.name()[-1]}'", field=field.column
        )
