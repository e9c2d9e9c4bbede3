"""Uploads that cannot hurt: safe file names, a column limit, and a landing store swept of
what interrupted uploads left."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from lakehouse.data.landing import LOCK_FILE, LandingStore
from lakehouse.settings import Settings
from tests.api.helpers import admin_headers, me
from tests.conftest import make_settings

BOUNDARY = "strata-test-boundary"
CSV = b"id,amount\n1,2.5\n2,3\n"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Uploads start ingestion runs, so these tests need a run worker."""
    return make_settings(tmp_path, database_url=database_url, workers=1)


def raw_upload(
    client: TestClient, headers: dict[str, str], files: list[tuple[bytes, bytes]], name: str
) -> Any:
    """An upload whose file names go out byte for byte: HTTP clients escape what these test."""
    body = b"".join(
        f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="files"; filename="'
        + file_name
        + b'"\r\nContent-Type: text/csv\r\n\r\n'
        + data
        + b"\r\n"
        for file_name, data in files
    )
    return client.post(
        "/api/v1/dataset/upload",
        params={"dataset_name": name, "usage": "t"},
        content=body + f"--{BOUNDARY}--\r\n".encode(),
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


def landed_files(settings: Settings) -> list[str]:
    root = settings.landing_dir
    if not root.exists():
        return []
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != LOCK_FILE
    )


def datasets_total(client: TestClient, headers: dict[str, str]) -> int:
    total: int = client.get("/api/v1/dataset/list", headers=headers).json()["total"]
    return total


def test_odd_file_names_are_stored_and_sent_back_safe(
    client: TestClient, settings: Settings
) -> None:
    headers = admin_headers(client)
    names = [b"da\x00ta.csv", b"../../../evil.csv", "donn\u00e9es\u202e.csv".encode(), b"\x00.csv"]
    response = raw_upload(client, headers, [(name, CSV) for name in names], "odd")
    assert response.status_code == 201, response.text
    uploaded = response.json()
    expected = ["data.csv", "evil.csv", "données.csv", "file.csv"]
    assert [f["file_name"] for f in uploaded["files"]] == expected

    listed = client.get(
        "/api/v1/files/list", params={"dataset_id": uploaded["dataset_id"]}, headers=headers
    )
    assert listed.status_code == 200, listed.text
    assert [f["file_name"] for f in listed.json()["data"]] == expected
    dispositions = []
    for public in uploaded["files"]:
        detail = client.get(
            "/api/v1/files/get_file_by_id", params={"file_id": public["id"]}, headers=headers
        )
        assert detail.status_code == 200, detail.text
        assert detail.json()["file_name"] == public["file_name"]
        download = client.get(
            "/api/v1/files/download", params={"file_id": public["id"]}, headers=headers
        )
        assert download.content == CSV
        dispositions.append(download.headers["content-disposition"])
        by_path = client.get(
            "/api/v1/files/download",
            params={"file_path": detail.json()["csv_file_path"]},
            headers=headers,
        )
        assert by_path.headers["content-disposition"] == dispositions[-1]
    assert dispositions == [
        'attachment; filename="data.csv"',
        'attachment; filename="evil.csv"',
        "attachment; filename=\"donnees.csv\"; filename*=UTF-8''donn%C3%A9es.csv",
        'attachment; filename="file.csv"',
    ]
    folder = str(uploaded["dataset_id"])
    tenant_folder = settings.landing_dir / me(client, headers)["tenant_id"]
    assert [p.parent for p in tenant_folder.rglob("*.csv")] == [tenant_folder / folder] * 4


def test_a_name_left_with_no_extension_is_refused_and_commits_nothing(
    client: TestClient, settings: Settings
) -> None:
    headers = admin_headers(client)
    for name in (b"\x00", b"../..", b"evil.csv/\x00"):
        response = raw_upload(client, headers, [(b"ok.csv", CSV), (name, CSV)], "bad")
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("file 'file': has no extension; expected")
        assert response.json()["field"] == "files"
    assert datasets_total(client, headers) == 0
    assert landed_files(settings) == []


