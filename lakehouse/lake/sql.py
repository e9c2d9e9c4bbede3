"""Read-only SQL from users, made safe to run: one SELECT (or WITH ... SELECT, or a set
operation of them) over the tables the caller may read, named as the caller knows them.

The statement is parsed with sqlglot, refused with the offending part named when it is
anything else, reads a table it was not given, calls a table function or a function that
reads files or the environment; its table names are rewritten to the engine's own, and a
LIMIT is added or lowered so that at most `max_rows` rows come back. The engine runs the
regenerated text, never the text as sent.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import traverse_scope

from lakehouse.errors import InvalidInputError

# "Falling back to parsing as a 'Command'" is an answer to give, not a warning to log.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# Functions refused anywhere in a query: they read files, other databases, the environment
# or the engine's own state. Families by prefix.
DENIED_FUNCTIONS = frozenset(
    {
        "getenv",
        "current_setting",
        "current_query",
        "write_log",
        "glob",
        "query",
        "query_table",
        "sniff_csv",
        "delta_scan",
        "st_read",
        "json_execute_serialized_sql",
        "checkpoint",
        "force_checkpoint",
        "enable_logging",
        "enable_profiling",
        "which_secret",
        "load_extension",
    }
)
DENIED_PREFIXES = (
    "read_",
    "duckdb_",
    "pragma_",
    "parquet_",
    "iceberg_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "pg_",
)
DENIED_NODES = (exp.ReadCSV, exp.ReadParquet)
SNIPPET = 60


class UnsafeSqlError(InvalidInputError):
    """A statement that is not one read-only query over the caller's tables."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="sql")


@dataclass(frozen=True)
class SqlLimits:
    default_limit: int
    max_rows: int
    timeout_seconds: float


@dataclass(frozen=True)
class ReadOnlyQuery:
    """A checked query: `tables` are the caller's names of the tables it reads."""

    tree: exp.Query
    tables: frozenset[str]
    dialect: str

    def sql_for(self, physical: Mapping[str, exp.Table]) -> str:
        """The query as the engine runs it: each of the caller's names read from `physical`,
        aliased to the table's own name when it has no alias, so that `sales.units` still
        resolves (a schema-qualified column, `silver.sales.units`, does not)."""
        tree = self.tree.copy()
        for table in tree.find_all(exp.Table):
            name = table.meta.get(CALLERS)
            if name is None:
                continue
            target = physical[name]
            if not table.alias:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
            for key in ("this", "db", "catalog"):
                part = target.args.get(key)
                table.set(key, part.copy() if part is not None else None)
        return tree.sql(dialect=self.dialect, comments=False)


CALLERS = "strata_callers_table"


def _snippet(node: exp.Expr, dialect: str) -> str:
    text = node.sql(dialect=dialect)
    return text if len(text) <= SNIPPET else f"{text[:SNIPPET]}..."


def _function_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _first_word(sql: str, dialect: str) -> str:
    from sqlglot.dialects.dialect import Dialect

    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except (ParseError, TokenError):
        tokens = []
    if tokens:
        return tokens[0].text.upper()
    return sql.split(None, 1)[0].upper() if sql.strip() else ""


def _statement_kind(tree: exp.Expr, sql: str, dialect: str) -> str:
    if isinstance(tree, exp.Command):  # LOAD, CALL, EXPLAIN, RESET, VACUUM ...
        return str(tree.this).upper()
    if isinstance(tree, exp.Condition):  # CHECKPOINT parses as a column
        return _first_word(sql, dialect)
    return tree.key.upper()  # INSERT, CREATE, COPY, ATTACH, PRAGMA, SET, SHOW, DESCRIBE ...


