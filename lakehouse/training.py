"""Model training on a validated table: column roles, splits, algorithms, metrics.

Pure modelling: no tracking, no orchestration. The training asset feeds this module a
silver table and records what comes back in MLflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lakehouse.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from sklearn.pipeline import Pipeline

SEED = 42
SPLIT = (0.70, 0.15, 0.15)
# `auto` tries these on the validation split and keeps the best.
AUTO_CANDIDATES = ("XGBoost", "LightGBM", "RandomForest", "Linear")
MAX_CATEGORIES = 50
CV_FOLDS = 5


class ProblemType(StrEnum):
    CLASSIFICATION = "Classification"
    REGRESSION = "Regression"
    FORECAST = "Forecast"

    @classmethod
    def parse(cls, text: str) -> ProblemType:
        for member in cls:
            if member.value.lower() == text.strip().lower():
                return member
        known = ", ".join(m.value for m in cls)
        raise InvalidInputError(
            f"unknown problem type '{text}'; expected one of {known}", field="problem_type"
        )


class Attribute(StrEnum):
    ID = "Id"
    TARGET = "Target"
    FEATURE = "Feature"
    TIMESTAMP = "Timestamp"
    SERIES = "Series"
    IGNORE = "Ignore"


class Algorithm(StrEnum):
    XGBOOST = "XGBoost"
    LIGHTGBM = "LightGBM"
    RANDOM_FOREST = "RandomForest"
    LINEAR = "Linear"  # logistic regression for classification
    MLP = "MLP"
    AUTO = "auto"

    @classmethod
    def parse(cls, text: str | None) -> Algorithm:
        if text is None or not text.strip():
            return cls.AUTO
        aliases = {
            "xgb": cls.XGBOOST,
            "lgbm": cls.LIGHTGBM,
            "rf": cls.RANDOM_FOREST,
            "random_forest": cls.RANDOM_FOREST,
            "logistic": cls.LINEAR,
            "linear_regression": cls.LINEAR,
            "logistic_regression": cls.LINEAR,
        }
        key = text.strip().lower().replace(" ", "_")
        for member in cls:
            if member.value.lower() == key:
                return member
        if key in aliases:
            return aliases[key]
        known = ", ".join(m.value for m in cls)
        raise InvalidInputError(
            f"unknown algorithm '{text}'; expected one of {known}", field="algorithm"
        )


@dataclass(frozen=True)
class ColumnRole:
    column_name: str
    attribute: Attribute


@dataclass(frozen=True)
class TrainingSpec:
    problem_type: ProblemType
    roles: Sequence[ColumnRole]
    algorithm: Algorithm = Algorithm.AUTO
    seed: int = SEED

    def columns(self, attribute: Attribute) -> list[str]:
        return [r.column_name for r in self.roles if r.attribute is attribute]

    @property
    def target(self) -> str:
        targets = self.columns(Attribute.TARGET)
        if len(targets) != 1:
            raise InvalidInputError(
                f"exactly one column must have the attribute Target, not {len(targets)}",
                field="columns",
            )
        return targets[0]

    @property
    def features(self) -> list[str]:
        return self.columns(Attribute.FEATURE)


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


@dataclass
class TrainedModel:
    """A fitted pipeline (raw feature frame in, prediction out) and how well it did."""

    pipeline: Pipeline
    algorithm: Algorithm
    problem_type: ProblemType
    features: list[str]
    classes: list[Any] | None
    metrics: dict[str, float]
    confusion_matrix: list[list[int]] | None = None
    candidates: dict[str, float] = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        predicted = self.pipeline.predict(frame[self.features])
        if self.classes is not None:
            import numpy as np

            return np.asarray(self.classes, dtype=object)[predicted.astype(int)]
        return predicted

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        if self.classes is None:
            return None
        probabilities: np.ndarray = self.pipeline.predict_proba(frame[self.features])
        return probabilities


def training_frame(table: pa.Table, spec: TrainingSpec) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of a table, checked for what the problem type needs."""
    names = set(table.column_names)
    missing = [c for c in [spec.target, *spec.features] if c not in names]
    if missing:
        raise InvalidInputError(
            f"column '{missing[0]}' is not in the dataset's validated table", field="columns"
        )
    if not spec.features:
        raise InvalidInputError("at least one column must be a Feature", field="columns")
    frame = table.select([spec.target, *spec.features]).to_pandas()
    frame = frame[frame[spec.target].notna()].reset_index(drop=True)
    target = frame[spec.target]
    if target.nunique() < 2:
        raise InvalidInputError(
            f"target column '{spec.target}' has fewer than two distinct values", field="columns"
        )
    if spec.problem_type is not ProblemType.CLASSIFICATION:
        import pandas as pd

        if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
            raise InvalidInputError(
                f"target column '{spec.target}' must be numeric for {spec.problem_type.value}",
                field="columns",
            )
    return frame[spec.features], target


