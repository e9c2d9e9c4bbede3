"""Controllers, one per API module."""
