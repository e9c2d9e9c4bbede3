"""The jobs profile: train a classifier from a CSV and follow it as a job, score a CSV, merge
two CSVs; with the main API's bearer tokens and tenancy."""