def split_rows(count: int, seed: int, ordered: bool = False) -> Split:
    """Train/validation/test positions, 70/15/15; in order (no shuffle) for time series."""
    import numpy as np

    positions = np.arange(count)
    if not ordered:
        positions = np.random.default_rng(seed).permutation(count)
    train_end = int(round(count * SPLIT[0]))
    validation_end = train_end + int(round(count * SPLIT[1]))
    if train_end < 2 or validation_end >= count or validation_end == train_end:
        raise InvalidInputError(
            f"{count} rows are too few to split into training, validation and test",
            field="dataset_id",
        )
    return Split(
        positions[:train_end], positions[train_end:validation_end], positions[validation_end:]
    )


def preprocessor(features: pd.DataFrame, scaled: bool) -> Any:
    """Imputes missing values and encodes categories, so users need not prepare them."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [
        c
        for c in features.columns
        if pd.api.types.is_numeric_dtype(features[c])
        and not pd.api.types.is_bool_dtype(features[c])
    ]
    categorical = [c for c in features.columns if c not in numeric]
    numeric_steps: list[Any] = [SimpleImputer(strategy="median")]
    if scaled:
        numeric_steps.append(StandardScaler())
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(*numeric_steps), numeric),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)"),
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        max_categories=MAX_CATEGORIES,
                        sparse_output=False,
                    ),
                ),
                categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )


def estimator(algorithm: Algorithm, problem: ProblemType, seed: int) -> Any:
    classify = problem is ProblemType.CLASSIFICATION
    if algorithm is Algorithm.XGBOOST:
        import xgboost

        kind = xgboost.XGBClassifier if classify else xgboost.XGBRegressor
        return kind(n_estimators=300, learning_rate=0.05, max_depth=4, random_state=seed, n_jobs=2)
    if algorithm is Algorithm.LIGHTGBM:
        import lightgbm

        kind = lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor
        return kind(n_estimators=300, learning_rate=0.05, random_state=seed, n_jobs=2, verbose=-1)
    if algorithm is Algorithm.RANDOM_FOREST:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        kind = RandomForestClassifier if classify else RandomForestRegressor
        return kind(n_estimators=300, random_state=seed, n_jobs=2)
    if algorithm is Algorithm.LINEAR:
        from sklearn.linear_model import LogisticRegression, Ridge

        return LogisticRegression(max_iter=2000) if classify else Ridge()
    if algorithm is Algorithm.MLP:
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        kind = MLPClassifier if classify else MLPRegressor
        return kind(hidden_layer_sizes=(64, 32), max_iter=500, random_state=seed)
    raise ValueError(f"{algorithm} is chosen among candidates, not fitted directly")


def model_pipeline(
    algorithm: Algorithm, problem: ProblemType, features: pd.DataFrame, seed: int
) -> Pipeline:
    from sklearn.pipeline import Pipeline

    scaled = algorithm in (Algorithm.LINEAR, Algorithm.MLP)
    return Pipeline(
        [
            ("prepare", preprocessor(features, scaled)),
            ("model", estimator(algorithm, problem, seed)),
        ]
    )


def score(problem: ProblemType, truth: Any, predicted: Any, probabilities: Any) -> dict[str, float]:
    """The metrics of one evaluation: classification or regression."""
    from sklearn import metrics

    if problem is ProblemType.CLASSIFICATION:
        binary = probabilities is not None and probabilities.shape[1] == 2
        average = "binary" if binary else "macro"
        result = {
            "accuracy": metrics.accuracy_score(truth, predicted),
            "precision": metrics.precision_score(
                truth, predicted, average=average, zero_division=0
            ),
            "recall": metrics.recall_score(truth, predicted, average=average, zero_division=0),
            "f1": metrics.f1_score(truth, predicted, average=average, zero_division=0),
        }
        if probabilities is not None and len(set(truth)) == probabilities.shape[1]:
            result["roc_auc"] = (
                metrics.roc_auc_score(truth, probabilities[:, 1])
                if binary
                else metrics.roc_auc_score(truth, probabilities, multi_class="ovr")
            )
        return {k: float(v) for k, v in result.items()}
    mse = metrics.mean_squared_error(truth, predicted)
    return {
        "mse": float(mse),
        "rmse": float(mse**0.5),
        "mae": float(metrics.mean_absolute_error(truth, predicted)),
        "r2": float(metrics.r2_score(truth, predicted)),
    }


def cross_validated(
    pipeline: Pipeline, features: pd.DataFrame, labels: Any, seed: int
) -> dict[str, float]:
    """Mean and spread of accuracy over stratified folds of the rows the model learned from."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    smallest_class = int(min(np.bincount(labels))) if len(labels) else 0
    folds = min(CV_FOLDS, smallest_class)
    if folds < 2:
        return {}
    scores = cross_val_score(
        clone(pipeline),
        features,
        labels,
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        scoring="accuracy",
    )
    return {"cv_accuracy_mean": float(scores.mean()), "cv_accuracy_std": float(scores.std())}


