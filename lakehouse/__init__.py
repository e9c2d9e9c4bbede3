"""Strata's domain core (stores, auth, catalog, ML), free of Dagster and Litestar."""
