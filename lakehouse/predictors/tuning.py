"""A predictor's hyperparameters tuned: an Optuna study over its algorithm's declared
hyperparameters, cross-validated on the rows its current version learned from. Each trial is
told as an event in the run's log, which the API streams to the client; the study is kept
with the training's MLflow run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lakehouse.errors import ConflictError, InvalidInputError
from lakehouse.ml.spec import Report, quiet
from lakehouse.predictors.records import training_spec
from lakehouse.predictors.steps import load_predictor, registered_model

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from lakehouse.ml.tuning import Tuned, Tuning
    from lakehouse.settings import Settings
    from lakehouse.store import MetadataStore

# A log line of a tuning run carrying an event: this prefix, then the event as JSON.
EVENT = "tuning event "


def event_message(event: dict[str, Any]) -> str:
    return EVENT + json.dumps(event, default=str)


def parse_event(message: str) -> dict[str, Any] | None:
    """The event a log line of a tuning run carries; None for any other line."""
    if not message.startswith(EVENT):
        return None
    try:
        event = json.loads(message[len(EVENT) :])
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def tune_predictor(
    store: MetadataStore,
    catalog: Catalog,
    settings: Settings,
    predictor_id: int,
    tuning: Tuning,
    keys: Sequence[str],
    run_id: str,
    report: Report = quiet,
) -> Tuned:
    """Tune the hyperparameters named by `keys` (the others stay as the predictor has them);
    each trial is reported as an event. The study goes to the training's MLflow run as
    `tuning/<run_id>.json`."""
    import numpy as np

    from lakehouse.ml import registry
    from lakehouse.ml.evaluation import FOLDED_ROWS, held_out
    from lakehouse.ml.tuning import search_space, tune

    predictor, _ = load_predictor(store, predictor_id)
    if predictor.model_version is None or predictor.mlflow_run_id is None:
        raise ConflictError(f"predictor {predictor_id} has no trained model", field="modelId")
    spec = training_spec(predictor)
    tuning.check(spec.problem_type)
    model = registered_model(settings, predictor)
    space = search_space(model.algorithm, spec.problem_type, keys)
    if not space:
        raise InvalidInputError(
            f"{model.algorithm.value} has no hyperparameter to tune", field="modelId"
        )
    table = catalog.load_table(predictor.tables.features.identifier).scan().to_arrow()
    data = held_out(model, table, spec)
    rows = data.learned
    if len(rows) > FOLDED_ROWS:
        rows = np.random.default_rng(spec.seed).choice(rows, FOLDED_ROWS, replace=False)
    searched = {p.key for p in space}
    fixed = {k: v for k, v in (predictor.hyperparameters or {}).items() if k not in searched}
    report(
        f"tuning {', '.join(sorted(searched))} of {model.algorithm.value} for {tuning.metric}: "
        f"{tuning.n_trials} trials ({tuning.sampler}) on {len(rows)} rows"
    )
    tuned = tune(
        model.algorithm,
        spec.problem_type,
        data.features.iloc[rows],
        data.labels[rows],
        None if model.classes is None else len(model.classes),
        tuning,
        fixed,
        space,
        lambda event: report(event_message(event)),
    )
    study = {
        "metric": tuning.metric,
        "sampler": tuning.sampler,
        "best_params": tuned.best_params,
        "best_value": tuned.best_value,
        "trials": tuned.trials,
    }
    registry.log_documents(settings, predictor.mlflow_run_id, {f"tuning/{run_id}.json": study})
    report(
        event_message(
            {"type": "tuned", "best_params": tuned.best_params, "best_value": tuned.best_value}
        )
    )
    return tuned
