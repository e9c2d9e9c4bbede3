"""Training on scikit-learn's bundled datasets: quality, determinism, refused input."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.errors import InvalidInputError
from lakehouse.ml.spec import Algorithm, Attribute, ColumnRole, ProblemType, TrainingSpec
from lakehouse.ml.training import split_rows, train


def bundled(name: str) -> tuple[pa.Table, TrainingSpec]:
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = loaded.frame
    problem = ProblemType.REGRESSION if name == "diabetes" else ProblemType.CLASSIFICATION
    if problem is ProblemType.CLASSIFICATION:
        names = list(loaded.target_names)
        frame["target"] = [names[int(v)] for v in frame["target"]]
    roles = [ColumnRole(c, Attribute.FEATURE) for c in loaded.feature_names]
    roles.append(ColumnRole("target", Attribute.TARGET))
    return pa.Table.from_pandas(frame, preserve_index=False), TrainingSpec(problem, roles)


def test_default_algorithm_on_breast_cancer() -> None:
    table, spec = bundled("breast_cancer")
    model = train(table, spec)
    assert model.metrics["accuracy"] >= 0.94
    assert set(model.candidates) == {"XGBoost", "LightGBM", "RandomForest", "Linear"}
    assert model.algorithm.value in model.candidates
    assert sorted(model.classes or []) == ["benign", "malignant"]
    assert {"precision", "recall", "f1", "roc_auc", "cv_accuracy_mean"} <= set(model.metrics)
    assert model.metrics["cv_accuracy_mean"] >= 0.9 and model.metrics["cv_accuracy_std"] < 0.1
    test_rows = split_rows(len(table), spec.seed).test
    assert sum(map(sum, model.confusion_matrix or [])) == len(test_rows) == 86
    frame = table.to_pandas().head(3)
    assert list(model.predict(frame)) == list(train(table, spec).predict(frame))
    probabilities = model.predict_proba(frame)
    assert probabilities is not None and probabilities.shape == (3, 2)


def test_default_algorithm_on_diabetes() -> None:
    table, spec = bundled("diabetes")
    model = train(table, spec)
    assert model.metrics["r2"] >= 0.35
    assert model.metrics["rmse"] == pytest.approx(model.metrics["mse"] ** 0.5)
    assert model.classes is None and model.predict_proba(table.to_pandas()) is None


def test_multiclass_with_categories_and_missing_values() -> None:
    table, spec = bundled("wine")
    frame = table.to_pandas()
    frame.loc[::7, "alcohol"] = None
    frame["grade"] = ["high" if v > 2.5 else "low" for v in frame["color_intensity"]]
    roles = [*spec.roles, ColumnRole("grade", Attribute.FEATURE)]
    model = train(
        pa.Table.from_pandas(frame, preserve_index=False),
        TrainingSpec(ProblemType.CLASSIFICATION, roles, Algorithm.LIGHTGBM),
    )
    assert model.algorithm is Algorithm.LIGHTGBM and model.candidates == {}
    assert model.metrics["accuracy"] >= 0.85 and "roc_auc" in model.metrics


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("constant", "fewer than two distinct values"),
        ("missing", "not in the dataset"),
        ("text_regression", "must be numeric"),
    ],
)
def test_unusable_targets_are_refused(change: str, message: str) -> None:
    table, spec = bundled("diabetes")
    roles = list(spec.roles)
    if change == "constant":
        table = table.set_column(
            table.column_names.index("target"), "target", pa.array([1.0] * len(table))
        )
    elif change == "missing":
        roles = [r for r in roles if r.attribute is not Attribute.TARGET]
        roles.append(ColumnRole("nope", Attribute.TARGET))
    else:
        text = pa.array([str(v) for v in table["target"].to_pylist()])
        table = table.set_column(table.column_names.index("target"), "target", text)
    with pytest.raises(InvalidInputError, match=message):
        train(table, TrainingSpec(ProblemType.REGRESSION, roles))


def test_names_are_parsed_with_clear_errors() -> None:
    assert Algorithm.parse("xgboost") is Algorithm.XGBOOST
    assert Algorithm.parse(None) is Algorithm.AUTO
    assert ProblemType.parse("regression") is ProblemType.REGRESSION
    with pytest.raises(InvalidInputError, match="unknown algorithm 'svm'"):
        Algorithm.parse("svm")
