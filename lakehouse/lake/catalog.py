"""The one way to open the Iceberg catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from lakehouse.lake.naming import TableRef
from lakehouse.settings import Settings
from lakehouse.storage import iceberg_properties, is_object_store, local_path
from lakehouse.store.engine import database_url

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table

CATALOG_NAME = "strata"


def open_catalog(settings: Settings) -> SqlCatalog:
    """PyIceberg's SQL catalog on the configured database and warehouse."""
    from pyiceberg.catalog.sql import SqlCatalog

    properties = {}
    if is_object_store(settings.warehouse):
        properties = iceberg_properties(settings)
    else:
        local_path(settings.warehouse).mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        CATALOG_NAME,
        uri=database_url(settings.catalog_url).render_as_string(hide_password=False),
        warehouse=settings.warehouse,
        init_catalog_tables="true",
        **properties,
    )


def ensure_namespace(catalog: Catalog, namespace: str | tuple[str, ...]) -> None:
    from pyiceberg.exceptions import NamespaceAlreadyExistsError
    from sqlalchemy.exc import IntegrityError

    try:
        catalog.create_namespace(namespace)
    except NamespaceAlreadyExistsError:
        pass
    except IntegrityError:  # the SQL catalog looks, then inserts: a racing run inserted first
        if not catalog.namespace_exists(namespace):
            raise


def load_table_or_none(catalog: Catalog, ref: TableRef) -> Table | None:
    """A tenant's table, or None when it has not been written yet."""
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return catalog.load_table(ref.identifier)
    except NoSuchTableError:
        return None


def replace_table(
    catalog: Catalog, ref: TableRef, data: pa.Table, where: tuple[str, int] | None = None
) -> int:
    """Make `data` the whole content of a tenant's table in one commit (or, given `where`, the
    rows whose column equals the value, others staying); return the snapshot id.

    The table and its namespaces are created on first use; new columns are added to its
    schema, and columns the data lacks stay (as nulls), so earlier snapshots keep their shape.
    """
    from pyiceberg.expressions import AlwaysTrue, BooleanExpression, EqualTo

    for depth in (1, 2):
        ensure_namespace(catalog, ref.namespace[:depth])
    table = load_table_or_none(catalog, ref)
    if table is None:
        table = catalog.create_table(ref.identifier, schema=data.schema)
        table.append(data)
    else:
        with table.update_schema() as update:
            update.union_by_name(data.schema)
        table = catalog.load_table(ref.identifier)
        rows: BooleanExpression = AlwaysTrue()
        if where is not None:
            # mypy's pydantic plugin misreads EqualTo's own __init__(term, literal)
            rows = cast(Any, EqualTo)(where[0], where[1])
        table.overwrite(data, overwrite_filter=rows)
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot is not None else 0


def drop_table(catalog: Catalog, ref: TableRef) -> bool:
    """Drop a tenant's table with its data files; False when there was none."""
    from pyiceberg.exceptions import NoSuchTableError

    try:
        catalog.purge_table(ref.identifier)
    except NoSuchTableError:
        return False
    return True
