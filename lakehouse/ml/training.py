"""Model training on a validated table: column roles, splits, algorithms, metrics.

Pure modelling: no tracking, no orchestration. The training asset feeds this module a
silver table and records what comes back in MLflow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
# Fractions of the training rows the learning curve fits on, scored on the validation rows.
LEARNING_CURVE = (0.25, 0.5, 1.0)
PROGRESS_EVERY = 50  # boosting rounds between progress messages
MLP_DEFAULTS: dict[str, Any] = {"epochs": 500, "learning_rate": 0.001, "hidden_layers": [64, 32]}
Report = Callable[[str], None]


def quiet(_: str) -> None:
    """A progress report nobody reads."""


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
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)

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

    def single(self, attribute: Attribute, required: bool = True) -> str | None:
        """The one column holding `attribute`: None when optional and absent."""
        found = self.columns(attribute)
        if len(found) > 1 or (required and not found):
            expected = "exactly one column" if required else "at most one column"
            raise InvalidInputError(
                f"{expected} must have the attribute {attribute.value}, not {len(found)}",
                field="columns",
            )
        return found[0] if found else None


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class Evaluation:
    """The test rows' truth and the model's answers, for plots."""

    truth: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray | None
    learning_curve: list[tuple[int, float]]
    metric: str
    loss_curve: list[float] = field(default_factory=list)
    """Training loss per epoch, for models that learn in epochs."""


@dataclass(frozen=True)
class FeatureInput:
    """A feature as a prediction request gives it: type, whether it may be left out, default."""

    column_name: str
    data_type: str
    required: bool
    default_value: float | None


@dataclass(frozen=True)
class ForecastSetup:
    """How a forecast model reads a series: its columns, lags, spread and latest values."""

    target: str
    timestamp: str
    series: str | None
    lags: int
    sigma: float
    frequency: str | None
    history: dict[str, list[tuple[str, float]]]


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
    inputs: list[FeatureInput] = field(default_factory=list)
    forecast: ForecastSetup | None = None
    evaluation: Evaluation | None = None
    fit_seconds: float | None = None
    """Wall time of the final fit."""
    rows_used: int = 0
    """Rows the model learned from and was judged on (those with a target value)."""
    dataset_columns: list[str] = field(default_factory=list)
    """Every column of the data it learned from: a request may send any of them (the
    model reads its features and leaves the rest)."""

    @property
    def continues_training(self) -> bool:
        """Boosted trees grow on from where they stopped; other models learn again."""
        return self.algorithm in (Algorithm.XGBOOST, Algorithm.LIGHTGBM)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        predicted = self.pipeline.predict(frame[self.features])
        if self.classes is not None:
            import numpy as np

            return np.asarray(self.classes, dtype=object)[predicted.astype(int)]
        return predicted

    def predict_with_probabilities(
        self, frame: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and, for classes, their probabilities, from one pass of the pipeline."""
        if self.classes is None:
            return self.predict(frame), None
        import numpy as np

        probabilities = self.pipeline.predict_proba(frame[self.features])
        labels = np.asarray(self.classes, dtype=object)[probabilities.argmax(axis=1)]
        return labels, probabilities

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
    check_target(frame[spec.target], spec)
    return frame[spec.features], frame[spec.target]


def check_target(target: pd.Series, spec: TrainingSpec) -> None:
    """Refuse a target the problem type cannot learn: constant, or not numeric when it must be."""
    import pandas as pd

    if target.nunique() < 2:
        raise InvalidInputError(
            f"target column '{spec.target}' has fewer than two distinct values", field="columns"
        )
    if spec.problem_type is not ProblemType.CLASSIFICATION and (
        not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target)
    ):
        raise InvalidInputError(
            f"target column '{spec.target}' must be numeric for {spec.problem_type.value}",
            field="columns",
        )


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


