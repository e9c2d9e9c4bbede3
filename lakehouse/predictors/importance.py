"""A predictor's feature importance: mean |SHAP| per feature in its gold table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lakehouse.lake.catalog import drop_table, load_table_or_none, replace_table
from lakehouse.store.models import Predictor

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


def store_feature_importance(
    catalog: Catalog, predictor: Predictor, importance: dict[str, float]
) -> int:
    """Mean |SHAP| per feature as `gold.<predictor>__shap`, largest first; whether computed
    by the SHAP asset or posted by a compute engine. Returns the snapshot id."""
    import pyarrow as pa

    ranked = sorted(importance.items(), key=lambda item: -item[1])
    return replace_table(
        catalog,
        predictor.tables.shap,
        pa.table(
            {
                "feature": pa.array([name for name, _ in ranked], pa.string()),
                "mean_abs_shap": pa.array([float(value) for _, value in ranked], pa.float64()),
                "rank": pa.array(range(1, len(ranked) + 1), pa.int64()),
                "model_version": pa.array([predictor.model_version] * len(ranked), pa.int64()),
                "computed_at": pa.array(
                    [datetime.now(UTC)] * len(ranked), pa.timestamp("us", tz="UTC")
                ),
            }
        ),
    )


def read_feature_importance(catalog: Catalog, predictor: Predictor) -> dict[str, float]:
    table = load_table_or_none(catalog, predictor.tables.shap)
    if table is None:
        return {}
    rows = table.scan().to_arrow()
    ordered = sorted(rows.to_pylist(), key=lambda row: row["rank"])
    return {row["feature"]: row["mean_abs_shap"] for row in ordered}


def delete_feature_importance(catalog: Catalog, predictor: Predictor) -> bool:
    return drop_table(catalog, predictor.tables.shap)
