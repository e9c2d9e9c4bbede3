"""The bookkeeping columns Strata adds to rows: which file and which row of it a row came from
and when it was ingested (from bronze on), why a rejected row failed, and which dataset a
predictor's feature row came from. A file may not bring columns of these names."""

FILE_ID = "_file_id"
ROW_NUMBER = "_row_number"
INGESTED_AT = "_ingested_at"
# What names a row across layers: its file and its row number in that file.
LINEAGE = (FILE_ID, ROW_NUMBER)
FAILED_EXPECTATIONS = "_failed_expectations"
DATASET_ID = "_dataset_id"
BOOKKEEPING = frozenset({FILE_ID, ROW_NUMBER, INGESTED_AT, FAILED_EXPECTATIONS, DATASET_ID})