def read_only_query(
    sql: str, readable: Collection[str], limits: SqlLimits, dialect: str
) -> ReadOnlyQuery:
    """`sql` checked as `_checked` does; a statement too deep or too odd for the parser to
    follow (whatever the parser raises of it) is refused as well, never let through."""
    try:
        return _checked(sql, readable, limits, dialect)
    except UnsafeSqlError:
        raise
    except (SqlglotError, RecursionError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise UnsafeSqlError(f"The query could not be checked: {str(exc)[:200]}") from exc


def _checked(sql: str, readable: Collection[str], limits: SqlLimits, dialect: str) -> ReadOnlyQuery:
    """`sql` checked to be one read-only query over tables named in `readable` (`sales`, or
    `silver.sales` where the caller names schemas too; matched without regard to case), with
    a LIMIT of at most `limits.max_rows` (`limits.default_limit` when none)."""
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        word = _first_word(sql, dialect)
        if word not in {"SELECT", "WITH", "FROM", "TABLE", "(", "VALUES"}:
            raise UnsafeSqlError(f"Only SELECT queries are allowed, not {word}") from exc
        errors = exc.errors if isinstance(exc, ParseError) else []
        detail = errors[0]["description"] if errors else str(exc)
        raise UnsafeSqlError(f"The query could not be parsed: {detail}") from exc
    if len(statements) != 1:
        raise UnsafeSqlError(
            f"Multiple statements are not allowed: send one query, not {len(statements)}"
            if statements
            else "The query is empty"
        )
    tree = statements[0]
    # "(SELECT ...) ORDER BY 1 LIMIT 5" is a parenthesised query carrying its own modifiers.
    top = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if not isinstance(top, exp.Select | exp.SetOperation):
        raise UnsafeSqlError(
            f"Only SELECT queries are allowed, not {_statement_kind(top, sql, dialect)}"
        )
    for node in tree.find_all(exp.DML, exp.DDL, exp.Command, exp.Pragma, exp.Set, exp.Copy):
        raise UnsafeSqlError(f"{node.key.upper()} is not allowed in a query")
    # A parenthesised body may hold any statement: WITH x AS (SHOW TABLES) would run.
    for node in tree.find_all(exp.Subquery, exp.CTE):
        if not isinstance(node.this, exp.Query | exp.Table | exp.Values | exp.Pivot):
            raise UnsafeSqlError(f"{node.this.key.upper()} is not allowed inside a query")
    for func in tree.find_all(exp.Func):
        name = _function_name(func)
        if (
            isinstance(func, DENIED_NODES)
            or name in DENIED_FUNCTIONS
            or name.startswith(DENIED_PREFIXES)
        ):
            raise UnsafeSqlError(
                f"The function {name} is not allowed: it reads outside your tables"
            )
    for source in tree.find_all(exp.From, exp.Join, exp.Lateral):
        allowed: tuple[type[exp.Expr], ...] = (
            (exp.Subquery,)
            if isinstance(source, exp.Lateral)
            else (exp.Table, exp.Subquery, exp.Lateral, exp.Values)
        )
        if not isinstance(source.this, allowed):
            raise UnsafeSqlError(
                f"{_snippet(source.this, dialect)} is not allowed in FROM: read your tables"
            )
    # Table names match without regard to case, as in the engines; output column names keep
    # theirs.
    for node in tree.find_all(exp.Table, exp.CTE):
        name = node.this if isinstance(node, exp.Table) else node.args["alias"].this
        if isinstance(name, exp.Identifier):
            name.set("this", name.name.lower())
    references: set[int] = set()  # tables that name a CTE in their scope
    for scope in traverse_scope(tree):
        for table in scope.tables:
            qualified = table.args.get("db") or table.args.get("catalog")
            if not qualified and table.name in scope.cte_sources:
                references.add(id(table))
    readable = {name.lower() for name in readable}
    tables = set()
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise UnsafeSqlError(
                f"{_snippet(table.this, dialect)} is not allowed in FROM: read your tables"
            )
        if id(table) in references:
            continue
        name = ".".join(part.name.lower() for part in table.parts)
        if name not in readable:
            known = ", ".join(sorted(readable)) or "none yet"
            raise UnsafeSqlError(
                f"Unknown table {_snippet(table, dialect)}: the tables you can query are {known}"
            )
        table.meta[CALLERS] = name
        tables.add(name)
    return ReadOnlyQuery(_limited(tree, limits), frozenset(tables), dialect)


def _limited(tree: exp.Expr, limits: SqlLimits) -> exp.Query:
    """The query with a LIMIT: the default when it has none, at most `max_rows`."""
    assert isinstance(tree, exp.Query)
    limit = tree.args.get("limit")
    if limit is None:
        return tree.limit(limits.default_limit)
    options = limit.args.get("limit_options")
    plain = options is None or not (options.args.get("percent") or options.args.get("with_ties"))
    count = limit.args.get("count") if isinstance(limit, exp.Fetch) else limit.expression
    if plain and isinstance(count, exp.Literal) and count.is_int:
        return tree if int(count.name) <= limits.max_rows else tree.limit(limits.max_rows)
    return tree.limit(limits.max_rows)
