"""Each algorithm's hyperparameters, declared once: their kind, bounds and default. The same
declaration checks what a client sets, describes the parameters a model template offers, and
is the space a tuning searches."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lakehouse.errors import InvalidInputError
from lakehouse.ml.spec import Algorithm, ProblemType

Kind = Literal["int", "float", "select", "int_list"]


def whole_number(value: Any) -> Any:
    """`value` as an int when it is a whole number (JSON's 684.0 is 684); anything else,
    booleans included, is given back to be refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Hyperparameter:
    key: str
    label: str
    kind: Kind
    default: Any
    low: float | None = None
    high: float | None = None
    options: tuple[str, ...] = ()
    above_low: bool = False
    """The low bound itself is left out (a rate above 0)."""
    log: bool = False
    """Searched on a log scale when tuned."""
    nullable: bool = False
    """`null` is a value too (no depth limit)."""
    search: tuple[float, float] | None = None
    """The range a tuning searches, where it is narrower than the bounds (fewer trees than
    the most a training may ask for); None: the bounds."""

    @property
    def tunable(self) -> bool:
        """A tuning searches numbers and options, not lists of layer sizes."""
        return self.kind in ("int", "float", "select")

    def search_range(self) -> tuple[float, float]:
        """The low and high a tuning draws from (a bound left out is just above it)."""
        if self.search is not None:
            return self.search
        assert self.low is not None and self.high is not None
        low = self.low
        if self.above_low:
            low = self.low + 1e-4 if self.kind == "float" else self.low + 1
        return low, self.high

    def check(self, value: Any) -> Any:
        """The value as the estimator takes it; a value outside the declaration is refused,
        naming the key and what it takes."""
        if value is None and self.nullable:
            return None
        if self.kind == "select":
            if value not in self.options:
                raise self._wrong(value, f"one of {', '.join(self.options)}")
            return value
        if self.kind == "int_list":
            items = [whole_number(n) for n in value] if isinstance(value, list | tuple) else None
            if (
                items is None
                or not 1 <= len(items) <= 10
                or not all(_is_count(n) and self._within(n) for n in items)
            ):
                raise self._wrong(value, f"a list of 1 to 10 whole numbers from {self._bounds()}")
            return items
        number = whole_number(value) if self.kind == "int" else value
        fits = _is_count(number) if self.kind == "int" else _is_number(number)
        if not fits or not self._within(number):
            what = "a whole number" if self.kind == "int" else "a number"
            raise self._wrong(value, f"{what} {self._bounds()}")
        return float(number) if self.kind == "float" else number

    def document(self) -> dict[str, Any]:
        """As a model template lists it: key, label, type, default and bounds or options."""
        shown: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "type": {"int": "number", "float": "number", "select": "select"}.get(
                self.kind, "array"
            ),
            "default": self.default,
        }
        if self.low is not None:
            shown["min"] = self.low
        if self.high is not None:
            shown["max"] = self.high
        if self.kind == "int":
            shown["step"] = 1
        if self.options:
            shown["options"] = list(self.options)
        return shown

    def _within(self, number: float) -> bool:
        low_ok = self.low is None or (number > self.low if self.above_low else number >= self.low)
        return low_ok and (self.high is None or number <= self.high)

    def _bounds(self) -> str:
        low = "above" if self.above_low else "from"
        return f"{low} {self.low:g} to {self.high:g}" if self.high is not None else ""

    def _wrong(self, value: Any, expected: str) -> InvalidInputError:
        return InvalidInputError(f"{self.key} must be {expected}, not {value!r}", field=self.key)


def _p(key: str, label: str, kind: Kind, default: Any, **bounds: Any) -> Hyperparameter:
    return Hyperparameter(key, label, kind, default, **bounds)


TREES = _p(
    "n_estimators", "Number of trees", "int", 300, low=10, high=2000, log=True, search=(50, 500)
)
RATE = _p(
    "learning_rate",
    "Learning rate",
    "float",
    0.05,
    low=0.0,
    high=1.0,
    above_low=True,
    log=True,
    search=(0.005, 0.5),
)
BOTH = (ProblemType.CLASSIFICATION, ProblemType.REGRESSION)

