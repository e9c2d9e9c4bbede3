"""What every body shares: the base model (no NUL in text, strict booleans), ids, and the plain
messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, get_args

from litestar.params import Parameter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

NAME_PATTERN = r"^[A-Za-z0-9_.:@-]+$"


MAX_ID = 2**31 - 1  # the metadata store's integer keys are 32-bit on PostgreSQL


RowId = Annotated[int, Field(ge=1, le=MAX_ID)]


PathId = Annotated[int, Parameter(ge=1, le=MAX_ID)]


QueryId = Annotated[int, Parameter(ge=1, le=MAX_ID)]


NO_NUL = "^[^\\x00]*$"


def _document_no_nul(schema: dict[str, Any]) -> None:
    """Say in the JSON schema what `Schema` enforces: no string holds a NUL character."""
    if schema.get("type") == "string" and "pattern" not in schema and "format" not in schema:
        schema["pattern"] = NO_NUL
    for key in ("properties", "$defs"):
        for nested in schema.get(key, {}).values():
            _document_no_nul(nested)
    for key in ("anyOf", "oneOf", "allOf"):
        for nested in schema.get(key, []):
            _document_no_nul(nested)
    if isinstance(schema.get("items"), dict):
        _document_no_nul(schema["items"])


def _holds_nul(value: Any) -> bool:
    """A NUL in a text field or a list of texts (what `_document_no_nul` describes); free-form
    objects (feature rows) are checked where they are used."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(isinstance(item, str) and "\x00" in item for item in value)
    return False


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(arg) for arg in get_args(annotation))


class Schema(BaseModel):
    """A body of the API: unknown fields refused, no NUL characters in text, booleans neither
    passed off as numbers nor spelled as text, and datetimes answered with their offset (UTC)."""

    model_config = ConfigDict(
        from_attributes=True, extra="forbid", json_schema_extra=_document_no_nul
    )

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_only_as_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None or value is None:
            return value
        if isinstance(value, bool) and not _admits_bool(field.annotation):
            raise ValueError("must not be a boolean")
        if field.annotation in (bool, bool | None) and not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text_aware_datetimes(cls, value: Any, info: ValidationInfo) -> Any:
        if _holds_nul(value):
            raise ValueError("must not contain NUL characters")
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # the stores keep UTC; SQLite drops the offset
        return value


class Message(Schema):
    status: int | str
    message: str


class StatusMessage(Schema):
    status_code: int
    message: str
