"""Column templates: typed column lists that uploaded files are validated against."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.errors import ConflictError, InvalidInputError
from lakehouse.store.models import Dataset, Template, utcnow
from lakehouse.store.owned import get_owned


class ColumnType(StrEnum):
    STRING = "String"
    INTEGER = "Integer"
    FLOAT = "Float"
    BOOLEAN = "Boolean"
    DATE = "Date"
    DATETIME = "DateTime"


_SPELLINGS: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.STRING: ("string", "str", "text", "varchar", "char", "utf8"),
    ColumnType.INTEGER: ("integer", "int", "int32", "int64", "bigint", "smallint", "long"),
    ColumnType.FLOAT: (
        "float",
        "double",
        "float64",
        "float32",
        "decimal",
        "numeric",
        "number",
        "real",
    ),
    ColumnType.BOOLEAN: ("boolean", "bool"),
    ColumnType.DATE: ("date",),
    ColumnType.DATETIME: ("datetime", "timestamp", "timestamptz", "datetime64"),
}
ALIASES: dict[str, ColumnType] = {
    spelling: kind for kind, spellings in _SPELLINGS.items() for spelling in spellings
}
# What a typed column's field says when it holds no value, unless a template lists its own.
NULL_MARKERS = (
    *("NA", "N/A", "#N/A", "NULL", "NaN", "None"),
    *("na", "n/a", "null", "nan", "none", "Null", "NAN", "NONE"),
)
MAX_NULL_MARKERS = 50
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
MAX_COLUMNS = 2000
MAX_COLUMN_NAME = 128


def column_type(spelling: str) -> ColumnType:
    """The column type a user spelled, case-insensitively (int, double, timestamp...)."""
    kind = ALIASES.get(spelling.strip().lower())
    if kind is None:
        known = ", ".join(t.value for t in ColumnType)
        raise ValueError(
            f"unknown data type '{spelling}'; expected one of {known} or a common alias"
        )
    return kind


def parse_value(kind: ColumnType, text: str) -> Any:
    """`text` as a value of `kind`; ValueError saying what was expected when it is not one."""
    value = text.strip()
    if kind is ColumnType.STRING:
        return text
    if kind is ColumnType.INTEGER:
        if not re.fullmatch(r"[+-]?\d+", value):
            raise ValueError(f"'{text}' is not an integer")
        return int(value)
    if kind is ColumnType.FLOAT:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
    if kind is ColumnType.BOOLEAN:
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise ValueError(f"'{text}' is not a boolean (true/false, yes/no, 1/0)")
    if kind is ColumnType.DATE:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"'{text}' is not a date (YYYY-MM-DD)") from None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{text}' is not a date-time (ISO 8601)") from None


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a template, with the optional rules its values must follow."""

    column_name: str
    data_type: ColumnType
    default_value: str | None = None
    required: bool = False
    allowed_values: tuple[str, ...] | None = None
    min_value: str | None = None
    max_value: str | None = None
    regex: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "column_name": self.column_name,
            "data_type": self.data_type.value,
            "default_value": self.default_value,
            "required": self.required,
            "allowed_values": list(self.allowed_values)
            if self.allowed_values is not None
            else None,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "regex": self.regex,
        }


@dataclass(frozen=True)
class ColumnInput:
    """A column as a client sent it, before checking."""

    column_name: str
    data_type: str
    default_value: str | None = None
    required: bool = False
    allowed_values: list[str] | None = None
    min_value: str | None = None
    max_value: str | None = None
    regex: str | None = None


def check_columns(columns: Sequence[ColumnInput]) -> list[ColumnSpec]:
    """Checked column specs; InvalidInputError names the column and what was expected."""
    if len(columns) > MAX_COLUMNS:
        raise InvalidInputError(
            f"a template has at most {MAX_COLUMNS} columns", field="template_schema"
        )
    seen: set[str] = set()
    specs = []
    for index, column in enumerate(columns):
        where = f"template_schema[{index}]"
        name = column.column_name.strip()
        if not name or len(name) > MAX_COLUMN_NAME or any(ord(c) < 32 for c in name):
            raise InvalidInputError(
                f"{where}.column_name must be 1 to {MAX_COLUMN_NAME} printable characters",
                field=f"{where}.column_name",
            )
        if name.lower() in seen:
            raise InvalidInputError(
                f"column '{name}' appears twice (names are compared case-insensitively)",
                field=f"{where}.column_name",
            )
        seen.add(name.lower())
        specs.append(_check_column(name, column, where))
    return specs


