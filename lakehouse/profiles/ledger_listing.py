"""Listing the orchestrator profile's collections, filtered by the query string's fields,
compared as typed values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.errors import BadRequestError
from lakehouse.profiles.orchestrator import collection_model
from lakehouse.store.models import LedgerDocument


@dataclass(frozen=True)
class Filter:
    field: str
    value: Any
    in_list: bool  # a JSON field: a list matches when it holds the value, else by equality


def parse_filters(collection: str, query: Mapping[str, str]) -> list[Filter]:
    """Query parameters as typed filters on a collection's fields: `rank=0` is the integer 0,
    `perf=0.8` a number, `null` no value; a list field matches when it holds the value."""
    model = collection_model(collection)
    columns = model.__table__.columns  # type: ignore[attr-defined]
    filters = []
    for field, text in query.items():
        if field not in model.FIELDS:
            raise BadRequestError(
                f"'{field}' is not a field of {collection}; its fields are "
                + ", ".join(model.FIELDS),
                field=field,
            )
        column = columns[field]
        kind = column.type
        if text == "null" and column.nullable:
            filters.append(Filter(field, None, in_list=isinstance(kind, JSON)))
            continue
        try:
            if isinstance(kind, Integer | BigInteger):
                value: Any = int(text)
            elif isinstance(kind, Float):
                value = float(text)
            else:
                value = text
        except ValueError:
            expected = "an integer" if isinstance(kind, Integer | BigInteger) else "a number"
            raise BadRequestError(
                f"{field} must be {expected}, not '{text}'", field=field
            ) from None
        filters.append(Filter(field, value, in_list=isinstance(kind, JSON)))
    return filters


def list_documents(
    session: Session, actor: Principal, collection: str, filters: Sequence[Filter]
) -> list[LedgerDocument]:
    """The tenant's documents of a collection that pass every filter: those on plain fields
    in the query, those on JSON fields as the rows are read."""
    model = collection_model(collection)
    query = select(model).where(model.tenant_id == actor.tenant_id).order_by(model.id)
    for check in filters:
        if not check.in_list:
            column = getattr(model, check.field)
            query = query.where(column.is_(None) if check.value is None else column == check.value)
    rows = session.scalars(query)
    return [row for row in rows if all(_matches(row, f) for f in filters if f.in_list)]


def _matches(row: LedgerDocument, check: Filter) -> bool:
    value = getattr(row, check.field)
    if check.in_list and isinstance(value, list):
        return check.value in value
    return bool(value == check.value)
