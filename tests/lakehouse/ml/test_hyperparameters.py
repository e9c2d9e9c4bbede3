"""Hyperparameters are declared once per algorithm: what a client sets is checked against the
declaration, the estimator gets it, and templates and tunings read the same bounds."""

from __future__ import annotations

import pytest

from lakehouse.errors import InvalidInputError
from lakehouse.ml.algorithms import estimator
from lakehouse.ml.hyperparameters import HYPERPARAMETERS, checked_hyperparameters, declared
from lakehouse.ml.spec import Algorithm, ProblemType

CLASSIFY, REGRESS = ProblemType.CLASSIFICATION, ProblemType.REGRESSION


def test_checked_values_reach_the_estimator_and_defaults_fill_the_rest() -> None:
    chosen = checked_hyperparameters(
        Algorithm.RANDOM_FOREST, CLASSIFY, {"n_estimators": 50.0, "max_depth": None}
    )
    assert chosen == {"n_estimators": 50, "max_depth": None}
    forest = estimator(Algorithm.RANDOM_FOREST, CLASSIFY, 7, chosen)
    assert (forest.n_estimators, forest.max_depth, forest.min_samples_split) == (50, None, 2)
    knn = estimator(Algorithm.KNN, CLASSIFY, 7, {"n_neighbors": 9, "weights": "distance"})
    assert (knn.n_neighbors, knn.weights) == (9, "distance")
    boosted = estimator(Algorithm.GRADIENT_BOOSTING, REGRESS, 7, {"learning_rate": 0.2})
    assert (boosted.learning_rate, boosted.n_estimators, boosted.max_depth) == (0.2, 100, 3)
    assert type(estimator(Algorithm.LINEAR, REGRESS, 7, {"alpha": 0.0})).__name__ == (
        "LinearRegression"
    )
    assert estimator(Algorithm.LINEAR, REGRESS, 7, {"alpha": 2.5}).alpha == 2.5
    assert estimator(Algorithm.LINEAR, CLASSIFY, 7, {"C": 0.5}).C == 0.5
    mlp = estimator(Algorithm.MLP, CLASSIFY, 7, {"hidden_layers": [8]})
    assert (mlp.hidden_layer_sizes, mlp.max_iter) == ((8,), 500)


@pytest.mark.parametrize(
    ("algorithm", "problem", "given", "field", "message"),
    [
        (Algorithm.XGBOOST, CLASSIFY, {"depth": 3}, "depth", "unknown hyperparameter 'depth'"),
        (Algorithm.XGBOOST, CLASSIFY, {"max_depth": 0}, "max_depth", "from 1 to 16, not 0"),
        (Algorithm.XGBOOST, CLASSIFY, {"max_depth": 2.5}, "max_depth", "a whole number"),
        (Algorithm.XGBOOST, CLASSIFY, {"max_depth": True}, "max_depth", "a whole number"),
        (Algorithm.LIGHTGBM, REGRESS, {"learning_rate": 0}, "learning_rate", "above 0 to 1"),
        (Algorithm.KNN, CLASSIFY, {"weights": "x"}, "weights", "one of uniform, distance"),
        (Algorithm.LINEAR, CLASSIFY, {"alpha": 1}, "alpha", "it takes C, max_iter"),
        (Algorithm.LINEAR, REGRESS, {"alpha": float("nan")}, "alpha", "a number from 0"),
        (Algorithm.MLP, REGRESS, {"hidden_layers": []}, "hidden_layers", "1 to 10 whole numbers"),
        (Algorithm.MLP, REGRESS, {"epochs": 1001}, "epochs", "from 1 to 1000"),
        (Algorithm.AUTO, REGRESS, {"epochs": 5}, "hyperparameters", "need an algorithm"),
    ],
)
def test_values_outside_the_declaration_are_refused_naming_the_key(
    algorithm: Algorithm, problem: ProblemType, given: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        checked_hyperparameters(algorithm, problem, given)
    assert caught.value.field == field


def test_every_declared_default_passes_its_own_check() -> None:
    for (algorithm, problem), parameters in HYPERPARAMETERS.items():
        for parameter in parameters:
            assert parameter.check(parameter.default) == parameter.default, parameter.key
            shown = parameter.document()
            assert shown["key"] == parameter.key and shown["default"] == parameter.default
        estimator(algorithm, problem, 1, {p.key: p.default for p in parameters})
    assert [p.key for p in declared(Algorithm.KNN, REGRESS)] == ["n_neighbors", "weights"]


def test_a_forecast_takes_what_a_regression_takes() -> None:
    assert declared(Algorithm.LINEAR, ProblemType.FORECAST) == declared(Algorithm.LINEAR, REGRESS)
    assert estimator(Algorithm.LINEAR, ProblemType.FORECAST, 1).alpha == 1.0
