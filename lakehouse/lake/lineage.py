"""The bookkeeping columns every row carries from bronze on: which file and which row of it it
came from, and when it was ingested."""

FILE_ID = "_file_id"
ROW_NUMBER = "_row_number"
INGESTED_AT = "_ingested_at"
# What names a row across layers: its file and its row number in that file.
LINEAGE = (FILE_ID, ROW_NUMBER)
