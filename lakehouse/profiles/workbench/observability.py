"""What a workbench deployment served: its calls as logged (filtered, paged), hourly
statistics of their count, errors and latency, and the schema a caller sends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lakehouse.errors import InvalidInputError
from lakehouse.profiles.workbench.accounts import iso
from lakehouse.states import WorkState
from lakehouse.store.models import Prediction, utcnow
from lakehouse.store.workbench import WorkbenchDeployment

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

RANGES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24)}
RANGES["7d"] = timedelta(days=7)
STATUSES = {"success": WorkState.COMPLETED, "error": WorkState.FAILED}
MAX_LOGS = 500


def log_document(row: Prediction, deployment: WorkbenchDeployment) -> dict[str, Any]:
    success = row.status == WorkState.COMPLETED
    return {
        "id": row.id,
        "deploymentId": deployment.id,
        "modelId": deployment.model_id,
        "projectId": deployment.project_id,
        "createdAt": iso(row.created_at),
        "latencyMs": row.latency_ms,
        "inputFeatures": row.input_data,
        "prediction": (row.output or {}).get("prediction") if success else None,
        "status": "success" if success else "error",
        "errorMessage": row.error,
        "feedback": None,
        "metadata": {"modelVersion": row.model_version, "caller": row.created_by},
    }


def deployment_logs(
    session: Session,
    deployment: WorkbenchDeployment,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The deployment's calls, newest first, with the total the filters leave."""
    if status is not None and status not in STATUSES:
        raise InvalidInputError(f"status must be success or error, not '{status}'", field="status")
    conditions = [Prediction.deployment_id == deployment.id]
    if status is not None:
        conditions.append(Prediction.status == STATUSES[status])
    if start is not None:
        conditions.append(Prediction.created_at >= start)
    if end is not None:
        conditions.append(Prediction.created_at <= end)
    total = session.scalar(select(func.count()).select_from(Prediction).where(*conditions))
    rows = session.scalars(
        select(Prediction)
        .where(*conditions)
        .order_by(Prediction.created_at.desc(), Prediction.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return {"logs": [log_document(row, deployment) for row in rows], "total": total or 0}


def hourly_stats(
    session: Session, deployment: WorkbenchDeployment, range_name: str
) -> dict[str, Any]:
    """Per hour of the range: requests, errors, average and p50/p95/p99 latency."""
    import numpy as np

    if range_name not in RANGES:
        raise InvalidInputError(
            f"range must be one of {', '.join(RANGES)}, not '{range_name}'", field="range"
        )
    since = utcnow() - RANGES[range_name]
    rows = session.execute(
        select(Prediction.created_at, Prediction.status, Prediction.latency_ms).where(
            Prediction.deployment_id == deployment.id, Prediction.created_at >= since
        )
    ).all()
    hours: dict[datetime, list[tuple[str, float | None]]] = {}
    for created_at, status, latency in rows:
        hour = created_at.replace(minute=0, second=0, microsecond=0)
        hours.setdefault(hour, []).append((status, latency))
    stats = []
    for hour in sorted(hours):
        calls = hours[hour]
        latencies = np.array([v for _, v in calls if v is not None], dtype=float)
        percentiles: Sequence[float | None] = (
            [float(p) for p in np.percentile(latencies, [50, 95, 99])]
            if len(latencies)
            else [None, None, None]
        )
        stats.append(
            {
                "deploymentId": deployment.id,
                "hourBucket": iso(hour),
                "requestCount": len(calls),
                "errorCount": sum(1 for status, _ in calls if status != WorkState.COMPLETED),
                "latencyAvg": float(latencies.mean()) if len(latencies) else None,
                "latencyP50": percentiles[0],
                "latencyP95": percentiles[1],
                "latencyP99": percentiles[2],
            }
        )
    return {"stats": stats, "range": range_name}


def deployment_schema(
    catalog: Catalog, deployment: WorkbenchDeployment, task: str
) -> dict[str, Any]:
    """What a caller sends and gets: features and their types, a sample request, the class
    labels, the model's metrics, and the ranges and categories its training data had."""
    import pyarrow.compute as pc

    model = deployment.model
    predictor = model.predictor
    rows = catalog.load_table(predictor.tables.features.identifier).scan().to_arrow()
    ranges: dict[str, Any] = {}
    categories: dict[str, Any] = {}
    for name in model.feature_columns:
        if name not in rows.column_names:
            continue
        column = rows.column(name)
        kind = model.feature_types.get(name)
        if kind in ("integer", "float"):
            bounds = pc.min_max(column)
            ranges[name] = {
                "min": bounds["min"].as_py(),
                "max": bounds["max"].as_py(),
                "mean": pc.mean(column).as_py(),
            }
        elif kind in ("string", "boolean"):
            counted = pc.value_counts(column.drop_null()).to_pylist()
            top = sorted(counted, key=lambda item: -item["counts"])[:50]
            categories[name] = [str(item["values"]) for item in top]
    labels = None
    if task == "classification" and model.target_column in rows.column_names:
        values = pc.unique(rows.column(model.target_column).drop_null()).to_pylist()
        labels = sorted(str(v) for v in values)
    return {
        "featureColumns": model.feature_columns,
        "featureTypes": model.feature_types,
        "sampleRequest": model.sample_request,
        "taskType": task,
        "targetColumn": model.target_column,
        "classLabels": labels,
        "metrics": model.metrics,
        "featureRanges": ranges,
        "categoricalValues": categories,
        "modelVersion": deployment.config.get("modelVersion"),
    }
