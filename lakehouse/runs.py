"""What the platform asks Dagster to run, by name: its jobs, partitions and run configs. The
core owns the names, so the API and the assets spell each once, and importing them loads no
Dagster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SELFCHECK_JOB = "platform_selfcheck_job"
DATASET_INGESTION_JOB = "dataset_ingestion_job"
DATASET_PARTITIONS = "datasets"
DATASET_STATISTICS_JOB = "dataset_statistics_job"
PREDICTOR_PARTITIONS = "predictors"
PREDICTOR_TRAINING_JOB = "predictor_training_job"
PREDICTOR_TRAINING_SHAP_JOB = "predictor_training_shap_job"
PREDICTOR_SHAP_JOB = "predictor_shap_job"
PREDICTOR_EVALUATION_JOB = "predictor_evaluation_job"
PREDICTOR_TUNING_JOB = "predictor_tuning_job"
BATCH_PREDICTION_JOB = "batch_prediction_job"
LEARNUPLET_PARTITIONS = "learnuplets"
LEDGER_LEARNING_JOB = "ledger_learning_job"
PREDUPLET_PARTITIONS = "preduplets"
LEDGER_PREDICTION_JOB = "ledger_prediction_job"

# The ops of the configured assets: `platform/selfcheck`, `batch_predictions`, `ledger_model`,
# `ledger_predictions`.
SELFCHECK_OP = "platform__selfcheck"
BATCH_PREDICTIONS_OP = "batch_predictions"
PREDICTOR_TUNING_OP = "predictor_tuning"
LEDGER_MODEL_OP = "ledger_model"
LEDGER_PREDICTIONS_OP = "ledger_predictions"


def selfcheck_run_config(rows: int = 100, hold_seconds: float = 0.0) -> dict[str, Any]:
    """The self-check job's run config: rows to write and read back, and the wait between."""
    return {"ops": {SELFCHECK_OP: {"config": {"rows": rows, "hold_seconds": hold_seconds}}}}


def batch_prediction_run_config(prediction_id: int) -> dict[str, Any]:
    """The batch prediction job's run config: the recorded prediction it scores."""
    return {"ops": {BATCH_PREDICTIONS_OP: {"config": {"prediction_id": prediction_id}}}}


def tuning_run_config(
    metric: str, n_trials: int, sampler: str, timeout_seconds: float, keys: list[str]
) -> dict[str, Any]:
    """The tuning job's run config: what the study optimises, how long, and what it tunes."""
    config = {
        "metric": metric,
        "n_trials": n_trials,
        "sampler": sampler,
        "timeout_seconds": timeout_seconds,
        "keys": keys,
    }
    return {"ops": {PREDICTOR_TUNING_OP: {"config": config}}}


@dataclass(frozen=True)
class LedgerRun:
    """The job doing one kind of the orchestrator ledger's uplets, on a partition per uplet."""

    job: str
    partitions: str
    op: str

    def run_config(self, tenant_id: str) -> dict[str, Any]:
        """The run config: the tenant of the uplet (the partition)."""
        return {"ops": {self.op: {"config": {"tenant_id": tenant_id}}}}


LEDGER_RUNS = {
    "learnuplet": LedgerRun(LEDGER_LEARNING_JOB, LEARNUPLET_PARTITIONS, LEDGER_MODEL_OP),
    "preduplet": LedgerRun(LEDGER_PREDICTION_JOB, PREDUPLET_PARTITIONS, LEDGER_PREDICTIONS_OP),
}
