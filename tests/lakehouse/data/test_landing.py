"""The landing store: streamed copies, size limit, safe names, its lock and the tenant wall, in
a local directory and in an S3 bucket."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

from lakehouse.data.landing import MAX_FILE_NAME, LandingStore, safe_file_name
from lakehouse.errors import NotFoundError, PayloadTooLargeError
from lakehouse.settings import Settings

TENANT = "eb128f85-c955-4f2f-b109-0afa1aed409c"
OTHER = "0b128f85-c955-4f2f-b109-0afa1aed409c"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LandingStore:
    if request.param == "local":
        return LandingStore(tmp_path / "landing")
    location = request.getfixturevalue("s3_location")
    settings = Settings(
        data_dir=tmp_path, landing_url=location, **request.getfixturevalue("s3_server")
    )
    landing = LandingStore.from_settings(settings)
    assert not landing.local
    return landing


def land(store: LandingStore, tenant_id: str, dataset_id: int, name: str, data: bytes) -> Any:
    with store.receive(tenant_id, dataset_id, name, io.BytesIO(data), max_bytes=10**8) as landed:
        assert landed.path.read_bytes() == data  # readable inside the block
    return landed


def read(store: LandingStore, tenant_id: str, relative_path: str) -> bytes:
    with store.local_copy(tenant_id, relative_path) as path:
        return path.read_bytes()


def test_receive_streams_and_records_checksum(store: LandingStore) -> None:
    data = b"id,name\n" + b"1,a\n" * 600_000  # several chunks
    landed = land(store, TENANT, 7, "sales.csv", data)
    assert landed.size_bytes == len(data) == store.size(TENANT, landed.relative_path)
    assert landed.sha256 == hashlib.sha256(data).hexdigest()
    assert landed.relative_path.startswith("7/") and landed.relative_path.endswith("_sales.csv")
    assert read(store, TENANT, landed.relative_path) == data
    size, chunks = store.read_chunks(TENANT, landed.relative_path)
    assert size == len(data) and b"".join(chunks) == data


def test_a_content_digest_is_the_checksum_receive_records(store: LandingStore) -> None:
    data = b"id,value\n" + b"1,2\n" * 300_000
    source = io.BytesIO(data)
    digest = store.content_digest(source)
    assert source.tell() == 0
    assert digest == hashlib.sha256(data).hexdigest()
    assert land(store, TENANT, 1, "again.csv", data).sha256 == digest


def test_over_the_limit_or_a_failed_read_keeps_nothing(store: LandingStore) -> None:
    with (
        pytest.raises(PayloadTooLargeError, match="larger than the limit of 100 bytes"),
        store.receive(TENANT, 1, "big.csv", io.BytesIO(b"x" * 101), max_bytes=100),
    ):
        pass
    with (
        pytest.raises(ValueError, match="unreadable"),
        store.receive(TENANT, 1, "bad.csv", io.BytesIO(b"x"), max_bytes=100),
    ):
        raise ValueError("unreadable")
    assert store.dataset_files() == []


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


def test_odd_names_land_under_their_safe_name(store: LandingStore) -> None:
    landed = land(store, TENANT, 3, "../\x00\x1b[31m" + "é" * 250 + ".csv", b"a\n")
    folder, name = landed.relative_path.split("/")
    assert folder == "3" and name.endswith("é.csv") and "[31m" in name
    assert read(store, TENANT, landed.relative_path) == b"a\n"
    [stored] = store.dataset_files()
    assert (stored.tenant_area, stored.relative_path) == (TENANT, landed.relative_path)


def test_written_files_replace_a_file_of_that_name_whole(store: LandingStore) -> None:
    for content in (b"first\n", b"second\n"):
        with store.write(TENANT, "predictions", "../scored.csv") as path:
            path.write_bytes(content)
    relative = store.relative_path("predictions", "../scored.csv")
    assert relative == "predictions/scored.csv"
    assert read(store, TENANT, relative) == b"second\n"
    with pytest.raises(RuntimeError), store.write(TENANT, "predictions", "scored.csv") as path:
        path.write_bytes(b"half")
        raise RuntimeError("the run died")
    assert read(store, TENANT, relative) == b"second\n"


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


def test_paths_outside_the_tenant_area_are_not_found(store: LandingStore) -> None:
    mine = land(store, TENANT, 1, "a.csv", b"id\n1\n")
    theirs = land(store, OTHER, 1, "b.csv", b"id\n2\n")
    for path in (
        f"../{OTHER}/{theirs.relative_path}",
        f"1/../../{OTHER}/{theirs.relative_path}",
        "/etc/passwd",
        "1",
        "../../..",
        "1\\..\\x",
        "1/a\x00.csv",
        mine.relative_path + "x",
    ):
        with pytest.raises(NotFoundError):
            read(store, TENANT, path)
        with pytest.raises(NotFoundError):
            store.remove(TENANT, path)
    store.remove_dataset(TENANT, 1)
    with pytest.raises(NotFoundError):
        store.read_chunks(TENANT, mine.relative_path)
    assert read(store, OTHER, theirs.relative_path) == b"id\n2\n"


def test_a_link_out_of_the_tenant_area_is_not_followed(tmp_path: Path) -> None:
    store = LandingStore(tmp_path / "landing")
    secret = tmp_path / "secret.csv"
    secret.write_text("password\n")
    area = tmp_path / "landing" / TENANT / "1"
    area.mkdir(parents=True)
    (area / "link.csv").symlink_to(secret)
    with pytest.raises(NotFoundError):
        read(store, TENANT, "1/link.csv")