def whole_number(value: Any) -> Any:
    """`value` as an int when it is a whole number (JSON's 684.0 is 684); anything else,
    booleans included, is given back to be refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checked_hyperparameters(
    algorithm: Algorithm, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The hyperparameters a client set, checked. MLP takes `epochs` (1-1000),
    `learning_rate` (0 < rate <= 1) and `hidden_layers` (1-10 layers of 1-4096 neurons)."""
    given = dict(given or {})
    if not given:
        return {}
    if algorithm is not Algorithm.MLP:
        raise InvalidInputError(
            f"hyperparameters are taken by the MLP algorithm, not {algorithm.value}",
            field="hyperparameters",
        )
    unknown = sorted(set(given) - set(MLP_DEFAULTS))
    if unknown:
        raise InvalidInputError(
            f"unknown hyperparameter '{unknown[0]}'; MLP takes epochs, learning_rate and "
            "hidden_layers",
            field=unknown[0],
        )
    checked: dict[str, Any] = {}
    if "epochs" in given:
        epochs = whole_number(given["epochs"])
        if not is_count(epochs) or not 1 <= epochs <= 1000:
            raise InvalidInputError(
                f"epochs must be a whole number from 1 to 1000, not {epochs!r}", field="epochs"
            )
        checked["epochs"] = epochs
    if "learning_rate" in given:
        rate = given["learning_rate"]
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not math.isfinite(rate)
            or not 0 < rate <= 1
        ):
            raise InvalidInputError(
                f"learning_rate must be a number above 0 and at most 1, not {rate!r}",
                field="learning_rate",
            )
        checked["learning_rate"] = float(rate)
    if "hidden_layers" in given:
        layers = given["hidden_layers"]
        if isinstance(layers, list | tuple):
            layers = [whole_number(n) for n in layers]
        if (
            not isinstance(layers, list)
            or not 1 <= len(layers) <= 10
            or not all(is_count(n) and 1 <= n <= 4096 for n in layers)
        ):
            raise InvalidInputError(
                f"hidden_layers must list 1 to 10 layer sizes, each a whole number from 1 to "
                f"4096, not {layers!r}",
                field="hidden_layers",
            )
        checked["hidden_layers"] = list(layers)
    return checked


def estimator(
    algorithm: Algorithm, problem: ProblemType, seed: int, params: Mapping[str, Any] | None = None
) -> Any:
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
        chosen = {**MLP_DEFAULTS, **(params or {})}
        return kind(
            hidden_layer_sizes=tuple(chosen["hidden_layers"]),
            max_iter=chosen["epochs"],
            learning_rate_init=chosen["learning_rate"],
            # Epochs a client asked for are all run; by default, stop once loss stalls.
            n_iter_no_change=chosen["epochs"] if params and "epochs" in params else 10,
            random_state=seed,
        )
    raise ValueError(f"{algorithm} is chosen among candidates, not fitted directly")


