"""Hyperparameter tuning with Optuna: each trial draws the algorithm's declared
hyperparameters (`lakehouse.ml.hyperparameters`) and is scored by cross-validation on the rows
the model learned from; every trial is reported as it ends. Pure modelling: the run around it
reports and records."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.errors import InvalidInputError
from lakehouse.ml.algorithms import model_pipeline
from lakehouse.ml.hyperparameters import Hyperparameter, declared
from lakehouse.ml.metrics import cross_validation_scores
from lakehouse.ml.spec import Algorithm, ProblemType

if TYPE_CHECKING:
    import optuna
    import pandas as pd

SAMPLERS = ("tpe", "random")
MAX_TRIALS = 200
SEED = 42

# The metric a client names, the scikit-learn scorer it is (binary, then several classes),
# and whether a smaller value is better (the scorer then gives it negated).
CLASSIFICATION_METRICS = {
    "accuracy": ("accuracy", "accuracy"),
    "f1": ("f1", "f1_macro"),
    "precision": ("precision", "precision_macro"),
    "recall": ("recall", "recall_macro"),
    "roc_auc": ("roc_auc", "roc_auc_ovr"),
}
REGRESSION_METRICS = {
    "r2": "r2",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "mse": "neg_mean_squared_error",
}
SMALLER_IS_BETTER = frozenset({"rmse", "mae", "mse"})


@dataclass(frozen=True)
class Tuning:
    """What a tuning is asked for."""

    metric: str
    n_trials: int
    sampler: str = "tpe"
    timeout_seconds: float | None = 600.0

    def check(self, problem: ProblemType) -> None:
        """Refuse a tuning that cannot run, naming the field at fault."""
        known = metrics_of(problem)
        if self.metric not in known:
            raise InvalidInputError(
                f"metric '{self.metric}' is not one a {problem.value.lower()} model is tuned "
                f"for; expected one of {', '.join(known)}",
                field="metric",
            )
        if not 1 <= self.n_trials <= MAX_TRIALS:
            raise InvalidInputError(
                f"nTrials must be from 1 to {MAX_TRIALS}, not {self.n_trials}", field="nTrials"
            )
        if self.sampler not in SAMPLERS:
            raise InvalidInputError(
                f"sampler must be one of {', '.join(SAMPLERS)}, not '{self.sampler}'",
                field="sampler",
            )


def metrics_of(problem: ProblemType) -> tuple[str, ...]:
    table = CLASSIFICATION_METRICS if problem is ProblemType.CLASSIFICATION else REGRESSION_METRICS
    return tuple(table)


def scorer(metric: str, classes: int | None) -> str:
    """The scikit-learn scorer of a metric, for `classes` classes (None: a regression)."""
    if classes is None:
        return REGRESSION_METRICS[metric]
    binary, several = CLASSIFICATION_METRICS[metric]
    return binary if classes == 2 else several


def search_space(
    algorithm: Algorithm, problem: ProblemType, keys: Sequence[str] | None = None
) -> list[Hyperparameter]:
    """The declared hyperparameters a tuning draws (those of `keys` when given)."""
    return [
        p for p in declared(algorithm, problem) if p.tunable and (keys is None or p.key in keys)
    ]


def suggest(trial: optuna.Trial, parameter: Hyperparameter) -> Any:
    if parameter.kind == "select":
        return trial.suggest_categorical(parameter.key, list(parameter.options))
    low, high = parameter.search_range()
    if parameter.kind == "int":
        return trial.suggest_int(parameter.key, int(low), int(high), log=parameter.log)
    log = parameter.log and low > 0
    return trial.suggest_float(parameter.key, float(low), float(high), log=log)


@dataclass(frozen=True)
class Tuned:
    best_params: dict[str, Any]
    best_value: float
    trials: list[dict[str, Any]]


def tune(
    algorithm: Algorithm,
    problem: ProblemType,
    features: pd.DataFrame,
    labels: Any,
    classes: int | None,
    tuning: Tuning,
    fixed: Mapping[str, Any],
    space: Sequence[Hyperparameter],
    on_trial: Callable[[dict[str, Any]], None],
) -> Tuned:
    """Search `space` (the other hyperparameters as `fixed`), each trial the mean of a
    cross-validation; `on_trial` hears each trial's result as it ends. The sampler is
    seeded, so the same rows give the same trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    smaller = tuning.metric in SMALLER_IS_BETTER
    scoring = scorer(tuning.metric, classes)
    sampler: optuna.samplers.BaseSampler = (
        optuna.samplers.TPESampler(seed=SEED)
        if tuning.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=SEED)
    )
    study = optuna.create_study(direction="minimize" if smaller else "maximize", sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        params = {p.key: suggest(trial, p) for p in space}
        pipeline = model_pipeline(algorithm, problem, features, SEED, {**fixed, **params})
        scores = cross_validation_scores(
            pipeline, features, labels, SEED, scoring, classify=classes is not None
        )
        if not scores:
            raise InvalidInputError("too few rows to cross-validate a trial", field="modelId")
        mean = sum(scores) / len(scores)
        value = -mean if smaller else mean  # scorers of errors give them negated
        if not math.isfinite(value):
            raise ValueError("the trial's score is not a number")
        return value

    trials: list[dict[str, Any]] = []

    def reported(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = study.best_trial if complete else None
        event = {
            "type": "trial_result",
            "trial_number": trial.number,
            "state": trial.state.name.lower(),
            "value": trial.value,
            "params": trial.params,
            "best_value": best.value if best else None,
            "best_params": best.params if best else None,
            "n_complete": len(complete),
            "n_total": tuning.n_trials,
        }
        trials.append(event)
        on_trial(event)

    study.optimize(
        objective,
        n_trials=tuning.n_trials,
        timeout=tuning.timeout_seconds,
        callbacks=[reported],
        catch=(ValueError,),
    )
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        raise InvalidInputError(
            "no trial completed: every hyperparameter draw failed to train", field="modelId"
        )
    return Tuned(dict(study.best_params), float(study.best_value), trials)
