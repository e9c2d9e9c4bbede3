"""Column statistics computed on typed data."""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa
import pytest

from lakehouse.data.statistics import column_statistics


def test_statistics_per_column() -> None:
    table = pa.table(
        {
            "amount": [1.0, 2.0, 3.0, 4.0, None],
            "plan": ["a", "b", "a", None, "a"],
            "day": [date(2025, 1, d) for d in (1, 2, 3, 4, 5)],
            "_file_id": [1, 1, 1, 1, 1],
        }
    )
    stats = {row["column_name"]: row for row in column_statistics(table).to_pylist()}
    assert set(stats) == {"amount", "plan", "day"}
    amount = stats["amount"]
    assert (amount["count"], amount["nulls"], amount["distinct"]) == (4, 1, 4)
    assert (amount["min"], amount["max"], amount["mean"], amount["median"]) == (
        "1.0",
        "4.0",
        2.5,
        2.5,
    )
    assert amount["q25"] == pytest.approx(1.75) and amount["q75"] == pytest.approx(3.25)
    assert amount["std"] == pytest.approx(1.2909944)
    plan = stats["plan"]
    assert plan["mean"] is None and plan["distinct"] == 2
    assert json.loads(plan["top_values"])[0] == {"value": "a", "count": 3}
    assert (stats["day"]["min"], stats["day"]["max"]) == ("2025-01-01", "2025-01-05")
