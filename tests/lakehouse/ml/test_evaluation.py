"""A trained model's evaluation, SHAP document and error analysis on the rows its training
held out: multi-class and regression (the API tests cover two classes)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.ml import evaluation
from lakehouse.ml.spec import Algorithm, Attribute, ColumnRole, ProblemType, TrainingSpec
from lakehouse.ml.training import train


def trained(frame: Any, target: str, problem: ProblemType, algorithm: Algorithm) -> Any:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    roles = [
        ColumnRole(c, Attribute.TARGET if c == target else Attribute.FEATURE) for c in frame.columns
    ]
    spec = TrainingSpec(problem, roles, algorithm, hyperparameters={})
    model = train(table, spec)
    return model, evaluation.held_out(model, table, spec), spec


@pytest.fixture(scope="module")
def iris() -> Any:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return trained(frame, "target", ProblemType.CLASSIFICATION, Algorithm.LINEAR)


def test_a_multi_class_evaluation_has_a_curve_per_class(iris: Any) -> None:
    model, data, spec = iris
    document = evaluation.evaluate(model, data, spec.seed)
    json.dumps(document)  # a JSON document as it stands
    test_rows = len(data.split.test)
    matrix = np.array(document["confusion_matrix"]["matrix"])
    assert document["confusion_matrix"]["labels"] == ["setosa", "versicolor", "virginica"]
    assert matrix.shape == (3, 3) and matrix.sum() == test_rows
    assert np.trace(matrix) / test_rows == pytest.approx(document["metrics"]["accuracy"])
    assert [c["label"] for c in document["roc_curves"]] == ["setosa", "versicolor", "virginica"]
    assert len(document["cross_validation"]["scores"]) == 5
    model_based = document["feature_importance"]["model_based"]
    assert {row["feature"] for row in model_based} == set(model.features)


def test_shap_values_of_the_predicted_class_add_up_to_its_log_odds(iris: Any) -> None:
    model, data, _ = iris
    document = evaluation.shap_document(model, data)
    values, base = np.array(document["values"]), np.array(document["base_values"])
    assert values.shape == (len(data.split.test), 4) and base.shape == (len(values),)
    rows = data.features.iloc[data.split.test]
    predicted = model.pipeline.predict(rows)
    margins = model.pipeline.decision_function(rows)[np.arange(len(rows)), predicted]
    assert np.allclose(base + values.sum(axis=1), margins, atol=1e-6)


def test_a_regressions_errors_are_its_worst_quarter() -> None:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    model, data, spec = trained(frame, "target", ProblemType.REGRESSION, Algorithm.RANDOM_FOREST)
    document = evaluation.evaluate(model, data, spec.seed)
    assert document["taskType"] == "regression" and "confusion_matrix" not in document
    assert document["cross_validation"]["scoring"] == "r2"
    pairs = document["predicted_vs_actual"]
    assert len(pairs) == len(data.split.test)
    truth = data.labels[data.split.test]
    assert [p["actual"] for p in pairs] == pytest.approx(list(truth))

    errors = evaluation.error_analysis(model, data)
    assert errors["available"] is True
    assert errors["error_rate"] == pytest.approx(0.25, abs=0.02)
    tree = errors["error_tree"]
    assert tree["sample_count"] == len(truth)
    assert tree["error_count"] == tree["left"]["error_count"] + tree["right"]["error_count"]
    worst = errors["misclassifications"]
    gaps = [abs(row["y_true"] - row["y_pred"]) for row in worst]
    assert gaps == sorted(gaps, reverse=True) and gaps[0] == pytest.approx(worst[0]["confidence"])
    assert worst[0]["top_shap_contributors"][0]["feature"] in model.features


def test_gradient_boosting_of_three_classes_is_explained_by_permutation(iris: Any) -> None:
    _, data, spec = iris
    frame = data.features.assign(target=data.labels)
    model, data, _ = trained(
        frame, "target", ProblemType.CLASSIFICATION, Algorithm.GRADIENT_BOOSTING
    )
    document = evaluation.shap_document(model, data)
    values, base = np.array(document["values"]), np.array(document["base_values"])
    assert values.shape == (len(base), 4) and base.ndim == 1
    # permutation SHAP is exact in sum: base plus values is the predicted class's probability
    rows = data.features.iloc[data.split.test[: len(base)]]
    probabilities = model.pipeline.predict_proba(rows)
    chosen = probabilities[np.arange(len(rows)), model.pipeline.predict(rows)]
    assert np.allclose(base + values.sum(axis=1), chosen, atol=1e-6)


def test_a_class_missing_from_the_rows_leaves_the_folds_to_the_others() -> None:
    from lakehouse.ml.metrics import folds

    labels = np.array([0] * 20 + [2] * 20)  # class 1 only in other rows
    assert folds(labels, 0, classify=True).get_n_splits() == 5
