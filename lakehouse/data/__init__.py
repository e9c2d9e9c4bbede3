"""Data as users bring it: the landing store, file formats, templates, datasets, ingestion
and validation."""
