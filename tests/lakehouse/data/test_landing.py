"""The landing store: streamed copies, size limit, safe names, its lock and the tenant wall."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from lakehouse.data.landing import MAX_FILE_NAME, LandingStore, safe_file_name
from lakehouse.errors import NotFoundError, PayloadTooLargeError

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


def test_a_content_digest_is_the_checksum_receive_records(tmp_path: Path) -> None:
    store = LandingStore(tmp_path)
    data = b"id,value\n" + b"1,2\n" * 300_000
    source = io.BytesIO(data)
    digest = store.content_digest(source)
    assert source.tell() == 0
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.receive("t1", 1, "again.csv", source, max_bytes=10**8).sha256 == digest


def test_over_the_limit_keeps_nothing(tmp_path: Path) -> None:
    store = LandingStore(tmp_path / "landing")
    with pytest.raises(PayloadTooLargeError, match="larger than the limit of 100 bytes"):
        store.receive(TENANT, 1, "big.csv", io.BytesIO(b"x" * 101), max_bytes=100)
    assert list((store.tenant_area(TENANT) / "1").iterdir()) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("../../../evil.csv", "evil.csv"),
        ("C:\\Users\\me\\data.csv", "data.csv"),
        ("na\x00me.csv", "name.csv"),
        ("\x00.csv", "file.csv"),
        ("..\x00/..csv", "file.csv"),
        ("../..", "file"),
        ("", "file"),
        (".hidden.csv", "hidden.csv"),
        ("a..b...csv", "a.b.csv"),
        ("  sales \t report.  .csv", "sales report.csv"),
        ('q"u<o>t:e|s?*.csv', "q_u_o_t_e_s__.csv"),
        ("evil\u202eVSC.exe", "evilVSC.exe"),
        ("line\u2028break.tsv", "line break.tsv"),
        ("Cafe\u0301.csv", "Caf\u00e9.csv"),
        ("données.parquet", "données.parquet"),
        ("x" * 300 + ".csv", "x" * 196 + ".csv"),
        ("data.no-extension!", "data.no-extension!"),
    ],
)
def test_file_names_are_made_safe(given: str, expected: str) -> None:
    assert safe_file_name(given) == expected
    assert safe_file_name(expected) == expected


def test_safe_names_fit_a_file_system_in_bytes() -> None:
    name = safe_file_name("é" * 300 + ".csv")
    assert name.endswith("é.csv") and len(name.encode()) <= MAX_FILE_NAME
    assert safe_file_name(name) == name


def test_odd_names_land_under_their_safe_name(tmp_path: Path) -> None:
    store = LandingStore(tmp_path / "landing")
    landed = store.receive(
        TENANT, 3, "../\x00\x1b[31m" + "é" * 250 + ".csv", io.BytesIO(b"a\n"), 10
    )
    assert landed.path.parent == store.dataset_folder(TENANT, 3)
    assert landed.path.read_bytes() == b"a\n"
    assert landed.relative_path == f"3/{landed.path.name}"
    assert landed.path.name.endswith("é.csv") and "[31m" in landed.path.name


def test_the_sweep_waits_for_no_upload_and_skips_while_one_is_in_flight(tmp_path: Path) -> None:
    store = LandingStore(tmp_path / "landing")
    upload = store.upload_lock()
    assert store.sweep_lock() is None
    second = store.upload_lock()  # uploads share the lock
    upload.close()
    assert store.sweep_lock() is None
    second.close()
    sweep = store.sweep_lock()
    assert sweep is not None
    sweep.close()


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
