"""What a training is asked for and what it gives back: problem types, column roles, algorithms,
the training spec, splits, evaluations and the trained model."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lakehouse.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline


SEED = 42


SPLIT = (0.70, 0.15, 0.15)


Report = Callable[[str], None]


def quiet(_: str) -> None:
    """A progress report nobody reads."""


class ProblemType(StrEnum):
    CLASSIFICATION = "Classification"
    REGRESSION = "Regression"
    FORECAST = "Forecast"
    CLUSTERING = "Clustering"  # no target: rows grouped by their features

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
    GRADIENT_BOOSTING = "GradientBoosting"  # scikit-learn's
    KNN = "KNN"
    KMEANS = "KMeans"
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
            "gradient_boosting": cls.GRADIENT_BOOSTING,
            "gbm": cls.GRADIENT_BOOSTING,
            "k_nearest_neighbors": cls.KNN,
            "k_nearest_neighbours": cls.KNN,
            "k_means": cls.KMEANS,
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


def dates_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its date and time columns as ISO 8601 text, which a model reads as
    categories, as a request sends them, and which its file keeps as plain strings (a saved
    encoder holding date objects could not be loaded as trusted)."""
    import datetime

    import pandas as pd

    changed = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            changed[name] = column.map(lambda v: None if pd.isna(v) else v.isoformat())
        elif column.dtype == object:
            first = column.first_valid_index()
            if first is not None and isinstance(
                column.loc[first], datetime.date | datetime.time | datetime.datetime
            ):
                changed[name] = column.map(
                    lambda v: v.isoformat() if hasattr(v, "isoformat") else v
                )
    return frame.assign(**changed) if changed else frame


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
    test_share: float = SPLIT[2]
    """The share of rows held out to test the model (validation keeps SPLIT's share)."""

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

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's features of `frame`, in order; the frame itself when it holds just
        them (a million rows are not copied to be reordered as they are)."""
        chosen = frame if list(frame.columns) == self.features else frame[self.features]
        return dates_as_text(chosen)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        predicted = self.pipeline.predict(self._inputs(frame))
        if self.classes is not None:
            import numpy as np

            return np.asarray(self.classes, dtype=object)[predicted.astype(int)]
        return predicted

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        if self.classes is None:
            return None
        probabilities: np.ndarray = self.pipeline.predict_proba(self._inputs(frame))
        return probabilities
