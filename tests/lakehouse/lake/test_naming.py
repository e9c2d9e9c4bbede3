"""Table names derived from user text, and the tenant namespace they live in."""

from __future__ import annotations

import re

import pytest

from lakehouse.errors import InvalidInputError
from lakehouse.lake.naming import Layer, TableRef, table_name_from, tenant_namespace


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("forecast-p11", "forecast_p11"),
        ("Telecom Customer Usage", "telecom_customer_usage"),
        ("Zoë's Données 2025", "zoe_s_donnees_2025"),
        ("2025 sales", "t_2025_sales"),
        ("a" * 100, "a" * 64),
        ("../../etc/passwd", "etc_passwd"),
    ],
)
def test_table_names_are_safe_identifiers(text: str, expected: str) -> None:
    assert table_name_from(text) == expected


def test_text_without_letters_or_digits_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="no usable table name") as raised:
        table_name_from("---", field="dataset_name")
    assert raised.value.field == "dataset_name"


def test_tenants_get_separate_namespaces() -> None:
    first = TableRef("eb128f85-c955-4f2f-b109-0afa1aed409c", Layer.SILVER, "sales")
    second = TableRef("0b128f85-c955-4f2f-b109-0afa1aed409c", Layer.SILVER, "sales")
    assert first.display_name == second.display_name == "silver.sales"
    assert first.identifier == ("t_eb128f85c9554f2fb1090afa1aed409c", "silver", "sales")
    assert first.identifier != second.identifier
    assert re.fullmatch(r"t_[0-9a-f]*", tenant_namespace("x'; drop table --"))
