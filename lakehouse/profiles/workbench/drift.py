"""Drift of what a deployment is sent against what its model learned from: per feature the
population stability index on the training data's bins (green below 0.1, yellow below 0.25,
else red), a Kolmogorov-Smirnov test against the training sample for numbers and a chi-squared
test for categories; and the same for the predictions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

LATEST_CALLS = 500
MIN_CALLS = 10
BINS = 10
TOP_CATEGORIES = 20
BASELINE_ROWS = 10_000
SMOOTHING = 0.5  # counts added to every bin before the index compares shares
OTHER = "(other)"


def status_of(psi: float) -> str:
    return "green" if psi < 0.1 else "yellow" if psi < 0.25 else "red"


def psi(expected: Sequence[int], actual: Sequence[int]) -> float:
    """The population stability index of two samples' counts over the same bins. Each bin
    gets half a count more on both sides, so a bin a small sample happens to leave empty
    does not weigh as if it could never be filled."""
    e_total = sum(expected) + SMOOTHING * len(expected)
    a_total = sum(actual) + SMOOTHING * len(actual)
    total = 0.0
    for e_count, a_count in zip(expected, actual, strict=True):
        e, a = (e_count + SMOOTHING) / e_total, (a_count + SMOOTHING) / a_total
        total += (a - e) * math.log(a / e)
    return total


def numeric_drift(name: str, baseline: Any, current: Any) -> dict[str, Any]:
    """PSI on the baseline's decile bins, and a KS test of the two samples."""
    import numpy as np
    from scipy import stats

    baseline = np.asarray(baseline, dtype=float)
    current = np.asarray(current, dtype=float)
    baseline, current = baseline[np.isfinite(baseline)], current[np.isfinite(current)]
    edges = np.unique(np.quantile(baseline, np.linspace(0, 1, BINS + 1)))
    inner = edges[1:-1]  # outer bins reach to any value, seen in training or not
    expected = np.bincount(np.searchsorted(inner, baseline, side="right"), minlength=len(edges) - 1)
    actual = np.bincount(np.searchsorted(inner, current, side="right"), minlength=len(edges) - 1)
    expected_share = expected / max(expected.sum(), 1)
    actual_share = actual / max(actual.sum(), 1)
    index = psi(expected.tolist(), actual.tolist())
    test = stats.ks_2samp(baseline, current)
    labels = [f"<= {edge:.6g}" for edge in inner] + [f"> {inner[-1]:.6g}" if len(inner) else "all"]
    return {
        "feature": name,
        "type": "numeric",
        "psi": float(index),
        "status": status_of(index),
        "testStatistic": float(test.statistic),
        "pValue": float(test.pvalue),
        "testType": "ks",
        "baselineDistribution": dict(zip(labels, map(float, expected_share), strict=True)),
        "currentDistribution": dict(zip(labels, map(float, actual_share), strict=True)),
    }


def categorical_drift(name: str, baseline: Sequence[Any], current: Sequence[Any]) -> dict[str, Any]:
    """PSI over the baseline's most common categories (the rest as one), and a chi-squared
    test of the two samples' counts."""
    from collections import Counter

    from scipy import stats

    counted = Counter(str(v) for v in baseline if v is not None)
    kept = [category for category, _ in counted.most_common(TOP_CATEGORIES)]
    categories = [*kept, OTHER]

    def shares(values: Sequence[Any]) -> list[int]:
        found = Counter(str(v) if str(v) in kept else OTHER for v in values if v is not None)
        return [found.get(category, 0) for category in categories]

    expected, actual = shares(baseline), shares(current)
    expected_share = [n / max(sum(expected), 1) for n in expected]
    actual_share = [n / max(sum(actual), 1) for n in actual]
    index = psi(expected, actual)
    observed = [[e, a] for e, a in zip(expected, actual, strict=True) if e + a > 0]
    statistic, p_value = 0.0, 1.0
    if len(observed) > 1:
        result = stats.chi2_contingency(observed)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return {
        "feature": name,
        "type": "categorical",
        "psi": float(index),
        "status": status_of(index),
        "testStatistic": statistic,
        "pValue": p_value,
        "testType": "chi2",
        "baselineDistribution": dict(zip(categories, expected_share, strict=True)),
        "currentDistribution": dict(zip(categories, actual_share, strict=True)),
    }


def column_drift(name: str, numeric: bool, baseline: Any, current: Any) -> dict[str, Any]:
    if numeric:
        return numeric_drift(name, baseline, current)
    return categorical_drift(name, list(baseline), list(current))


def drift_report(
    baseline: pd.DataFrame,
    baseline_predictions: Sequence[Any],
    calls: Sequence[dict[str, Any]],
    predictions: Sequence[Any],
    numeric: dict[str, bool],
) -> dict[str, Any]:
    """The DriftReport of the latest calls (their inputs and predictions) against the
    training rows and the model's predictions of them."""
    now = datetime.now(UTC).isoformat()
    if len(calls) < MIN_CALLS:
        return {
            "available": False,
            "reason": "insufficient_predictions",
            "timestamp": now,
            "overallStatus": None,
            "features": [],
            "required": MIN_CALLS,
            "found": len(calls),
        }
    import pandas as pd

    features = []
    for name, is_number in numeric.items():
        current: Any = [call.get(name) for call in calls]
        if is_number:  # as sent: numbers, or text the model read as numbers, or blanks
            current = pd.to_numeric(pd.Series(current, dtype=object), errors="coerce")
        features.append(column_drift(name, is_number, baseline[name].to_numpy(), current))
    numbers = all(isinstance(p, int | float) and not isinstance(p, bool) for p in predictions)
    prediction_drift = column_drift(
        "prediction",
        numbers and len(set(baseline_predictions)) > TOP_CATEGORIES,
        baseline_predictions,
        predictions,
    )
    rank = {"green": 0, "yellow": 1, "red": 2}
    worst = max(
        [f["status"] for f in features] + [prediction_drift["status"]], key=rank.__getitem__
    )
    return {
        "available": True,
        "timestamp": now,
        "overallStatus": worst,
        "features": features,
        "predictionDrift": prediction_drift,
        "calls": len(calls),
        "baselineRows": len(baseline),
    }
