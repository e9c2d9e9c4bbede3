"""Templates, datasets and their files, and datalake browsing."""
