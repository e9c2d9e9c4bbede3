"""Tuning with Optuna over the declared hyperparameters: the search space, refused requests,
and a seeded study that reports every trial."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from lakehouse.errors import InvalidInputError
from lakehouse.ml.hyperparameters import declared
from lakehouse.ml.spec import Algorithm, ProblemType
from lakehouse.ml.tuning import Tuning, search_space, tune


def test_the_search_space_is_the_declared_hyperparameters_within_their_bounds() -> None:
    for (algorithm, problem), parameters in [
        ((a, p), declared(a, p)) for a in Algorithm for p in (ProblemType.CLASSIFICATION,)
    ]:
        space = search_space(algorithm, problem)
        assert {p.key for p in space} == {p.key for p in parameters if p.kind != "int_list"}
        for parameter in space:
            if parameter.kind == "select":
                continue
            low, high = parameter.search_range()
            parameter.check(low if parameter.kind == "float" else int(low))
            parameter.check(high if parameter.kind == "float" else int(high))


@pytest.mark.parametrize(
    ("tuning", "field"),
    [
        (Tuning("rmse", 5), "metric"),
        (Tuning("accuracy", 0), "nTrials"),
        (Tuning("accuracy", 201), "nTrials"),
        (Tuning("accuracy", 5, sampler="grid"), "sampler"),
    ],
)
def test_a_tuning_that_cannot_run_is_refused_naming_the_field(tuning: Tuning, field: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        tuning.check(ProblemType.CLASSIFICATION)
    assert refused.value.field == field


def test_a_seeded_study_reports_each_trial_and_repeats_itself() -> None:
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})
    labels = 3 * features["x"].to_numpy() - features["y"].to_numpy() + rng.normal(size=200)

    def study(sampler: str) -> tuple[Any, list[dict[str, Any]]]:
        heard: list[dict[str, Any]] = []
        space = search_space(Algorithm.LINEAR, ProblemType.REGRESSION)
        tuned = tune(
            Algorithm.LINEAR,
            ProblemType.REGRESSION,
            features,
            labels,
            None,
            Tuning("rmse", 5, sampler),
            {},
            space,
            heard.append,
        )
        return tuned, heard

    tuned, heard = study("tpe")
    assert [e["trial_number"] for e in heard] == [0, 1, 2, 3, 4]
    assert all(0 <= e["params"]["alpha"] <= 100 for e in heard)
    # rmse: smaller is better, and the best is the smallest trial's
    assert tuned.best_value == min(e["value"] for e in heard) and tuned.best_value < 1.5
    assert heard[-1]["best_params"] == tuned.best_params
    again, _ = study("tpe")
    assert again.best_params == tuned.best_params
    other, _ = study("random")
    assert len(other.trials) == 5
