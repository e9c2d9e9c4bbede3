"""Dagster resources: thin wrappers around lakehouse factories."""

from resources.lakehouse import LakehouseResource

__all__ = ["LakehouseResource"]
