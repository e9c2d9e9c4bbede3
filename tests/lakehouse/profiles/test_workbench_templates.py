"""The workbench's model templates: each a Strata algorithm with the parameters it offers,
checked by the algorithm's own declaration."""

from __future__ import annotations

import pytest

from lakehouse.errors import InvalidInputError, NotFoundError
from lakehouse.ml.algorithms import estimator
from lakehouse.profiles.workbench.templates import TEMPLATES, template_of

ORIGINALS = {
    "random_forest_classifier",
    "logistic_regression",
    "random_forest_regressor",
    "linear_regression",
    "ridge_regression",
    "knn_classifier",
    "gradient_boosting_classifier",
    "kmeans",
}


def test_the_originals_eight_and_strata_boosting_are_offered() -> None:
    ids = [t.id for t in TEMPLATES]
    assert set(ids) >= ORIGINALS and len(ids) == len(set(ids)) == 12
    assert {t.library for t in TEMPLATES} == {"sklearn", "xgboost", "lightgbm"}
    for template in TEMPLATES:
        shown = template.document()
        assert set(shown) == {
            "id",
            "name",
            "taskType",
            "description",
            "library",
            "importPath",
            "modelClass",
            "metrics",
            "parameters",
        }
        assert shown["parameters"] or template.id == "linear_regression"
        if template.algorithm is not None and template.problem is not None:
            defaults = {p.key: p.default for p in template.parameters}
            fitted = estimator(
                template.algorithm, template.problem, 1, template.hyperparameters(defaults)
            )
            assert type(fitted).__name__ == template.model_class, template.id


def test_parameters_are_checked_by_the_algorithms_declaration() -> None:
    forest = template_of("random_forest_classifier")
    assert forest.hyperparameters({"n_estimators": 50}) == {"n_estimators": 50}
    with pytest.raises(InvalidInputError, match="from 10 to 2000") as caught:
        forest.hyperparameters({"n_estimators": 5})
    assert caught.value.field == "n_estimators"
    ols = template_of("linear_regression")
    assert [p.key for p in ols.parameters] == []
    with pytest.raises(InvalidInputError, match="unknown parameter 'alpha' for linear_regression"):
        ols.hyperparameters({"alpha": 3})
    assert ols.hyperparameters(None) == {"alpha": 0.0}
    assert template_of("kmeans").hyperparameters({"n_clusters": 4}) == {"n_clusters": 4}
    with pytest.raises(NotFoundError, match="Unknown template 'svm'"):
        template_of("svm")