def test_a_file_over_the_column_limit_is_refused_at_upload(
    client: TestClient, settings: Settings
) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    header = ",".join(f"c{i}" for i in range(10_001))
    wide = f"{header}\n{','.join('1' * 10_001)}\n{','.join('2' * 10_001)}\n".encode()
    response = client.post(
        "/api/v1/dataset/upload",
        params={"dataset_name": "wide", "usage": "t"},
        files=[("files", ("ok.csv", io.BytesIO(CSV))), ("files", ("wide.csv", io.BytesIO(wide)))],
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert response.json() == {
        "status_code": 422,
        "detail": "file 'wide.csv': has 10001 columns; a file may have at most 1000",
        "field": "files",
    }
    assert datasets_total(client, headers) == 0
    assert landed_files(settings) == []
    platform = client.app.state.platform
    assert platform.gateway.unfinished_runs(tenant_id) == 0

    created = client.post(
        "/api/v1/dataset/upload",
        params={"dataset_name": "narrow", "usage": "t"},
        files=[("files", ("ok.csv", io.BytesIO(CSV)))],
        headers=headers,
    )
    assert created.status_code == 201, created.text
    added = client.post(
        "/api/v1/files/add",
        params={"dataset_id": created.json()["dataset_id"]},
        files=[("files", ("wide.csv", io.BytesIO(wide)))],
        headers=headers,
    )
    assert added.status_code in (409, 422), added.text  # 409 while its first run is active
    files = client.get(
        "/api/v1/files/list", params={"dataset_id": created.json()["dataset_id"]}, headers=headers
    ).json()
    assert [f["file_name"] for f in files["data"]] == ["ok.csv"]


def test_start_up_sweeps_leftovers_and_keeps_committed_files(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, workers=1)
    with TestClient(create_app(settings)) as client:
        headers = admin_headers(client)
        tenant_id = me(client, headers)["tenant_id"]
        kept = client.post(
            "/api/v1/dataset/upload",
            params={"dataset_name": "kept", "usage": "t"},
            files=[("files", ("kept.csv", io.BytesIO(CSV)))],
            headers=headers,
        ).json()
    landing = LandingStore(settings.landing_dir)
    area = settings.landing_dir / tenant_id
    folder = area / str(kept["dataset_id"])
    [committed] = landed_files(settings)
    leftovers = {
        folder / ".0123456789ab_next.csv.part": b"id\n1",  # an upload killed while copying
        folder / "0123456789ab_extra.csv": CSV,  # landed, never committed
        area / "99" / "0123456789ab_orphan.csv": CSV,  # a dataset rolled back
        area / "99" / ".0123456789ab_orphan.csv.part": CSV,
        settings.landing_dir / "0b128f85-c955-4f2f-b109-0afa1aed409c" / "1" / "a.csv": CSV,
    }
    merged = area / "mergefiles" / "a_b.csv"  # other parts of the platform write beside datasets
    for path, data in {**leftovers, merged: CSV}.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    restarted = make_settings(tmp_path)  # the same platform, without a run worker to wait for
    in_flight = landing.upload_lock()  # as another API process's upload would hold it
    with TestClient(create_app(restarted)):
        pass
    assert all(path.exists() for path in leftovers)
    in_flight.close()

    with TestClient(create_app(restarted)) as client:
        headers = admin_headers(client)
        assert landed_files(settings) == sorted(
            [committed, merged.relative_to(settings.landing_dir).as_posix()]
        )
        assert not (area / "99").exists()
        download = client.get(
            "/api/v1/files/download", params={"file_id": kept["files"][0]["id"]}, headers=headers
        )
        assert download.content == CSV


def test_a_new_dataset_never_holds_what_its_folder_held_before(
    client: TestClient, settings: Settings
) -> None:
    headers = admin_headers(client)
    tenant_id = me(client, headers)["tenant_id"]
    first = client.post(
        "/api/v1/dataset/upload",
        params={"dataset_name": "first", "usage": "t"},
        files=[("files", ("first.csv", io.BytesIO(CSV)))],
        headers=headers,
    ).json()
    # What a killed upload leaves in the folder of the id the next dataset is given on SQLite.
    next_id = first["dataset_id"] + 1
    stale = settings.landing_dir / tenant_id / str(next_id) / ".0123456789ab_old.csv.part"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"id\n1")
    second = client.post(
        "/api/v1/dataset/upload",
        params={"dataset_name": "second", "usage": "t"},
        files=[("files", ("second.csv", io.BytesIO(CSV)))],
        headers=headers,
    ).json()
    folder = settings.landing_dir / tenant_id / str(second["dataset_id"])
    assert [p.name.partition("_")[2] for p in folder.iterdir()] == ["second.csv"]
