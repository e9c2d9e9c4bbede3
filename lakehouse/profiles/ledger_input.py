"""What clients post to the orchestrator profile, read key by key: each value checked for
what the ledger takes, and a missing or malformed one refused as the original refuses it, "wrong
key in posted data" (400), naming the key and what it must be."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from lakehouse.errors import BadRequestError

MAX_ID = 255


def wrong(field: str, expected: str) -> BadRequestError:
    """The original's answer to a missing or malformed key, naming it and what it takes."""
    return BadRequestError(f"wrong key in posted data: '{field}' must be {expected}", field=field)


def payload_of(payload: Any) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise BadRequestError("wrong key in posted data: the body must be a JSON object")
    return payload


def an_id(payload: Mapping[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        raise wrong(field, f"an id (a non-empty string of at most {MAX_ID} characters)")
    return value


def ids(payload: Mapping[str, Any], field: str, *, one_allowed: bool) -> list[str]:
    """A list of ids; also a single id when `one_allowed`."""
    value = payload.get(field)
    if one_allowed and isinstance(value, str):
        value = [value]
    expected = "an id or a list of ids" if one_allowed else "a list of ids"
    if not isinstance(value, list) or not all(
        isinstance(item, str) and 1 <= len(item) <= MAX_ID for item in value
    ):
        raise wrong(field, expected)
    if len(set(value)) != len(value):
        raise wrong(field, f"{expected} without repeats")
    return list(value)


def positive_int(payload: Mapping[str, Any], field: str) -> int:
    value = payload.get(field)
    if isinstance(value, float) and value.is_integer():  # JSON's 4.0 is the integer 4
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise wrong(field, "a positive integer")
    return value


def status_of(payload: Mapping[str, Any], choices: Sequence[str]) -> str:
    """`status`, one of `choices`."""
    status = payload.get("status")
    if not isinstance(status, str) or status not in choices:
        raise wrong("status", " or ".join(f"'{choice}'" for choice in choices))
    return status


def score_of(value: Any) -> float | None:
    """A JSON number as a finite float; None for anything else (text, true, an integer too
    large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def perf_of(payload: Mapping[str, Any]) -> float:
    value = score_of(payload.get("perf"))
    if value is None:
        raise wrong("perf", "a finite number, the model's performance on the test data")
    return value


def perfs_of(payload: Mapping[str, Any], field: str) -> Any:
    """Performances per data: a mapping of data uuid to score (what workers send) or a list."""
    value = payload.get(field)
    if value is None:
        return None
    scores = value.values() if isinstance(value, dict) else value
    if not isinstance(value, dict | list) or any(score_of(score) is None for score in scores):
        raise wrong(field, "a mapping of data uuid to score, or a list of scores")
    return value
