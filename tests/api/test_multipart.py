"""Multipart forms as Strata reads them (`api.multipart`), in a real Litestar app: fields and
files as Litestar would give them, files closed once the handler has answered, and bodies
that are no form refused."""

from __future__ import annotations

import io
from typing import Any

from litestar import Litestar, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.testing import TestClient

from api.errors import exception_handlers
from api.multipart import PART_LIMIT, WRITE_BYTES, provide_form

received: list[Any] = []


@post("/form", dependencies={"form": Provide(provide_form)})
async def echo(form: dict[str, Any]) -> dict[str, Any]:
    received.append(form)
    files = form.get("files")
    files = files if isinstance(files, list) else [files] if files is not None else []
    return {
        "text": form.get("note"),
        "files": [(f.filename, len(await f.read())) for f in files if isinstance(f, UploadFile)],
    }


def client() -> TestClient:
    app = Litestar(
        [echo], exception_handlers=exception_handlers(False), request_max_body_size=2**26
    )
    return TestClient(app)


def test_fields_and_files_arrive_whole_and_files_are_closed_after_the_answer() -> None:
    big = b"a,b\n" + b"1,2\n" * (WRITE_BYTES // 2)  # more than one write
    with client() as test_client:
        response = test_client.post(
            "/form",
            data={"note": "données"},
            files=[("files", ("big.csv", io.BytesIO(big))), ("files", ("small.csv", b"x\n"))],
        )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "text": "données",
        "files": [["big.csv", len(big)], ["small.csv", 2]],
    }
    assert all(f.file.closed for f in received[-1]["files"])


def test_a_body_that_is_no_form_is_refused_and_an_empty_one_is_an_empty_form() -> None:
    with client() as test_client:
        plain = test_client.post("/form", content=b"x", headers={"Content-Type": "text/plain"})
        assert plain.status_code == 422 and plain.json()["field"] == "body"
        broken = test_client.post(
            "/form",
            content=b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nunfinished',
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert broken.status_code == 422, broken.text
        empty = test_client.post(
            "/form", content=b"", headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert empty.status_code == 201 and empty.json() == {"text": None, "files": []}


def test_a_form_of_too_many_parts_is_413() -> None:
    parts = "".join(
        f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n'
        for i in range(PART_LIMIT + 1)
    )
    with client() as test_client:
        response = test_client.post(
            "/form",
            content=(parts + "--b--\r\n").encode(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
    assert response.status_code == 413, response.text
