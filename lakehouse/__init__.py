"""Strata's domain core: settings, metadata store, auth, catalog and ML, free of Dagster and Litestar."""
