"""The names the core asks Dagster for are the ones its definitions serve."""

from __future__ import annotations

import dagster as dg
import pytest

from lakehouse import runs
from pipelines.definitions import defs


@pytest.mark.parametrize(
    "job_name",
    [
        runs.SELFCHECK_JOB,
        runs.DATASET_INGESTION_JOB,
        runs.DATASET_STATISTICS_JOB,
        runs.PREDICTOR_TRAINING_JOB,
        runs.PREDICTOR_TRAINING_SHAP_JOB,
        runs.PREDICTOR_SHAP_JOB,
        runs.BATCH_PREDICTION_JOB,
        runs.LEDGER_LEARNING_JOB,
        runs.LEDGER_PREDICTION_JOB,
    ],
)
def test_every_job_name_is_a_defined_job(job_name: str) -> None:
    assert defs.resolve_job_def(job_name).name == job_name


def test_partitioned_jobs_use_the_named_partitions() -> None:
    for job_name, partitions in [
        (runs.DATASET_INGESTION_JOB, runs.DATASET_PARTITIONS),
        (runs.DATASET_STATISTICS_JOB, runs.DATASET_PARTITIONS),
        (runs.PREDICTOR_TRAINING_JOB, runs.PREDICTOR_PARTITIONS),
        (runs.BATCH_PREDICTION_JOB, runs.PREDICTOR_PARTITIONS),
        *[(ledger.job, ledger.partitions) for ledger in runs.LEDGER_RUNS.values()],
    ]:
        definition = defs.resolve_job_def(job_name).partitions_def
        assert isinstance(definition, dg.DynamicPartitionsDefinition)
        assert definition.name == partitions


@pytest.mark.parametrize(
    ("job_name", "run_config", "op", "config"),
    [
        (
            runs.SELFCHECK_JOB,
            runs.selfcheck_run_config(rows=7, hold_seconds=0.5),
            runs.SELFCHECK_OP,
            {"rows": 7, "hold_seconds": 0.5},
        ),
        (
            runs.BATCH_PREDICTION_JOB,
            runs.batch_prediction_run_config(42),
            runs.BATCH_PREDICTIONS_OP,
            {"prediction_id": 42},
        ),
        *[
            (ledger.job, ledger.run_config("tenant-1"), ledger.op, {"tenant_id": "tenant-1"})
            for ledger in runs.LEDGER_RUNS.values()
        ],
    ],
)
def test_run_configs_are_valid_for_their_jobs(
    job_name: str, run_config: dict[str, object], op: str, config: dict[str, object]
) -> None:
    job = defs.resolve_job_def(job_name)
    assert op in [node.name for node in job.nodes]
    validated = dg.validate_run_config(job, run_config)
    assert validated["ops"][op]["config"] == config


def test_a_run_config_for_another_op_is_refused() -> None:
    job = defs.resolve_job_def(runs.SELFCHECK_JOB)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, runs.batch_prediction_run_config(1))
