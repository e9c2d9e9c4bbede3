"""Read-only SQL: one query over the caller's own tables, or a refusal naming what is wrong;
what is let through is run as regenerated text, on the engine's names, with a LIMIT."""

from __future__ import annotations

import pytest
from sqlglot import exp

from lakehouse.lake.sql import SqlLimits, UnsafeSqlError, read_only_query

LIMITS = SqlLimits(default_limit=200, max_rows=1000, timeout_seconds=5.0)
READABLE = {"sales", "customers"}
PHYSICAL = {
    "sales": exp.table_("sales", db="t_1.silver", catalog="iceberg", quoted=True),
    "customers": exp.table_("customers", db="t_1.silver", catalog="iceberg", quoted=True),
}


def checked(sql: str, dialect: str = "duckdb") -> str:
    return read_only_query(sql, READABLE, LIMITS, dialect).sql_for(PHYSICAL)


def refusal(sql: str, dialect: str = "duckdb") -> str:
    with pytest.raises(UnsafeSqlError) as caught:
        read_only_query(sql, READABLE, LIMITS, dialect)
    assert caught.value.field == "sql"
    return caught.value.message


@pytest.mark.parametrize("dialect", ["duckdb", "trino"])
def test_a_select_reads_the_engines_tables_under_the_callers_names(dialect: str) -> None:
    sql = checked("SELECT region, sum(units) AS total FROM Sales GROUP BY region", dialect)
    assert '"iceberg"."t_1.silver"."sales" AS sales' in sql
    assert sql.endswith("LIMIT 200")
    joined = checked(
        "WITH big AS (SELECT * FROM sales WHERE units > 10) "
        "SELECT c.name, big.units FROM big JOIN customers AS c ON c.id = big.customer_id "
        "WHERE big.region IN (SELECT region FROM sales) ORDER BY 1 LIMIT 5;",
        dialect,
    )
    assert joined.count('"iceberg"."t_1.silver"."sales"') == 2
    assert '"iceberg"."t_1.silver"."customers" AS c' in joined
    assert joined.endswith("LIMIT 5") and "FROM big" in joined


def test_limits_are_added_kept_or_lowered() -> None:
    assert checked("SELECT * FROM sales LIMIT 10").endswith("LIMIT 10")
    assert checked("SELECT * FROM sales LIMIT 5000").endswith("LIMIT 1000")
    assert checked("SELECT * FROM sales LIMIT 10 + 1").endswith("LIMIT 1000")
    assert checked("SELECT 1 AS a FROM sales UNION SELECT 2 FROM customers").endswith("LIMIT 200")
    assert checked("(SELECT units FROM sales) ORDER BY 1 LIMIT 3").endswith("LIMIT 3")
    assert "'DROP TABLE x'" in checked("SELECT 'DROP TABLE x' AS s FROM sales")


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT 1; DROP TABLE sales", "Multiple statements"),
        ("DROP TABLE sales", "DROP"),
        ("DELETE FROM sales", "DELETE"),
        ("INSERT INTO sales VALUES (1)", "INSERT"),
        ("UPDATE sales SET units = 0", "UPDATE"),
        ("CREATE TABLE x AS SELECT * FROM sales", "CREATE"),
        ("ALTER TABLE sales ADD COLUMN x INT", "ALTER"),
        ("COPY sales TO '/tmp/x.csv'", "COPY"),
        ("ATTACH '/tmp/x.db'", "ATTACH"),
        ("PRAGMA database_list", "PRAGMA"),
        ("SET enable_external_access = true", "SET"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("CALL duckdb_tables()", "CALL"),
        ("SHOW TABLES", "SHOW"),
        ("DESCRIBE sales", "DESCRIBE"),
        ("WITH x AS (SHOW TABLES) SELECT * FROM x", "SHOW"),
        ("WITH d AS (DELETE FROM sales RETURNING *) SELECT * FROM d", "DELETE"),
        ("SELECT * FROM orders", "Unknown table orders"),
        ("SELECT * FROM main.sales", "Unknown table main.sales"),
        ("SELECT * FROM information_schema.tables", "Unknown table information_schema.tables"),
        ("SELECT * FROM pg_catalog.pg_tables", "Unknown table"),
        ("SELECT * FROM duckdb_tables()", "duckdb_tables"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT * FROM sales, read_parquet('x.parquet')", "read_parquet"),
        ("SELECT * FROM 'secrets.csv'", "Unknown table"),
        ("SELECT read_text('/etc/passwd') FROM sales", "read_text"),
        ("SELECT getenv('HOME') FROM sales", "getenv"),
        ("SELECT current_setting('threads')", "current_setting"),
        ("SELECT * FROM glob('/tmp/*')", "glob"),
        ("SELECT * FROM range(10)", "not allowed in FROM"),
        ("SELECT * FROM sales, LATERAL read_csv('x')", "read_csv"),
        ("WITH secret AS (SELECT * FROM secret) SELECT * FROM secret", "Unknown table secret"),
        ("SELECT * FROM (SELECT 1) AS orders, orders", "Unknown table orders"),
        ("", "empty"),
        ("SELEC * FROM sales", "Only SELECT"),
    ],
)
def test_anything_but_a_query_over_the_callers_tables_is_refused_naming_it(
    sql: str, named: str
) -> None:
    assert named in refusal(sql)


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT * FROM TABLE(system.query(query => 'SELECT 1'))", "function query"),
        ('SELECT * FROM "sales$snapshots"', "Unknown table"),
        ("SELECT * FROM system.runtime.nodes", "Unknown table"),
        ("SET SESSION query_max_run_time = '1h'", "SET"),
    ],
)
def test_trinos_own_tables_and_settings_are_refused(sql: str, named: str) -> None:
    assert named in refusal(sql, "trino")


def test_refusals_list_the_tables_one_may_query() -> None:
    assert refusal("SELECT * FROM orders").endswith("the tables you can query are customers, sales")


def test_schema_qualified_names_are_read_when_the_caller_names_schemas() -> None:
    readable = {"silver.sales", "gold.sales__stats"}
    physical = {
        "silver.sales": exp.table_("table_0", quoted=True),
        "gold.sales__stats": exp.table_("table_1", quoted=True),
    }
    query = read_only_query(
        "SELECT s.units FROM Silver.Sales AS s JOIN gold.sales__stats USING (region)",
        readable,
        LIMITS,
        "duckdb",
    )
    assert query.tables == frozenset(readable)
    sql = query.sql_for(physical)
    assert '"table_0" AS s' in sql and '"table_1" AS sales__stats' in sql
    with pytest.raises(UnsafeSqlError, match="Unknown table sales"):
        read_only_query("SELECT * FROM sales", readable, LIMITS, "duckdb")


def test_a_statement_too_deep_to_follow_is_refused() -> None:
    deep = "SELECT " + "(" * 5000 + "1" + ")" * 5000 + " FROM sales"
    assert "could not be" in refusal(deep)