# Per algorithm and problem type: what may be set, and its default.
HYPERPARAMETERS: dict[tuple[Algorithm, ProblemType], tuple[Hyperparameter, ...]] = {}
for _problem in BOTH:
    HYPERPARAMETERS[(Algorithm.XGBOOST, _problem)] = (
        TREES,
        RATE,
        _p("max_depth", "Maximum depth", "int", 4, low=1, high=16, search=(2, 10)),
        _p("subsample", "Row subsample", "float", 1.0, low=0.1, high=1.0),
    )
    HYPERPARAMETERS[(Algorithm.LIGHTGBM, _problem)] = (
        TREES,
        RATE,
        _p("num_leaves", "Leaves per tree", "int", 31, low=2, high=512, log=True, search=(8, 256)),
    )
    HYPERPARAMETERS[(Algorithm.RANDOM_FOREST, _problem)] = (
        TREES,
        _p(
            "max_depth", "Maximum depth", "int", None, low=1, high=64, nullable=True, search=(2, 32)
        ),
        _p("min_samples_split", "Minimum samples to split", "int", 2, low=2, high=50),
    )
    HYPERPARAMETERS[(Algorithm.GRADIENT_BOOSTING, _problem)] = (
        _p(
            "n_estimators",
            "Number of stages",
            "int",
            100,
            low=10,
            high=1000,
            log=True,
            search=(50, 300),
        ),
        _p(
            "learning_rate",
            "Learning rate",
            "float",
            0.1,
            low=0.0,
            high=1.0,
            above_low=True,
            log=True,
        ),
        _p("max_depth", "Maximum depth", "int", 3, low=1, high=16),
    )
    HYPERPARAMETERS[(Algorithm.KNN, _problem)] = (
        _p("n_neighbors", "Neighbours", "int", 5, low=1, high=200, search=(1, 50)),
        _p("weights", "Weighting", "select", "uniform", options=("uniform", "distance")),
    )
    HYPERPARAMETERS[(Algorithm.MLP, _problem)] = (
        _p("epochs", "Epochs", "int", 500, low=1, high=1000, search=(50, 300)),
        _p(
            "learning_rate",
            "Learning rate",
            "float",
            0.001,
            low=0.0,
            high=1.0,
            above_low=True,
            log=True,
        ),
        _p("hidden_layers", "Hidden layer sizes", "int_list", [64, 32], low=1, high=4096),
    )
HYPERPARAMETERS[(Algorithm.LINEAR, ProblemType.CLASSIFICATION)] = (
    _p(
        "C",
        "Inverse regularisation",
        "float",
        1.0,
        low=0.0,
        high=1000.0,
        above_low=True,
        log=True,
        search=(0.001, 100.0),
    ),
    _p("max_iter", "Maximum iterations", "int", 2000, low=100, high=10000, search=(500, 3000)),
)
HYPERPARAMETERS[(Algorithm.KMEANS, ProblemType.CLUSTERING)] = (
    _p("n_clusters", "Clusters", "int", 3, low=2, high=20, search=(2, 10)),
    _p("max_iter", "Maximum iterations", "int", 300, low=10, high=1000),
)
HYPERPARAMETERS[(Algorithm.LINEAR, ProblemType.REGRESSION)] = (
    _p(
        "alpha", "Regularisation (0: none)", "float", 1.0, low=0.0, high=1000.0, search=(0.0, 100.0)
    ),
)


def declared(algorithm: Algorithm, problem: ProblemType) -> tuple[Hyperparameter, ...]:
    """What the algorithm takes for the problem; a forecast learns as a regression does."""
    if problem is ProblemType.FORECAST:
        problem = ProblemType.REGRESSION
    return HYPERPARAMETERS.get((algorithm, problem), ())


def checked_hyperparameters(
    algorithm: Algorithm, problem: ProblemType, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The hyperparameters a client set, each checked against its declaration; one the
    algorithm does not take is refused, naming those it does."""
    given = dict(given or {})
    if not given:
        return {}
    if algorithm is Algorithm.AUTO:
        raise InvalidInputError(
            "hyperparameters need an algorithm: `auto` tries several with their defaults",
            field="hyperparameters",
        )
    known = {parameter.key: parameter for parameter in declared(algorithm, problem)}
    for key in given:
        if key not in known:
            takes = ", ".join(known) or "none"
            raise InvalidInputError(
                f"unknown hyperparameter '{key}' for {algorithm.value}; it takes {takes}",
                field=key,
            )
    return {key: known[key].check(value) for key, value in given.items()}


def with_defaults(
    algorithm: Algorithm, problem: ProblemType, chosen: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Every hyperparameter of the algorithm: the chosen ones, the defaults for the rest."""
    return {p.key: p.default for p in declared(algorithm, problem)} | dict(chosen or {})
