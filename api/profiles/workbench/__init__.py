"""The workbench profile: the auto-ML workbench's routes under `/api` on Strata's engine."""
