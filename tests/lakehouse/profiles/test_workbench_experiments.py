"""The workbench's comparisons and filter phrases, on their own."""

from __future__ import annotations

import pytest
from scipy import stats

from lakehouse.errors import InvalidInputError
from lakehouse.profiles.workbench.experiments import Compared, comparison, parse_filter


def compared(name: str, task: str, accuracy: float, scores: list[float] | None) -> Compared:
    evaluation = None
    if scores is not None:
        evaluation = {"cross_validation": {"scores": scores, "scoring": "accuracy"}}
    return Compared(name, name, "t", task, {"accuracy": accuracy, "f1": accuracy - 0.1}, evaluation)


def test_two_models_get_deltas_and_a_welch_t_test() -> None:
    first, second = [0.9, 0.92, 0.91, 0.93, 0.9], [0.8, 0.82, 0.79, 0.81, 0.83]
    result = comparison(
        [compared("a", "classification", 0.9, first), compared("b", "classification", 0.8, second)]
    )
    deltas = {d["metric"]: d for d in result["deltas"]}
    assert deltas["accuracy"]["values"] == [0.9, 0.8]
    assert deltas["accuracy"]["delta"] == pytest.approx(0.1)
    expected = stats.ttest_ind(first, second, equal_var=False)
    assert deltas["cv_accuracy"]["pValue"] == pytest.approx(expected.pvalue)
    assert deltas["cv_accuracy"]["significant"] is True


def test_three_models_or_a_missing_evaluation_get_no_p_value() -> None:
    three = comparison([compared(n, "classification", 0.8, [0.8, 0.81]) for n in ("a", "b", "c")])
    assert all("pValue" not in d for d in three["deltas"])
    pending = comparison(
        [compared("a", "classification", 0.9, None), compared("b", "classification", 0.8, [0.8])]
    )
    assert [d["metric"] for d in pending["deltas"]] == ["accuracy", "f1"]


def test_models_of_different_tasks_are_not_compared() -> None:
    with pytest.raises(InvalidInputError, match="different tasks"):
        comparison(
            [compared("a", "classification", 0.9, None), compared("b", "regression", 1, None)]
        )


@pytest.mark.parametrize(
    ("phrase", "predicates"),
    [
        ("accuracy above 90%", [{"field": "accuracy", "operator": "gt", "value": 0.9}]),
        (
            "models with f1 score of at least 0.8",
            [{"field": "f1", "operator": "gte", "value": 0.8}],
        ),
        (
            "r2 >= 0.5 and rmse below 3",
            [
                {"field": "r2", "operator": "gte", "value": 0.5},
                {"field": "rmse", "operator": "lt", "value": 3.0},
            ],
        ),
        ("name contains 'forest'", [{"field": "name", "operator": "contains", "value": "forest"}]),
        (
            "template is knn_classifier",
            [{"field": "templateId", "operator": "eq", "value": "knn_classifier"}],
        ),
        ("accuracy above good", []),
        ("the best ones please", []),
        ("", []),
    ],
)
def test_simple_phrases_read_as_predicates(
    phrase: str, predicates: list[dict[str, object]]
) -> None:
    assert parse_filter(phrase) == predicates
