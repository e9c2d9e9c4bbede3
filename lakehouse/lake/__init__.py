"""The lake: Iceberg catalog and table names, lineage columns, query engines and datalake
browsing."""