def selection_metric(problem: ProblemType) -> str:
    return "f1" if problem is ProblemType.CLASSIFICATION else "r2"


def train(table: pa.Table, spec: TrainingSpec) -> TrainedModel:
    """Fit the spec's algorithm (or the best of several, for `auto`) and evaluate it on the
    held-out test rows. The same table and seed give the same model."""
    import numpy as np

    features, target = training_frame(table, spec)
    classes: list[Any] | None = None
    labels = target.to_numpy()
    if spec.problem_type is ProblemType.CLASSIFICATION:
        classes_array, encoded = np.unique(target.astype(str).to_numpy(), return_inverse=True)
        originals = {str(v): v for v in target.unique()}
        classes = [originals[c] for c in classes_array]
        labels = encoded
    split = split_rows(len(features), spec.seed, ordered=spec.problem_type is ProblemType.FORECAST)

    def fitted(algorithm: Algorithm, rows: np.ndarray) -> Pipeline:
        pipeline = model_pipeline(algorithm, spec.problem_type, features, spec.seed)
        pipeline.fit(features.iloc[rows], labels[rows])
        return pipeline

    def evaluate(pipeline: Pipeline, rows: np.ndarray) -> dict[str, float]:
        subset = features.iloc[rows]
        probabilities = pipeline.predict_proba(subset) if classes is not None else None
        return score(spec.problem_type, labels[rows], pipeline.predict(subset), probabilities)

    candidates: dict[str, float] = {}
    algorithm = spec.algorithm
    if algorithm is Algorithm.AUTO:
        key = selection_metric(spec.problem_type)
        for name in AUTO_CANDIDATES:
            candidate = Algorithm(name)
            candidates[name] = evaluate(fitted(candidate, split.train), split.validation)[key]
        algorithm = Algorithm(max(candidates, key=lambda name: candidates[name]))
    # The chosen model learns from training and validation rows; the test rows judge it.
    learned = np.concatenate([split.train, split.validation])
    pipeline = fitted(algorithm, learned)
    metrics = evaluate(pipeline, split.test)
    if classes is not None:
        metrics.update(
            cross_validated(pipeline, features.iloc[learned], labels[learned], spec.seed)
        )
    confusion = None
    if classes is not None:
        from sklearn.metrics import confusion_matrix

        subset = features.iloc[split.test]
        confusion = confusion_matrix(
            labels[split.test], pipeline.predict(subset), labels=list(range(len(classes)))
        ).tolist()
    return TrainedModel(
        pipeline=pipeline,
        algorithm=algorithm,
        problem_type=spec.problem_type,
        features=list(features.columns),
        classes=classes,
        metrics=metrics,
        confusion_matrix=confusion,
        candidates=candidates,
    )
