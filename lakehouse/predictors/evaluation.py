"""A predictor's evaluation after training: its current model version looked at closely on
the rows it was judged on, the documents kept with the training's MLflow run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakehouse.errors import ConflictError, failure_message
from lakehouse.ml.spec import ProblemType, Report, quiet
from lakehouse.predictors.records import record_state, training_spec
from lakehouse.predictors.steps import load_predictor, registered_model
from lakehouse.states import WorkState

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from lakehouse.ml.spec import TrainedModel
    from lakehouse.settings import Settings
    from lakehouse.store import MetadataStore

# Where the documents are, among the training run's artifacts.
EVALUATION = "evaluation/evaluation.json"
SHAP = "evaluation/shap.json"
ERROR_ANALYSIS = "evaluation/error_analysis.json"


def evaluate_predictor(
    store: MetadataStore,
    catalog: Catalog,
    settings: Settings,
    predictor_id: int,
    report: Report = quiet,
) -> dict[str, Any]:
    """Evaluate the predictor's current version on its test rows, explain a sample of them
    and analyse its errors; the documents go to the training's MLflow run. Answers the
    evaluation's test metrics."""
    from lakehouse.ml import evaluation, registry

    predictor, _ = load_predictor(store, predictor_id)
    if predictor.model_version is None or predictor.mlflow_run_id is None:
        raise ConflictError(f"predictor {predictor_id} has no trained model", field="train_id")
    if predictor.problem_type == ProblemType.FORECAST.value:
        raise ConflictError("a forecast is evaluated by its training", field="train_id")
    model = registered_model(settings, predictor)
    table = catalog.load_table(predictor.tables.features.identifier).scan().to_arrow()
    if predictor.problem_type == ProblemType.CLUSTERING.value:
        report(f"profiling the clusters of version {predictor.model_version}")
        documents = clustering_documents(model, table)
    else:
        spec = training_spec(predictor)
        data = evaluation.held_out(model, table, spec)
        report(f"evaluating version {predictor.model_version} on {len(data.split.test)} rows")
        evaluated = evaluation.evaluate(model, data, spec.seed)
        report(f"evaluated in {evaluated['computeMs']} ms; explaining a sample with SHAP")
        documents = {EVALUATION: evaluated}
        try:
            documents[SHAP] = evaluation.shap_document(model, data)
        except Exception as exc:  # SHAP explains not every model: the evaluation stands
            report(f"no SHAP values: {failure_message(exc)}")
        documents[ERROR_ANALYSIS] = evaluation.error_analysis(model, data)
    registry.log_documents(settings, predictor.mlflow_run_id, documents)
    record_state(
        store, predictor_id, shap=True, evaluation_status=WorkState.COMPLETED, evaluation_error=None
    )
    metrics: dict[str, Any] = documents[EVALUATION]["metrics"]
    return metrics


def clustering_documents(model: TrainedModel, table: pa.Table) -> dict[str, Any]:
    """A clustering's evaluation: its metrics and each cluster's size and centre; it makes no
    errors to analyse."""
    import time
    from datetime import UTC, datetime

    from lakehouse.ml.clustering import cluster_profile, grouped_sizes

    started = time.perf_counter()
    profile = cluster_profile(model, table.select(model.features).to_pandas())
    evaluated = {
        "taskType": "clustering",
        "timestamp": datetime.now(UTC).isoformat(),
        "metrics": grouped_sizes(model.metrics),
        **profile,
        "computeMs": int((time.perf_counter() - started) * 1000),
    }
    return {
        EVALUATION: evaluated,
        ERROR_ANALYSIS: {
            "available": False,
            "reason": "a clustering has no true labels, so no errors to analyse",
        },
    }
