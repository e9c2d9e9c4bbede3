"""Real-time predictions: registered models loaded once, and requests checked and encoded on
arrays rather than data frames (most of a one-row prediction's cost is the frame)."""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.errors import InvalidInputError
from lakehouse.templates import FALSE_WORDS, TRUE_WORDS, ColumnType
from lakehouse.training import FeatureInput, TrainedModel

if TYPE_CHECKING:
    import numpy as np

NUMERIC_TYPES = frozenset({ColumnType.INTEGER.value, ColumnType.FLOAT.value})


@dataclass(frozen=True)
class Answer:
    prediction: Any
    probabilities: dict[str, float] | None


def _unnamed(pipeline: Any) -> Any:
    """The steps of a fitted pipeline, made to take arrays without a feature-name check.

    They were fitted on a frame; the serving path hands them arrays in the same column order.
    """
    for _, step in pipeline.steps:
        if hasattr(step, "feature_names_in_"):
            del step.feature_names_in_
    return pipeline


class ServingModel:
    """One model version ready for single-row requests."""

    def __init__(self, model: TrainedModel, version: int) -> None:
        import numpy as np

        self.model = model
        self.version = version
        self.inputs = {f.column_name: f for f in model.inputs}
        prepare = model.pipeline.named_steps["prepare"]
        estimator = model.pipeline.named_steps["model"]
        if "n_jobs" in estimator.get_params():
            estimator.set_params(n_jobs=1)  # one row: threads cost more than they give
        self.estimator = estimator
        self.blocks: list[tuple[list[str], Any, bool]] = []
        # Category spellings a client may send ("true", "1.0") mapped to the trained values.
        self.spellings: dict[str, dict[str, Any]] = {}
        for name, transformer, columns in prepare.transformers_:
            if not columns or isinstance(transformer, str):
                continue
            numeric = name == "numeric"
            self.blocks.append((list(columns), _unnamed(transformer), numeric))
            if not numeric:
                encoder = transformer.steps[-1][1]
                for column, categories in zip(columns, encoder.categories_, strict=True):
                    self.spellings[column] = {_spelling(c): c for c in categories}
        self.classes = None if model.classes is None else np.asarray(model.classes, dtype=object)

    def checked(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """The request's features as the model takes them; bad ones name their column."""
        unknown = sorted(set(features) - set(self.inputs))
        if unknown:
            raise InvalidInputError(
                f"feature '{unknown[0]}' is not an input of this model; its inputs are "
                + ", ".join(self.inputs),
                field=f"features.{unknown[0]}",
            )
        values: dict[str, Any] = {}
        for name, spec in self.inputs.items():
            value = features.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                if spec.required:
                    raise InvalidInputError(
                        f"feature '{name}' is required ({spec.data_type})",
                        field=f"features.{name}",
                    )
                values[name] = None
            else:
                values[name] = _typed(spec, value)
        return values

    def predict(self, features: Mapping[str, Any]) -> Answer:
        import numpy as np

        values = self.checked(features)
        parts = []
        for columns, transformer, numeric in self.blocks:
            if numeric:
                row = np.array(
                    [[math.nan if values[c] is None else values[c] for c in columns]], dtype=float
                )
            else:
                row = np.empty((1, len(columns)), dtype=object)
                for index, column in enumerate(columns):
                    value = values[column]
                    row[0, index] = (
                        math.nan
                        if value is None
                        else self.spellings[column].get(_spelling(value), value)
                    )
            parts.append(transformer.transform(row))
        encoded = parts[0] if len(parts) == 1 else np.hstack(parts)
        if self.classes is None:
            return Answer(_plain(self.estimator.predict(encoded)[0]), None)
        probabilities = self.estimator.predict_proba(encoded)[0]
        return Answer(
            _plain(self.classes[int(np.argmax(probabilities))]),
            {str(c): float(p) for c, p in zip(self.classes, probabilities, strict=True)},
        )


def _spelling(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON can carry."""
    return value.item() if hasattr(value, "item") else value


def _typed(spec: FeatureInput, value: Any) -> Any:
    if spec.data_type in NUMERIC_TYPES:
        if isinstance(value, bool):
            value = None
        elif isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                value = None
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        raise InvalidInputError(
            f"feature '{spec.column_name}' expects a number ({spec.data_type})",
            field=f"features.{spec.column_name}",
        )
    if spec.data_type == ColumnType.BOOLEAN.value:
        word = _spelling(value)
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise InvalidInputError(
            f"feature '{spec.column_name}' expects true or false",
            field=f"features.{spec.column_name}",
        )
    if isinstance(value, dict | list):
        raise InvalidInputError(
            f"feature '{spec.column_name}' expects a single value ({spec.data_type})",
            field=f"features.{spec.column_name}",
        )
    return value


class ModelCache:
    """Serving models by registered name; a request for a newer version replaces the older."""

    def __init__(self, fetch: Callable[[str, int, Path], Path]) -> None:
        self._fetch = fetch
        self._models: dict[str, ServingModel] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, model_name: str, version: int) -> ServingModel:
        cached = self._models.get(model_name)
        if cached is not None and cached.version == version:
            return cached
        with self._guard:
            lock = self._locks.setdefault(model_name, threading.Lock())
        with lock:  # one load per model, however many requests wait for it
            cached = self._models.get(model_name)
            if cached is None or cached.version != version:
                cached = self._load(model_name, version)
                self._models[model_name] = cached
            return cached

    def evict(self, model_name: str) -> None:
        self._models.pop(model_name, None)

    def _load(self, model_name: str, version: int) -> ServingModel:
        from lakehouse.model_files import load_model

        with tempfile.TemporaryDirectory(prefix="strata-serving-") as scratch:
            directory = self._fetch(model_name, version, Path(scratch))
            return ServingModel(load_model(directory), version)


def as_rows(values: np.ndarray) -> list[Any]:
    return [_plain(v) for v in values]