def model_pipeline(
    algorithm: Algorithm,
    problem: ProblemType,
    features: pd.DataFrame,
    seed: int,
    params: Mapping[str, Any] | None = None,
) -> Pipeline:
    from sklearn.pipeline import Pipeline

    scaled = algorithm in (Algorithm.LINEAR, Algorithm.MLP)
    return Pipeline(
        [
            ("prepare", preprocessor(features, scaled)),
            ("model", estimator(algorithm, problem, seed, params)),
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


def fit(pipeline: Pipeline, features: pd.DataFrame, labels: Any, report: Report) -> Pipeline:
    """Fit `pipeline`, reporting boosting rounds as they pass."""
    model = pipeline.named_steps["model"]
    rounds = int(model.get_params().get("n_estimators") or 0)
    name = type(model).__name__
    if name.startswith("XGB"):
        import xgboost

        class Rounds(xgboost.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                if (epoch + 1) % PROGRESS_EVERY == 0:
                    report(f"{name}: boosting round {epoch + 1}/{rounds}")
                return False

        model.set_params(callbacks=[Rounds()])
        try:
            pipeline.fit(features, labels)
        finally:
            model.set_params(callbacks=None)  # a fitted model carries no code
        return pipeline
    if name.startswith("LGBM"):

        def rounds_done(env: Any) -> None:
            if (env.iteration + 1) % PROGRESS_EVERY == 0:
                report(f"{name}: boosting round {env.iteration + 1}/{rounds}")

        pipeline.fit(features, labels, model__callbacks=[rounds_done])
        return pipeline
    return pipeline.fit(features, labels)


def train(table: pa.Table, spec: TrainingSpec, report: Report = quiet) -> TrainedModel:
    """Fit the spec's algorithm (or the best of several, for `auto`) and evaluate it on the
    held-out test rows. The same table and seed give the same model."""
    import numpy as np

    if spec.problem_type is ProblemType.FORECAST:
        from lakehouse.ml.forecasting import train_forecast

        return train_forecast(table, spec, report)
    features, target = training_frame(table, spec)
    classes: list[Any] | None = None
    labels = target.to_numpy()
    if spec.problem_type is ProblemType.CLASSIFICATION:
        classes_array, encoded = np.unique(target.astype(str).to_numpy(), return_inverse=True)
        originals = {str(v): v for v in target.unique()}
        classes = [originals[c] for c in classes_array]
        labels = encoded
    split = split_rows(len(features), spec.seed)
    model = fit_and_evaluate(spec, features, labels, classes, split, report)
    model.rows_used = len(features)
    return model


def fit_and_evaluate(
    spec: TrainingSpec,
    features: pd.DataFrame,
    labels: np.ndarray,
    classes: list[Any] | None,
    split: Split,
    report: Report,
) -> TrainedModel:
    """Choose the algorithm, fit on training and validation rows, judge on the test rows."""
    import numpy as np

    key = selection_metric(spec.problem_type)

    def fitted(algorithm: Algorithm, rows: np.ndarray) -> Pipeline:
        report(f"fitting {algorithm.value} on {len(rows)} rows")
        pipeline = model_pipeline(
            algorithm, spec.problem_type, features, spec.seed, spec.hyperparameters
        )
        return fit(pipeline, features.iloc[rows], labels[rows], report)

    def evaluate(pipeline: Pipeline, rows: np.ndarray) -> dict[str, float]:
        subset = features.iloc[rows]
        probabilities = pipeline.predict_proba(subset) if classes is not None else None
        return score(spec.problem_type, labels[rows], pipeline.predict(subset), probabilities)

    candidates: dict[str, float] = {}
    algorithm = spec.algorithm
    if algorithm is Algorithm.AUTO:
        for name in AUTO_CANDIDATES:
            candidate = Algorithm(name)
            candidates[name] = evaluate(fitted(candidate, split.train), split.validation)[key]
            report(f"{name} scored {key}={candidates[name]:.4f} on the validation rows")
        algorithm = Algorithm(max(candidates, key=lambda name: candidates[name]))
        report(f"chose {algorithm.value}")
    curve = []
    if algorithm is not Algorithm.MLP:  # a network's learning curve is its loss per epoch
        for fraction in LEARNING_CURVE:
            rows = split.train[: max(2, int(len(split.train) * fraction))]
            curve.append((len(rows), evaluate(fitted(algorithm, rows), split.validation)[key]))
    # The chosen model learns from training and validation rows; the test rows judge it.
    learned = np.concatenate([split.train, split.validation])
    started = time.perf_counter()
    pipeline = fitted(algorithm, learned)
    fit_seconds = time.perf_counter() - started
    model = judged(spec, pipeline, algorithm, features, labels, classes, split, report)
    model.candidates = candidates
    model.fit_seconds = fit_seconds
    losses = [float(v) for v in getattr(pipeline.named_steps["model"], "loss_curve_", [])]
    if model.evaluation is not None:
        model.evaluation = replace(model.evaluation, learning_curve=curve, loss_curve=losses)
    return model


def judged(
    spec: TrainingSpec,
    pipeline: Pipeline,
    algorithm: Algorithm,
    features: pd.DataFrame,
    labels: np.ndarray,
    classes: list[Any] | None,
    split: Split,
    report: Report,
    cross_validate: bool = True,
) -> TrainedModel:
    """A fitted pipeline with its metrics on the test rows."""
    import numpy as np

    test = features.iloc[split.test]
    predicted = pipeline.predict(test)
    probabilities = pipeline.predict_proba(test) if classes is not None else None
    metrics = score(spec.problem_type, labels[split.test], predicted, probabilities)
    confusion = None
    if classes is not None:
        from sklearn.metrics import confusion_matrix

        if cross_validate:
            report("cross-validating")
            learned = np.concatenate([split.train, split.validation])
            metrics.update(
                cross_validated(pipeline, features.iloc[learned], labels[learned], spec.seed)
            )
        confusion = confusion_matrix(
            labels[split.test], predicted, labels=list(range(len(classes)))
        ).tolist()
    return TrainedModel(
        pipeline=pipeline,
        algorithm=algorithm,
        problem_type=spec.problem_type,
        features=list(features.columns),
        classes=classes,
        metrics=metrics,
        confusion_matrix=confusion,
        inputs=feature_inputs(features, pipeline),
        evaluation=Evaluation(
            labels[split.test], predicted, probabilities, [], selection_metric(spec.problem_type)
        ),
    )


def continue_training(
    previous: TrainedModel, table: pa.Table, spec: TrainingSpec, report: Report = quiet
) -> TrainedModel:
    """More boosting rounds on new rows, grown on the previous version's trees. The encoding
    the previous version learned is kept, so its trees read the new rows the same way."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    features, target = training_frame(table, spec)
    features = features[previous.features]
    labels = target.to_numpy()
    if previous.classes is not None:
        index = {str(c): i for i, c in enumerate(previous.classes)}
        unknown = sorted(set(target.astype(str)) - set(index))
        if unknown:
            raise InvalidInputError(
                f"target value '{unknown[0]}' is not a class the previous version knows",
                field="dataset_id",
            )
        labels = np.array([index[str(v)] for v in target])
    split = split_rows(len(features), spec.seed)
    learned = np.concatenate([split.train, split.validation])
    prepare = previous.pipeline.named_steps["prepare"]
    before = previous.pipeline.named_steps["model"]
    after = clone(before)
    encoded = prepare.transform(features.iloc[learned])
    report(f"continuing {previous.algorithm.value} on {len(learned)} new rows")
    if previous.algorithm is Algorithm.XGBOOST:
        after.fit(encoded, labels[learned], xgb_model=before.get_booster())
    elif previous.algorithm is Algorithm.LIGHTGBM:
        after.fit(encoded, labels[learned], init_model=before.booster_)
    else:
        raise ValueError(f"{previous.algorithm.value} does not continue training")
    pipeline = Pipeline([("prepare", prepare), ("model", after)])
    model = judged(
        spec,
        pipeline,
        previous.algorithm,
        features,
        labels,
        previous.classes,
        split,
        report,
        cross_validate=False,
    )
    model.rows_used = len(features)
    return model


def feature_inputs(features: pd.DataFrame, pipeline: Pipeline) -> list[FeatureInput]:
    """Each feature's type; it is optional when training saw it missing, and then a numeric
    feature defaults to the median the model imputes."""
    from lakehouse.data.templates import ColumnType

    kinds = {"b": ColumnType.BOOLEAN, "i": ColumnType.INTEGER, "u": ColumnType.INTEGER}
    kinds |= {"f": ColumnType.FLOAT, "M": ColumnType.DATETIME}
    medians: dict[str, float] = {}
    for name, transformer, columns in pipeline.named_steps["prepare"].transformers_:
        if name == "numeric" and columns:
            statistics = transformer.named_steps["simpleimputer"].statistics_
            medians = dict(zip(columns, map(float, statistics), strict=True))
    return [
        FeatureInput(
            column_name=name,
            data_type=kinds.get(features[name].dtype.kind, ColumnType.STRING).value,
            required=not bool(features[name].isna().any()),
            default_value=medians.get(name),
        )
        for name in features.columns
    ]
