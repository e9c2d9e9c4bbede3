"""A trained model looked at closely, after training, on the rows it was judged on: confusion
matrix, ROC curves, feature importance (the model's own and by permutation), learning curve
and cross-validation scores; SHAP values of a sample; and where it errs (a shallow surrogate
tree and its worst mistakes with their SHAP contributors). Pure modelling: the documents come
back as plain JSON-ready dictionaries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakehouse.ml.metrics import cross_validation_scores, folds, score, single_threaded
from lakehouse.ml.spec import ProblemType, Split, TrainedModel, TrainingSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

# Rows the cross-validation and the learning curve fit on at most (a sample of larger tables).
FOLDED_ROWS = 5000
LEARNING_CURVE_SIZES = (0.25, 0.5, 0.75, 1.0)
LEARNING_CURVE_FOLDS = 3
PERMUTATION_REPEATS = 5
SHAP_SAMPLE = 100
WORST_ROWS = 20
TOP_CONTRIBUTORS = 3
SURROGATE_DEPTH = 4
CURVE_POINTS = 101  # an ROC curve is thinned to about this many points


@dataclass(frozen=True)
class HeldOut:
    """What a model learned from and was judged on, rebuilt as its training split them."""

    features: pd.DataFrame
    labels: np.ndarray
    split: Split

    @property
    def learned(self) -> np.ndarray:
        import numpy as np

        return np.concatenate([self.split.train, self.split.validation])


def held_out(model: TrainedModel, table: pa.Table, spec: TrainingSpec) -> HeldOut:
    """The model's rows, labels coded as the model codes its classes, and the split its
    training made (the same seed and test share give the same rows)."""
    from lakehouse.ml.training import split_rows, training_frame

    features, target = training_frame(table, spec)
    features = features[model.features]
    labels = target.to_numpy()
    if model.classes is not None:
        labels = class_codes(target, model.classes)
    split = split_rows(len(features), spec.seed, test_share=spec.test_share)
    return HeldOut(features, labels, split)


def class_codes(target: pd.Series, classes: list[Any]) -> np.ndarray:
    """Each value's position among the model's classes (-1 for one it does not know)."""
    import numpy as np

    index = {str(c): i for i, c in enumerate(classes)}
    return np.array([index.get(str(v), -1) for v in target])


def scoring(model: TrainedModel) -> str:
    """The scikit-learn scorer the cross-validation and the importance use."""
    return "accuracy" if model.classes is not None else "r2"


def evaluate(model: TrainedModel, data: HeldOut, seed: int) -> dict[str, Any]:
    """The EvaluationResult document of the model on its test rows."""
    import numpy as np

    started = time.perf_counter()
    classify = model.classes is not None
    test = data.features.iloc[data.split.test]
    truth = data.labels[data.split.test]
    predicted = model.pipeline.predict(test)
    probabilities = model.pipeline.predict_proba(test) if classify else None
    problem = ProblemType.CLASSIFICATION if classify else ProblemType.REGRESSION
    folded = data.learned
    if len(folded) > FOLDED_ROWS:
        folded = np.random.default_rng(seed).choice(folded, FOLDED_ROWS, replace=False)
    scorer = scoring(model)
    cv_scores = cross_validation_scores(
        model.pipeline, data.features.iloc[folded], data.labels[folded], seed, scorer, classify
    )
    document: dict[str, Any] = {
        "taskType": "classification" if classify else "regression",
        "timestamp": datetime.now(UTC).isoformat(),
        "metrics": score(problem, truth, predicted, probabilities),
        "feature_importance": {
            "model_based": model_based_importance(model),
            "permutation": permutation_importance(model, test, truth, scorer, seed),
        },
        "learning_curve": learning_curve(model, data, folded, scorer, seed),
        "cross_validation": {
            "scores": cv_scores,
            "mean": float(np.mean(cv_scores)) if cv_scores else None,
            "std": float(np.std(cv_scores)) if cv_scores else None,
            "scoring": scorer,
            "folds": len(cv_scores),
        },
    }
    if classify:
        assert model.classes is not None and probabilities is not None
        document["class_labels"] = [str(c) for c in model.classes]
        document["confusion_matrix"] = confusion(model.classes, truth, predicted)
        document["roc_curves"] = roc_curves(model.classes, truth, probabilities)
    else:
        document["predicted_vs_actual"] = [
            {"actual": float(a), "predicted": float(p)}
            for a, p in list(zip(truth, predicted, strict=True))[:500]
        ]
        residuals = truth - predicted
        document["residuals"] = {
            "mean": float(np.mean(residuals)),
            "std": float(np.std(residuals)),
        }
    document["computeMs"] = int((time.perf_counter() - started) * 1000)
    return document


def confusion(classes: list[Any], truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(truth, predicted, labels=list(range(len(classes))))
    return {"labels": [str(c) for c in classes], "matrix": matrix.tolist()}


def roc_curves(
    classes: list[Any], truth: np.ndarray, probabilities: np.ndarray
) -> list[dict[str, Any]]:
    """One curve per class against the rest; the positive class alone for two classes."""
    import numpy as np
    from sklearn.metrics import auc, roc_curve

    shown = [1] if len(classes) == 2 else list(range(len(classes)))
    curves = []
    for position in shown:
        positive = truth == position
        if positive.all() or not positive.any():
            continue  # no curve without both kinds of rows
        fpr, tpr, _ = roc_curve(positive, probabilities[:, position])
        step = max(1, len(fpr) // CURVE_POINTS)
        keep = sorted({*range(0, len(fpr), step), len(fpr) - 1})
        curves.append(
            {
                "label": str(classes[position]),
                "fpr": [round(float(v), 6) for v in np.asarray(fpr)[keep]],
                "tpr": [round(float(v), 6) for v in np.asarray(tpr)[keep]],
                "auc": float(auc(fpr, tpr)),
            }
        )
    return curves


def model_based_importance(model: TrainedModel) -> list[dict[str, Any]] | None:
    """The model's own importance per input feature (tree impurity, |coefficient|); None for
    a model without one (k-nearest neighbours)."""
    import numpy as np

    from lakehouse.ml.explain import per_feature

    estimator = model.pipeline.named_steps["model"]
    if hasattr(estimator, "feature_importances_"):
        raw = np.asarray(estimator.feature_importances_, dtype=float)
    elif hasattr(estimator, "coef_"):
        coefficients = np.abs(np.asarray(estimator.coef_, dtype=float))
        raw = coefficients.mean(axis=0) if coefficients.ndim == 2 else coefficients
    else:
        return None
    summed = per_feature(model, raw[np.newaxis, :])[0]
    return ranked(model.features, summed)


def permutation_importance(
    model: TrainedModel, test: pd.DataFrame, truth: np.ndarray, scorer: str, seed: int
) -> list[dict[str, Any]]:
    """How much the score drops when one input column's values are shuffled (on a sample of
    at most FOLDED_ROWS test rows)."""
    import numpy as np
    from sklearn import inspection

    if len(test) > FOLDED_ROWS:
        chosen = np.random.default_rng(seed).choice(len(test), FOLDED_ROWS, replace=False)
        test, truth = test.iloc[chosen], truth[chosen]

    found = inspection.permutation_importance(
        model.pipeline,
        test,
        truth,
        scoring=scorer,
        n_repeats=PERMUTATION_REPEATS,
        random_state=seed,
    )
    return ranked(model.features, found.importances_mean, found.importances_std)


def ranked(features: list[str], importance: Any, spread: Any | None = None) -> list[dict[str, Any]]:
    rows = [
        {"feature": name, "importance": float(importance[i])}
        | ({"std": float(spread[i])} if spread is not None else {})
        for i, name in enumerate(features)
    ]
    return sorted(rows, key=lambda row: -abs(row["importance"]))


def learning_curve(
    model: TrainedModel, data: HeldOut, rows: np.ndarray, scorer: str, seed: int
) -> dict[str, Any]:
    """Training and cross-validated scores as the model learns from more rows."""
    from joblib import parallel_config
    from sklearn import model_selection

    splitter = folds(data.labels[rows], seed, model.classes is not None, LEARNING_CURVE_FOLDS)
    if splitter is None:
        return {"train_sizes": [], "train_scores": [], "test_scores": [], "scoring": scorer}
    with parallel_config(backend="threading"):
        sizes, train, test = model_selection.learning_curve(
            single_threaded(model.pipeline),
            data.features.iloc[rows],
            data.labels[rows],
            train_sizes=list(LEARNING_CURVE_SIZES),
            cv=splitter,
            scoring=scorer,
            n_jobs=2,
        )
    return {
        "train_sizes": [int(n) for n in sizes],
        "train_scores": [float(v) for v in train.mean(axis=1)],
        "test_scores": [float(v) for v in test.mean(axis=1)],
        "test_std": [float(v) for v in test.std(axis=1)],
        "scoring": scorer,
    }


@dataclass(frozen=True)
class Explanation:
    """SHAP values per input feature for some rows, of the class each row is explained for."""

    values: np.ndarray
    base_values: np.ndarray


def explain_rows(
    model: TrainedModel, rows: pd.DataFrame, predicted: np.ndarray, background: pd.DataFrame
) -> Explanation:
    """SHAP values per input feature against background rows: of the positive class for two
    classes, of the predicted class for more, of the value itself for a regression."""
    import numpy as np

    from lakehouse.ml.explain import explained, per_feature

    prepare = model.pipeline.named_steps["prepare"]

    def encoded(frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(prepare.transform(frame), dtype=float)

    values, base = explained(model, encoded(rows), encoded(background))
    summed = per_feature(model, values)
    count = len(summed)  # a permutation explainer out of time explains fewer rows
    if summed.ndim == 3:  # a class axis: pick each row's class
        chosen = (
            np.ones(count, dtype=int) if summed.shape[2] == 2 else predicted[:count].astype(int)
        )
        summed = summed[np.arange(count), :, chosen]
        base = base[np.arange(count), chosen] if base.ndim == 2 else base
    return Explanation(summed, base[:count])


def background(data: HeldOut) -> pd.DataFrame:
    """Rows the model learned from, the reference SHAP values are measured against."""
    from lakehouse.ml.explain import BACKGROUND_ROWS

    return data.features.iloc[data.learned[:BACKGROUND_ROWS]]


def shap_document(model: TrainedModel, data: HeldOut) -> dict[str, Any]:
    """SHAP values of a sample of the test rows: `{values, base_values, data, feature_names,
    mean_abs_values}`."""
    import json

    import numpy as np

    sample = data.features.iloc[data.split.test[:SHAP_SAMPLE]]
    explanation = explain_rows(model, sample, model.pipeline.predict(sample), background(data))
    count = len(explanation.values)
    return {
        "feature_names": model.features,
        "values": np.round(explanation.values, 6).tolist(),
        "base_values": np.round(explanation.base_values, 6).tolist(),
        "data": json.loads(sample.head(count).to_json(orient="values", date_format="iso")),
        "mean_abs_values": {
            name: float(v)
            for name, v in zip(model.features, np.abs(explanation.values).mean(axis=0), strict=True)
        },
    }


def error_analysis(model: TrainedModel, data: HeldOut) -> dict[str, Any]:
    """Where the model errs on its test rows: a shallow decision tree learning which rows it
    gets wrong (for a regression, its worst quarter of absolute errors), and its worst
    mistakes with the features that pushed them most."""
    import numpy as np

    classify = model.classes is not None
    rows = data.split.test
    test = data.features.iloc[rows]
    truth = data.labels[rows]
    predicted = model.pipeline.predict(test)
    if classify:
        probabilities = model.pipeline.predict_proba(test)
        confidence = probabilities[np.arange(len(rows)), predicted.astype(int)]
        wrong = predicted != truth
        order = np.argsort(-confidence)  # confidently wrong first
    else:
        confidence = np.abs(truth - predicted)
        wrong = confidence > np.quantile(confidence, 0.75)
        order = np.argsort(-confidence)  # the largest errors first
    if not wrong.any():
        return {"available": False, "reason": "the model makes no errors on its test rows"}
    worst = [i for i in order if wrong[i]][:WORST_ROWS]
    try:
        explanation = explain_rows(model, test.iloc[worst], predicted[worst], background(data))
        contributions: Any = explanation.values
    except Exception:  # SHAP explains not every model: the mistakes stand without
        contributions = np.zeros((len(worst), 0))
    shown = (lambda code: str(model.classes[int(code)])) if classify else float  # type: ignore[index]
    mistakes = []
    for position, i in enumerate(worst[: len(contributions)]):
        values = contributions[position]
        top = np.argsort(-np.abs(values))[:TOP_CONTRIBUTORS]
        mistakes.append(
            {
                "index": int(rows[i]),
                "y_true": shown(truth[i]),
                "y_pred": shown(predicted[i]),
                "confidence": float(confidence[i]),
                "top_shap_contributors": [
                    {
                        "feature": model.features[j],
                        "shap_value": float(values[j]),
                        "value": json_scalar(test.iloc[i, j]),
                    }
                    for j in top
                ],
            }
        )
    return {
        "available": True,
        "error_definition": "misclassified" if classify else "absolute error in the worst quarter",
        "error_rate": float(wrong.mean()),
        "error_tree": surrogate_tree(test, wrong),
        "misclassifications": mistakes,
    }


def surrogate_tree(rows: pd.DataFrame, wrong: np.ndarray) -> dict[str, Any]:
    """A decision tree of depth SURROGATE_DEPTH separating the rows the model gets wrong, on
    the features as given (missing values imputed, categories one-hot), as nested nodes."""
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    from lakehouse.ml.algorithms import preprocessor

    prepare = preprocessor(rows, scaled=False)
    encoded = np.asarray(prepare.fit_transform(rows), dtype=float)
    names = [str(n) for n in prepare.get_feature_names_out()]
    tree = DecisionTreeClassifier(
        max_depth=SURROGATE_DEPTH, min_samples_leaf=max(5, len(rows) // 50), random_state=0
    ).fit(encoded, wrong)
    paths = tree.decision_path(encoded)
    samples = np.asarray(paths.sum(axis=0)).ravel()
    errors = np.asarray(paths.T @ wrong.astype(int)).ravel()
    structure = tree.tree_

    def node(index: int) -> dict[str, Any]:
        found: dict[str, Any] = {
            "node_id": index,
            "sample_count": int(samples[index]),
            "error_count": int(errors[index]),
            "error_rate": float(errors[index] / samples[index]) if samples[index] else 0.0,
        }
        left, right = structure.children_left[index], structure.children_right[index]
        if left != right:  # a split: feature <= threshold goes left
            found["feature"] = names[structure.feature[index]]
            found["threshold"] = float(structure.threshold[index])
            found["left"] = node(int(left))
            found["right"] = node(int(right))
        return found

    return node(0)


def json_scalar(value: Any) -> Any:
    """A pandas or numpy value as JSON keeps it (NaN as null, times in ISO 8601)."""
    import json

    import pandas as pd

    return json.loads(pd.Series([value]).to_json(orient="values", date_format="iso"))[0]
