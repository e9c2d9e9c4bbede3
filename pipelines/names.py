"""Names of Strata's jobs, importable without loading Dagster."""

SELFCHECK_JOB = "platform_selfcheck_job"
