"""Template column checking: type spellings, typed defaults and rules."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from lakehouse.data.templates import (
    ColumnInput,
    ColumnType,
    check_columns,
    column_type,
    parse_value,
)
from lakehouse.errors import InvalidInputError


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("String", ColumnType.STRING),
        ("varchar", ColumnType.STRING),
        ("INT", ColumnType.INTEGER),
        ("bigint", ColumnType.INTEGER),
        ("Double", ColumnType.FLOAT),
        ("decimal", ColumnType.FLOAT),
        ("bool", ColumnType.BOOLEAN),
        (" date ", ColumnType.DATE),
        ("Timestamp", ColumnType.DATETIME),
        ("datetime", ColumnType.DATETIME),
    ],
)
def test_common_spellings_are_accepted(spelling: str, expected: ColumnType) -> None:
    assert column_type(spelling) is expected


def test_unknown_type_lists_the_expected_ones() -> None:
    with pytest.raises(
        ValueError, match="expected one of String, Integer, Float, Boolean, Date, DateTime"
    ):
        column_type("blob")


def test_values_parse_by_type() -> None:
    assert parse_value(ColumnType.INTEGER, " 42 ") == 42
    assert parse_value(ColumnType.FLOAT, "1e3") == 1000.0
    assert parse_value(ColumnType.BOOLEAN, "Yes") is True
    assert parse_value(ColumnType.BOOLEAN, "0") is False
    assert parse_value(ColumnType.DATE, "2025-09-18") == date(2025, 9, 18)
    assert parse_value(ColumnType.DATETIME, "2025-09-18T10:00:00") == datetime(2025, 9, 18, 10)
    for kind, text in [
        (ColumnType.INTEGER, "4.5"),
        (ColumnType.BOOLEAN, "maybe"),
        (ColumnType.DATE, "18/09/2025"),
    ]:
        with pytest.raises(ValueError, match=text.replace(".", r"\.")):
            parse_value(kind, text)


def test_columns_are_checked_and_canonicalised() -> None:
    [spec] = check_columns(
        [ColumnInput("Age", "int", default_value="0", min_value="0", max_value="130")]
    )
    assert spec.data_type is ColumnType.INTEGER
    assert spec.as_dict()["data_type"] == "Integer"


@pytest.mark.parametrize(
    ("column", "field", "message"),
    [
        (
            ColumnInput("Age", "int", default_value="old"),
            "template_schema[0].default_value",
            "must be a Integer",
        ),
        (ColumnInput("Age", "blob"), "template_schema[0].data_type", "data type 'blob'"),
        (
            ColumnInput("Age", "int", min_value="9", max_value="1"),
            "template_schema[0].min_value",
            "greater than",
        ),
        (
            ColumnInput("Name", "string", min_value="a"),
            "template_schema[0].min_value",
            "does not apply",
        ),
        (
            ColumnInput("Name", "string", regex="("),
            "template_schema[0].regex",
            "not a valid regular",
        ),
        (
            ColumnInput("Age", "int", regex="\\d+"),
            "template_schema[0].regex",
            "String columns only",
        ),
        (
            ColumnInput("Plan", "int", allowed_values=["a"]),
            "template_schema[0].allowed_values",
            "Integer values",
        ),
        (ColumnInput(" ", "int"), "template_schema[0].column_name", "printable"),
    ],
)
def test_bad_columns_name_the_field(column: ColumnInput, field: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as raised:
        check_columns([column])
    assert raised.value.field == field


def test_duplicate_column_names_are_refused_case_insensitively() -> None:
    with pytest.raises(InvalidInputError, match="appears twice") as raised:
        check_columns([ColumnInput("id", "int"), ColumnInput("ID", "string")])
    assert raised.value.field == "template_schema[1].column_name"