def _check_column(name: str, column: ColumnInput, where: str) -> ColumnSpec:
    def fail(part: str, problem: str) -> InvalidInputError:
        return InvalidInputError(f"column '{name}': {part} {problem}", field=f"{where}.{part}")

    try:
        kind = column_type(column.data_type)
    except ValueError as exc:
        raise fail("data_type", str(exc).removeprefix("unknown ")) from None
    for part in ("default_value", "min_value", "max_value"):
        text = getattr(column, part)
        if text is None:
            continue
        try:
            parse_value(kind, text)
        except ValueError as exc:
            raise fail(part, f"must be a {kind.value}: {exc}") from None
    if kind in (ColumnType.STRING, ColumnType.BOOLEAN) and (
        column.min_value is not None or column.max_value is not None
    ):
        raise fail("min_value", f"does not apply to a {kind.value} column")
    if (
        column.min_value is not None
        and column.max_value is not None
        and parse_value(kind, column.min_value) > parse_value(kind, column.max_value)
    ):
        raise fail("min_value", "is greater than max_value")
    allowed = None
    if column.allowed_values is not None:
        if not column.allowed_values:
            raise fail("allowed_values", "must list at least one value")
        for value in column.allowed_values:
            try:
                parse_value(kind, value)
            except ValueError as exc:
                raise fail("allowed_values", f"must hold {kind.value} values: {exc}") from None
        allowed = tuple(column.allowed_values)
    if column.regex is not None:
        if kind is not ColumnType.STRING:
            raise fail("regex", "applies to String columns only")
        try:
            re.compile(column.regex)
        except re.error as exc:
            raise fail("regex", f"is not a valid regular expression: {exc}") from None
    return ColumnSpec(
        column_name=name,
        data_type=kind,
        default_value=column.default_value,
        required=column.required,
        allowed_values=allowed,
        min_value=column.min_value,
        max_value=column.max_value,
        regex=column.regex,
    )


@dataclass(frozen=True)
class TemplateInput:
    template_name: str
    columns: list[ColumnInput] = field(default_factory=list)
    null_markers: list[str] | None = None
    """Fields meaning "no value" in every column; default NULL_MARKERS in typed columns."""
    min_usability: float | None = None
    """Share of rows that must pass for a dataset to be valid; default the platform's."""


def check_null_markers(markers: Sequence[str] | None) -> list[str] | None:
    if markers is None:
        return None
    if len(markers) > MAX_NULL_MARKERS:
        raise InvalidInputError(
            f"null_markers lists at most {MAX_NULL_MARKERS} markers", field="null_markers"
        )
    checked = []
    for index, marker in enumerate(markers):
        if not marker.strip() or len(marker) > 64:
            raise InvalidInputError(
                f"null_markers[{index}] must be 1 to 64 characters, not only spaces "
                "(blank fields are missing values anyway)",
                field=f"null_markers[{index}]",
            )
        checked.append(marker.strip())
    return checked


def check_min_usability(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise InvalidInputError(
            f"min_usability is a share of rows from 0 to 1, not {value}", field="min_usability"
        )
    return value


def _apply(template: Template, new: TemplateInput, specs: list[ColumnSpec]) -> None:
    template.template_name = new.template_name
    template.template_schema = [spec.as_dict() for spec in specs]
    template.null_markers = check_null_markers(new.null_markers)
    template.min_usability = check_min_usability(new.min_usability)


def _name_taken(session: Session, tenant_id: str, name: str, other_than: int | None = None) -> bool:
    query = select(Template.id).where(
        Template.tenant_id == tenant_id, Template.template_name == name
    )
    if other_than is not None:
        query = query.where(Template.id != other_than)
    return session.scalar(query) is not None


def _name_conflict(name: str) -> ConflictError:
    return ConflictError(f"template '{name}' already exists", field="template_name")


def create_template(session: Session, actor: Principal, new: TemplateInput) -> Template:
    specs = check_columns(new.columns)
    if _name_taken(session, actor.tenant_id, new.template_name):
        raise _name_conflict(new.template_name)
    template = Template(
        tenant_id=actor.tenant_id, created_by=actor.username, modified_by=actor.username
    )
    _apply(template, new, specs)
    session.add(template)
    session.flush()
    return template


def list_templates(session: Session, actor: Principal) -> Sequence[Template]:
    query = select(Template).where(Template.tenant_id == actor.tenant_id).order_by(Template.id)
    return session.scalars(query).all()


def get_template(session: Session, actor: Principal, template_id: int) -> Template:
    """A template of the caller's tenant; any other template is not found."""
    return get_owned(session, Template, template_id, actor.tenant_id, "template", "template_id")


def update_template(
    session: Session, actor: Principal, template_id: int, change: TemplateInput
) -> Template:
    template = get_template(session, actor, template_id)
    specs = check_columns(change.columns)
    if _name_taken(session, actor.tenant_id, change.template_name, other_than=template.id):
        raise ConflictError(
            f"template '{change.template_name}' already exists", field="template_name"
        )
    _apply(template, change, specs)
    template.modified_by = actor.username
    template.modified_at = utcnow()
    session.flush()
    return template


def delete_template(session: Session, actor: Principal, template_id: int) -> None:
    """Delete a template no dataset uses."""
    template = get_template(session, actor, template_id)
    user = session.scalar(select(Dataset.dataset_name).where(Dataset.template_id == template.id))
    if user is not None:
        raise ConflictError(
            f"template {template_id} is used by dataset '{user}'", field="template_id"
        )
    session.delete(template)
    session.flush()


def column_specs(template: Template) -> list[ColumnSpec]:
    """The stored columns of a template as specs."""
    return check_columns([ColumnInput(**column) for column in template.template_schema])


def null_markers(template: Template | None) -> tuple[str, ...] | None:
    """The template's own null markers; None means the defaults, in typed columns only."""
    if template is None or template.null_markers is None:
        return None
    return tuple(template.null_markers)


def valid_usability(template: Template | None, platform_default: float) -> float:
    """The share of rows that must pass for a dataset of this template to be valid."""
    if template is None or template.min_usability is None:
        return platform_default
    return template.min_usability
