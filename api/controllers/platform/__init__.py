"""Runs and the platform's utilities: health and self-check."""
