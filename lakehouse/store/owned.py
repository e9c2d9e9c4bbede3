"""Rows a tenant owns, looked up for a caller of that tenant: any other tenant's row is not
found, exactly as a row that does not exist, so ids reveal nothing across tenants."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from lakehouse.errors import NotFoundError
from lakehouse.store.models import Base

Row = TypeVar("Row", bound=Base)


def get_owned(
    session: Session,
    model: type[Row],
    key: int | str,
    tenant_id: str,
    what: str,
    field: str,
    message: str | None = None,
) -> Row:
    """The `model` row with primary key `key` if `tenant_id` owns it; else a 404 naming
    `field`, with `message`, by default "<what> <key> not found"."""
    row = session.get(model, key)
    if row is None or getattr(row, "tenant_id", None) != tenant_id:
        raise NotFoundError(message or f"{what} {key} not found", field=field)
    return row
