"""Per-column statistics of a table: counts, nulls, distinct values, range, moments, top values."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

TOP_VALUES = 5


def column_statistics(table: pa.Table) -> pa.Table:
    """One row per column of `table` (bookkeeping columns starting with `_` left out)."""
    import polars as pl

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    rows: list[dict[str, Any]] = []
    for name in frame.columns:
        if name.startswith("_"):
            continue
        column = frame[name]
        values = column.drop_nulls().alias("value")  # a column may be named "count"
        numeric = column.dtype.is_numeric()
        top = values.value_counts(sort=True).head(TOP_VALUES)
        row: dict[str, Any] = {
            "column_name": name,
            "data_type": str(column.dtype),
            "count": len(values),
            "nulls": column.null_count(),
            "distinct": values.n_unique(),
            "min": None if values.is_empty() else str(values.min()),
            "max": None if values.is_empty() else str(values.max()),
            "mean": None,
            "std": None,
            "q25": None,
            "median": None,
            "q75": None,
            "top_values": json.dumps(
                [{"value": str(v), "count": int(c)} for v, c in top.iter_rows()], ensure_ascii=False
            ),
        }
        if numeric and not values.is_empty():
            as_float = values.cast(pl.Float64)
            row.update(
                mean=as_float.mean(),
                std=as_float.std(),
                q25=as_float.quantile(0.25, "linear"),
                median=as_float.median(),
                q75=as_float.quantile(0.75, "linear"),
            )
        rows.append(row)
    schema = {
        "column_name": pl.String,
        "data_type": pl.String,
        "count": pl.Int64,
        "nulls": pl.Int64,
        "distinct": pl.Int64,
        "min": pl.String,
        "max": pl.String,
        "mean": pl.Float64,
        "std": pl.Float64,
        "q25": pl.Float64,
        "median": pl.Float64,
        "q75": pl.Float64,
        "top_values": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).to_arrow()
