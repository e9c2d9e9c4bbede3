"""Real-time predictions: registered models loaded once, and requests checked and encoded on
arrays rather than data frames (most of a one-row prediction's cost is the frame)."""

from __future__ import annotations

import copy
import gc
import math
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cachetools import LRUCache

from lakehouse.data.templates import FALSE_WORDS, NULL_MARKERS, TRUE_WORDS, ColumnType
from lakehouse.errors import InvalidInputError
from lakehouse.ml.spec import FeatureInput, TrainedModel

if TYPE_CHECKING:
    import numpy as np

NUMERIC_TYPES = frozenset({ColumnType.INTEGER.value, ColumnType.FLOAT.value})
ENCODINGS_KEPT = 4096  # category combinations whose encoding a model keeps
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class Answer:
    prediction: Any
    probabilities: dict[str, float] | None


def _unnamed(pipeline: Any) -> Any:
    """A copy of a fitted pipeline whose steps take arrays without a feature-name check.

    They were fitted on a frame; the serving path hands them arrays in the same column order.
    The model's own pipeline is left as it was, for the paths that hand it frames.
    """
    pipeline = copy.deepcopy(pipeline)
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
        self.accepted = frozenset(model.dataset_columns) | frozenset(self.inputs)
        prepare = model.pipeline.named_steps["prepare"]
        estimator = model.pipeline.named_steps["model"]
        if estimator.get_params().get("n_jobs") is not None:
            estimator.set_params(n_jobs=1)  # one row: threads cost more than they give
        self.estimator = estimator
        # XGBoost's scikit-learn wrapper sets and restores its global configuration on every
        # call, which costs more than the trees on one row: ask the booster directly.
        self.booster = None
        if type(estimator).__module__.startswith("xgboost"):
            self.booster = estimator.get_booster()
            self.booster.set_param({"nthread": 1})
        self.blocks: list[Block] = []
        # Category spellings a client may send ("true", "1.0") mapped to the trained values.
        self.spellings: dict[str, dict[str, Any]] = {}
        for name, transformer, columns in prepare.transformers_:
            if not columns or isinstance(transformer, str):
                continue
            self.blocks.append(Block(list(columns), _unnamed(transformer), name == "numeric"))
            if name != "numeric":
                encoder = transformer.steps[-1][1]
                for column, categories in zip(columns, encoder.categories_, strict=True):
                    self.spellings[column] = {_spelling(c): c for c in categories}
        self.classes = None if model.classes is None else np.asarray(model.classes, dtype=object)

    def checked(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """The request's features as the model takes them; bad ones name their column."""
        unknown = sorted(set(features) - self.accepted)
        if unknown:
            raise InvalidInputError(
                f"column '{unknown[0]}' is not a column of the data this model learned from; "
                "its inputs are " + ", ".join(self.inputs),
                field=f"features.{unknown[0]}",
            )
        values: dict[str, Any] = {}
        for name, spec in self.inputs.items():
            value = features.get(name)
            if value is None or (isinstance(value, str) and _missing(value, spec.data_type)):
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
        for block in self.blocks:
            if block.numeric:
                parts.append(block.numbers([values[c] for c in block.columns]))
            else:
                parts.append(
                    block.categories(
                        tuple(
                            None
                            if values[c] is None
                            else self.spellings[c].get(_spelling(values[c]), values[c])
                            for c in block.columns
                        )
                    )
                )
        encoded = parts[0] if len(parts) == 1 else np.hstack(parts)
        if self.booster is not None:
            scores = np.asarray(self.booster.inplace_predict(encoded))[0]
            if self.classes is None:
                return Answer(float(scores), None)
            # Binary models give the second class's probability only.
            probabilities = np.array([1 - scores, scores]) if scores.ndim == 0 else scores
        elif self.classes is None:
            return Answer(_plain(self.estimator.predict(encoded)[0]), None)
        else:
            probabilities = self.estimator.predict_proba(encoded)[0]
        return Answer(
            _plain(self.classes[int(np.argmax(probabilities))]),
            {str(c): float(p) for c, p in zip(self.classes, probabilities, strict=True)},
        )


class Block:
    """One block of the fitted preprocessor (numeric or categorical columns), on one row.

    Imputing a row without gaps changes nothing, so such rows skip the imputer; the encoding
    of a combination of categories is the same every time, so it is kept once computed.
    """

    def __init__(self, columns: list[str], pipeline: Any, numeric: bool) -> None:
        from sklearn.pipeline import Pipeline

        self.columns = columns
        self.pipeline = pipeline
        self.numeric = numeric
        rest = pipeline.steps[1:]
        self.after_imputing = Pipeline(rest) if rest else None
        self.encoded: LRUCache[tuple[Any, ...], np.ndarray] = LRUCache(maxsize=ENCODINGS_KEPT)

    def numbers(self, values: list[float | None]) -> np.ndarray:
        import numpy as np

        if any(v is None for v in values):
            row = np.array([[math.nan if v is None else v for v in values]], dtype=float)
            return np.asarray(self.pipeline.transform(row))
        row = np.array([values], dtype=float)
        return row if self.after_imputing is None else self.after_imputing.transform(row)

    def categories(self, values: tuple[Any, ...]) -> np.ndarray:
        import numpy as np

        found = self.encoded.get(values)
        if found is None:
            row = np.array([[math.nan if v is None else v for v in values]], dtype=object)
            found = np.asarray(self.pipeline.transform(row))
            self.encoded[values] = found
        return found


def _missing(text: str, data_type: str) -> bool:
    """A field a dataset would hold as missing: blank, or a null marker in a typed column."""
    stripped = text.strip()
    return not stripped or (data_type != ColumnType.STRING.value and stripped in NULL_MARKERS)


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
        if isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond any float
                number = math.nan
            if math.isfinite(number):
                return number
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


LOAD_LOCKS = 16


class ModelCache:
    """Serving models by registered name, the most recently used `size` of them; a request
    for a newer version replaces the older."""

    def __init__(self, fetch: Callable[[str, int, Path], Path], size: int = 64) -> None:
        self._fetch = fetch
        self._models: LRUCache[str, ServingModel] = LRUCache(maxsize=size)
        self._guard = threading.Lock()
        # Loads of one model wait for each other; a fixed set of locks serves every name.
        self._loading = [threading.Lock() for _ in range(LOAD_LOCKS)]

    def _load_lock(self, model_name: str) -> threading.Lock:
        return self._loading[hash(model_name) % LOAD_LOCKS]

    def cached(self, model_name: str, version: int) -> ServingModel | None:
        """The model if it is loaded at that version, without waiting for a load."""
        with self._guard:
            cached = self._models.get(model_name)
        return cached if cached is not None and cached.version == version else None

    def get(self, model_name: str, version: int) -> ServingModel:
        """The model at that version, loading it (once, however many ask) when needed."""
        cached = self.cached(model_name, version)
        if cached is not None:
            return cached
        with self._load_lock(model_name):
            cached = self.cached(model_name, version)
            if cached is None:
                cached = self._load(model_name, version)
                with self._guard:
                    self._models[model_name] = cached
                # The model and the libraries its load imported live on: out of the way of the
                # collector, whose full passes over them would stall every request for a while.
                gc.freeze()
            return cached

    def evict(self, model_name: str) -> None:
        """Forget a model; a load under way finishes first, so it cannot put the model back."""
        with self._load_lock(model_name), self._guard:
            self._models.pop(model_name, None)

    def _load(self, model_name: str, version: int) -> ServingModel:
        from lakehouse.model_files import load_model

        with tempfile.TemporaryDirectory(prefix="strata-serving-") as scratch:
            directory = self._fetch(model_name, version, Path(scratch))
            return ServingModel(load_model(directory), version)


class FreshCache(Generic[K, V]):
    """Values by key as `read` gives them (never None), each served until `max_age` seconds
    after its read began.

    A value past half that age is still served while one background read replaces it, so a
    steady stream of requests never waits for a read, and however many ask for a key at once,
    it is read once. Values read before `forget` or `clear` are never kept or served after it.
    """

    def __init__(
        self,
        read: Callable[[K], V],
        max_age: float,
        *,
        maxsize: int = 10_000,
        name: str = "strata-refresh",
    ) -> None:
        self._read = read
        self._max_age = max_age
        self._refresh_age = max_age / 2
        self._entries: LRUCache[K, tuple[float, V]] = LRUCache(maxsize=maxsize)
        self._reads: dict[K, Future[V]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._refresher = ThreadPoolExecutor(1, thread_name_prefix=name)

    def peek(self, key: K) -> V | None:
        """The value if it is fresh, without waiting; None when it must be read."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or now - entry[0] >= self._max_age:
                return None
            if now - entry[0] >= self._refresh_age and key not in self._reads:
                future = self._reads[key] = Future()
                self._refresher.submit(self._fill, key, future, self._generation)
            return entry[1]

    def get(self, key: K) -> V:
        """The value, read in this thread unless a fresh one is kept or a read is under way."""
        value = self.peek(key)
        if value is not None:
            return value
        with self._lock:
            future = self._reads.get(key)
            reading = future is None
            if future is None:
                future = self._reads[key] = Future()
            generation = self._generation
        if reading:
            self._fill(key, future, generation)
        return future.result()

    def forget(self, key: K) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(key, None)
            self._reads.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._reads.clear()

    def close(self) -> None:
        self._refresher.shutdown(wait=True)

    def _fill(self, key: K, future: Future[V], generation: int) -> None:
        started = time.monotonic()
        error: BaseException | None = None
        try:
            value = self._read(key)
        except BaseException as exc:  # handed to every caller waiting for this read
            error = exc
        with self._lock:
            if self._reads.get(key) is future:
                del self._reads[key]
            if generation == self._generation:
                if error is None:
                    self._entries[key] = (started, value)
                else:  # e.g. its record deleted: the old value is not served any longer
                    self._entries.pop(key, None)
        if error is None:
            future.set_result(value)
            return
        future.set_exception(error)
        if not isinstance(error, Exception):
            raise error
