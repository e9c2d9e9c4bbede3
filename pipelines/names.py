"""Names of Strata's jobs, importable without loading Dagster."""

SELFCHECK_JOB = "platform_selfcheck_job"
DATASET_INGESTION_JOB = "dataset_ingestion_job"
DATASET_PARTITIONS = "datasets"
DATASET_STATISTICS_JOB = "dataset_statistics_job"
