"""The landing store: streamed copies, size limit, safe names and the tenant wall."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from lakehouse.errors import InvalidInputError, NotFoundError, PayloadTooLargeError
from lakehouse.landing import LandingStore, safe_file_name

TENANT = "eb128f85-c955-4f2f-b109-0afa1aed409c"
OTHER = "0b128f85-c955-4f2f-b109-0afa1aed409c"


def test_receive_streams_and_records_checksum(tmp_path: Path) -> None:
    store = LandingStore(tmp_path / "landing")
    data = b"id,name\n" + b"1,a\n" * 600_000  # several chunks
    landed = store.receive(TENANT, 7, "sales.csv", io.BytesIO(data), max_bytes=10**8)
    assert landed.path.read_bytes() == data
    assert landed.size_bytes == len(data)
    assert landed.sha256 == hashlib.sha256(data).hexdigest()
    assert landed.relative_path.startswith("7/") and landed.relative_path.endswith("_sales.csv")
    assert store.resolve(TENANT, landed.relative_path) == landed.path.resolve()


def test_over_the_limit_keeps_nothing(tmp_path: Path) -> None:
    store = LandingStore(tmp_path / "landing")
    with pytest.raises(PayloadTooLargeError, match="larger than the limit of 100 bytes"):
        store.receive(TENANT, 1, "big.csv", io.BytesIO(b"x" * 101), max_bytes=100)
    assert list((store.tenant_area(TENANT) / "1").iterdir()) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\data.csv", "data.csv"),
        ("na\x00me.csv", "name.csv"),
        ("x" * 300 + ".csv", "x" * 196 + ".csv"),
    ],
)
def test_file_names_lose_their_paths(given: str, expected: str) -> None:
    assert safe_file_name(given) == expected


def test_unusable_file_name_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a usable file name"):
        safe_file_name("../..")


def test_paths_outside_the_tenant_area_are_not_found(tmp_path: Path) -> None:
    store = LandingStore(tmp_path / "landing")
    mine = store.receive(TENANT, 1, "a.csv", io.BytesIO(b"id\n1\n"), max_bytes=1000)
    theirs = store.receive(OTHER, 1, "b.csv", io.BytesIO(b"id\n2\n"), max_bytes=1000)
    for path in (
        f"../{OTHER}/{theirs.relative_path}",
        "/etc/passwd",
        "1",
        "../../..",
        mine.relative_path + "x",
    ):
        with pytest.raises(NotFoundError):
            store.resolve(TENANT, path)
    store.remove_dataset(TENANT, 1)
    with pytest.raises(NotFoundError):
        store.resolve(TENANT, mine.relative_path)
    assert store.resolve(OTHER, theirs.relative_path).read_bytes() == b"id\n2\n"
