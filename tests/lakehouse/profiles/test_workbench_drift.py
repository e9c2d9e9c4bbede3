"""Drift of logged calls against training rows, on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lakehouse.profiles.workbench.drift import OTHER, drift_report, psi


def test_the_index_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    assert psi([10, 20, 30], [20, 40, 60]) < 1e-3  # the same shares (smoothed: nearly)
    assert 0 < psi([10, 20, 30], [20, 20, 20]) < psi([10, 20, 30], [60, 0, 0])


def test_calls_as_sent_are_read_like_the_model_reads_them() -> None:
    rng = np.random.default_rng(0)
    baseline = pd.DataFrame({"x": rng.normal(size=2000), "plan": ["a", "b"] * 1000})
    calls: list[dict[str, str | None]] = [
        {"x": str(v), "plan": "a" if i % 2 else "b"} for i, v in enumerate(rng.normal(size=300))
    ]
    calls += [{"x": "not a number", "plan": "c"}, {"plan": None}]
    report = drift_report(baseline, [0, 1] * 1000, calls, [0, 1] * 151, {"x": True, "plan": False})
    x, plan = report["features"]
    assert x["testType"] == "ks" and x["status"] == "green"
    assert sum(x["currentDistribution"].values()) == pytest.approx(1)  # the unreadable left out
    assert plan["testType"] == "chi2" and plan["currentDistribution"][OTHER] == pytest.approx(
        1 / 301
    )
    assert report["overallStatus"] == "green"


def test_too_few_calls_are_no_report() -> None:
    baseline = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    report = drift_report(baseline, [1, 2, 3], [{"x": 1.0}] * 9, [1] * 9, {"x": True})
    assert report["available"] is False and report["reason"] == "insufficient_predictions"
