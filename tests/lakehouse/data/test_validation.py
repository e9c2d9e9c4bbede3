"""Silver validation: typing, defaults, Great Expectations rules, rejects and error reports."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from lakehouse.data.inference import inferred_specs
from lakehouse.data.templates import ColumnInput, ColumnType, check_columns
from lakehouse.data.validation import CAST_FAILED, validate_rows
from lakehouse.lake.lineage import FAILED_EXPECTATIONS


def bronze(columns: dict[str, list[str | None]], file_ids: list[int] | None = None) -> pa.Table:
    height = len(next(iter(columns.values())))
    data: dict[str, list[object]] = {name: list(values) for name, values in columns.items()}
    ids = list(file_ids or [1] * height)
    data["_file_id"] = list(ids)
    data["_row_number"] = [ids[: i + 1].count(ids[i]) for i in range(height)]
    return pa.table(data)


def test_rows_are_typed_defaulted_and_split() -> None:
    specs = check_columns(
        [
            ColumnInput("id", "int", required=True),
            ColumnInput("amount", "float", default_value="0", min_value="0", max_value="100"),
            ColumnInput("plan", "string", allowed_values=["basic", "pro"]),
            ColumnInput("day", "date"),
            ColumnInput("code", "string", regex=r"^[A-Z]{2}\d$"),
        ]
    )
    rows = bronze(
        {
            "id": ["1", "2", "x", "4", "", "6"],
            "Amount": ["10.5", "", "3", "250", "1", "2"],
            "plan": ["basic", "pro", "basic", "basic", "pro", "gold"],
            "day": ["2025-01-01", "2025-02-30", "2025-01-03", None, "2025-01-05", "2025-01-06"],
            "code": ["AB1", "AB2", "AB3", "AB4", "AB5", "ab6"],
        },
        file_ids=[1, 1, 1, 2, 2, 2],
    )
    outcome = validate_rows(rows, specs)
    assert outcome.total_rows == 6
    assert outcome.passed_rows == 1
    silver = outcome.silver.to_pylist()
    assert silver == [
        {
            "id": 1,
            "amount": 10.5,
            "plan": "basic",
            "day": date(2025, 1, 1),
            "code": "AB1",
            "_file_id": 1,
            "_row_number": 1,
        }
    ]
    rejects = {
        (r["_file_id"], r["_row_number"]): r[FAILED_EXPECTATIONS]
        for r in outcome.rejects.to_pylist()
    }
    assert "day" in rejects[(1, 2)] and CAST_FAILED in rejects[(1, 2)]
    assert "expect_column_values_to_match_regex(id)" in rejects[(1, 3)]
    assert "expect_column_values_to_be_between(amount)" in rejects[(2, 1)]
    assert "expect_column_values_to_not_be_null(id)" in rejects[(2, 2)]
    assert "expect_column_values_to_be_in_set(plan)" in rejects[(2, 3)]
    assert "expect_column_values_to_match_regex(code)" in rejects[(2, 3)]
    assert outcome.usability == 1 / 6

    report = outcome.file_report(2)
    assert report["failed_rows"] == 3
    between = next(
        f
        for f in report["failed_expectations"]
        if f["expectation"] == "expect_column_values_to_be_between"
    )
    assert between == {
        "column": "amount",
        "expectation": "expect_column_values_to_be_between",
        "failed_count": 1,
        "samples": [{"row_number": 1, "value": "250"}],
    }
    assert outcome.file_report(1)["failed_rows"] == 2


def test_missing_template_column_is_a_column_level_failure() -> None:
    specs = check_columns([ColumnInput("id", "int"), ColumnInput("absent", "string")])
    outcome = validate_rows(bronze({"id": ["1", "2"]}), specs)
    assert outcome.passed_rows == 2
    assert [(f.column, f.expectation) for f in outcome.column_failures] == [
        ("absent", "expect_column_to_exist")
    ]


def test_failures_keep_to_their_own_columns() -> None:
    # A column named like an expectation, and one named like the typed values of another.
    specs = check_columns(
        [
            ColumnInput("x", "int", min_value="0", max_value="3"),
            ColumnInput("x (typed)", "string", regex="^[a-z]$"),
            ColumnInput("e", "int"),
        ]
    )
    rows = bronze({"x": ["1", "5", "2"], "x (typed)": ["a", "b", "C"], "e": ["1", "2", "3"]})
    outcome = validate_rows(rows, specs)
    assert outcome.silver.column("x").to_pylist() == [1]
    assert outcome.rejects.column(FAILED_EXPECTATIONS).to_pylist() == [
        "expect_column_values_to_be_between(x)",
        "expect_column_values_to_match_regex(x (typed))",
    ]
    report = outcome.file_report(1)["failed_expectations"]
    assert sorted((f["column"], f["samples"]) for f in report) == [
        ("x", [{"row_number": 2, "value": "5"}]),
        ("x (typed)", [{"row_number": 3, "value": "C"}]),
    ]


def test_padding_around_values_is_not_a_cast_failure() -> None:
    specs = check_columns([ColumnInput("n", "int"), ColumnInput("ok", "bool")])
    rows = bronze({"n": [" 1", "2\t", "\xa03\xa0", "\r4\n"], "ok": [" TRUE", "no ", "Y", "0"]})
    outcome = validate_rows(rows, specs)
    assert outcome.silver.column("n").to_pylist() == [1, 2, 3, 4]
    assert outcome.silver.column("ok").to_pylist() == [True, False, True, False]


def test_types_are_inferred_without_a_template() -> None:
    rows = bronze(
        {
            "n": ["1", "2"],
            "x": ["1.5", ""],
            "ok": ["yes", "no"],
            "d": ["2025-01-01", "2025-01-02"],
            "s": ["a", "1"],
        }
    )
    kinds = {s.column_name: s.data_type for s in inferred_specs(rows)}
    assert kinds == {
        "n": ColumnType.INTEGER,
        "x": ColumnType.FLOAT,
        "ok": ColumnType.BOOLEAN,
        "d": ColumnType.DATE,
        "s": ColumnType.STRING,
    }
    outcome = validate_rows(rows, inferred_specs(rows))
    assert outcome.passed_rows == 2 and outcome.rejects.num_rows == 0
    assert outcome.silver.column("ok").to_pylist() == [True, False]


def test_blank_fields_and_null_markers_are_missing_values() -> None:
    specs = check_columns(
        [
            ColumnInput("n", "int", default_value="-1"),
            ColumnInput("x", "float", required=True),
            ColumnInput("flag", "bool"),
            ColumnInput("day", "date"),
            ColumnInput("note", "string"),
        ]
    )
    rows = bronze(
        {
            "n": ["1", " ", "NA", "null"],
            "x": ["1.5", "2", "NaN", "3"],
            "flag": ["yes", "N/A", "", "None"],
            "day": ["2025-01-01", "NULL", "\t", "2025-01-04"],
            "note": ["NA", "  ", "", "ok"],
        }
    )
    outcome = validate_rows(rows, specs)
    # Only `required` fails on a gap: row 3 lacks x.
    assert outcome.rejects.column("_row_number").to_pylist() == [3]
    assert outcome.silver.select(["n", "flag", "day", "note"]).to_pylist() == [
        {"n": 1, "flag": True, "day": date(2025, 1, 1), "note": "NA"},
        {"n": -1, "flag": None, "day": None, "note": None},
        {"n": -1, "flag": None, "day": date(2025, 1, 4), "note": "ok"},
    ]
    [failure] = outcome.file_report(1)["failed_expectations"]
    assert (failure["column"], failure["failed_count"], failure["samples"][0]["value"]) == (
        "x",
        1,
        "NaN",
    )
    # A template's own markers replace the usual ones, in text columns too.
    outcome = validate_rows(rows, specs, null_markers=["NA"])
    assert outcome.rejects.column("_failed_expectations").to_pylist() == [
        # "N/A" and "NULL" are no longer missing, nor are "NaN", "null" and "None".
        "expect_column_values_to_match_regex(flag); expect_column_values_to_be_castable(day)",
        "expect_column_values_to_match_regex(x)",
        "expect_column_values_to_match_regex(n); expect_column_values_to_match_regex(flag)",
    ]
    assert outcome.silver.column("note").to_pylist() == [None]


def test_inference_sees_through_gaps_and_a_few_bad_values() -> None:
    count: list[str | None] = [str(i) for i in range(100)]
    count[5], count[6], count[7] = "NA", "", "many"
    specs = inferred_specs(
        bronze(
            {
                "count": count,
                "price": [f"{i / 4}" if i % 9 else "nan" for i in range(100)],
                "quarter": [f"{2000 + i // 4} Q{i % 4 + 1}" for i in range(100)],
                "code": [f"A{i}" if i % 3 else str(i) for i in range(100)],
                "empty": ["NA"] * 100,
            }
        )
    )
    assert [(s.column_name, s.data_type) for s in specs] == [
        ("count", ColumnType.INTEGER),
        ("price", ColumnType.FLOAT),
        ("quarter", ColumnType.DATE),
        ("code", ColumnType.STRING),
        ("empty", ColumnType.STRING),
    ]


def test_an_ambiguous_date_column_fails_as_a_column() -> None:
    specs = check_columns([ColumnInput("day", "date")])
    outcome = validate_rows(bronze({"day": ["01/02/2024", "03/04/2024"]}), specs)
    [problem] = outcome.column_failures
    assert problem.column == "day" and "day-first" in (problem.detail or "")
    assert outcome.rejects.num_rows == 0 and outcome.missing_columns == []


def test_spreadsheet_and_lower_case_markers_are_missing_in_typed_columns() -> None:
    age: list[str | None] = [str(20 + i % 50) for i in range(60)]
    age[3], age[9], age[17] = "n/a", "#N/A", "none"
    rows = bronze({"age": age, "city": ["n/a" if i % 2 else "Oslo" for i in range(60)]})
    specs = inferred_specs(rows)
    assert [(s.column_name, s.data_type) for s in specs] == [
        ("age", ColumnType.INTEGER),
        ("city", ColumnType.STRING),
    ]
    outcome = validate_rows(rows, specs)
    assert outcome.rejects.num_rows == 0
    ages = outcome.silver.column("age").to_pylist()
    assert [ages[3], ages[9], ages[17], ages[4]] == [None, None, None, 24]
    # text keeps them as written
    assert outcome.silver.column("city").to_pylist()[:2] == ["Oslo", "n/a"]


def test_inference_is_not_misled_by_rows_recurring_at_a_fixed_interval() -> None:
    # A subtotal line every 100 rows: 1% of the column, a bad row each, not a text column.
    amount: list[str | None] = ["subtotal" if i % 100 == 0 else str(i) for i in range(20_000)]
    [spec] = inferred_specs(bronze({"amount": amount}))
    assert spec.data_type is ColumnType.INTEGER


def test_a_missing_column_is_named_first_by_its_existence_then_its_rules() -> None:
    specs = check_columns(
        [
            ColumnInput("id", "int", required=True),
            ColumnInput("score", "float", required=True, min_value="0"),
        ]
    )
    outcome = validate_rows(bronze({"id": ["1", "2"]}), specs)
    assert outcome.missing_columns == ["score"]
    listed = [
        (e["column"], e["expectation"]) for e in outcome.file_report(1)["column_expectations"]
    ]
    assert listed[0] == ("score", "expect_column_to_exist")
    assert {column for column, _ in listed} == {"score"} and len(listed) > 1


def test_each_validation_sees_only_its_own_rows() -> None:
    specs = check_columns([ColumnInput("n", "int", required=True, max_value="10")])
    bad = validate_rows(bronze({"n": ["1", "x", "", "50"]}), specs)
    assert bad.rejects.column("_row_number").to_pylist() == [2, 3, 4]
    good = validate_rows(bronze({"n": ["3", "4", "5", "6"]}), specs)
    assert good.rejects.num_rows == 0 and good.silver.column("n").to_pylist() == [3, 4, 5, 6]
    again = validate_rows(bronze({"n": ["11", "2", "3", "4"]}), specs)
    assert again.rejects.column("_row_number").to_pylist() == [1]
