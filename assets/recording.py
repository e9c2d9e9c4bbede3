"""What every asset does when its work fails: the record it serves shows the error."""

from collections.abc import Callable
from typing import TypeVar

from lakehouse.errors import failure_message

T = TypeVar("T")


def recording_failure(mark_failed: Callable[[str], None], work: Callable[[], T]) -> T:
    """Run `work`; if it fails, `mark_failed` gets the error text and the error goes on."""
    try:
        return work()
    except Exception as exc:
        mark_failed(failure_message(exc))
        raise
