"""Every operation of the OpenAPI document, fuzzed by Schemathesis against the real app over
HTTP: no 5xx, answers that match their documented status codes, content types and schemas,
and requests valid by the schema accepted."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from api.openapi import openapi_document
from lakehouse.settings import Settings
from tests.conftest import ADMIN_PASSWORD, make_settings

EXAMPLES_PER_OPERATION = 15
# Operations where a request valid by the document may rightly be refused, so the check that
# such requests are accepted is left out for them alone: those needing one of two inputs, which
# OpenAPI cannot say of a body and a query (a secret in either; a file by id or by path; a
# dataset as a file, a token or a name), those whose files are checked by their names and
# contents, which a schema of binary parts cannot describe, templates, whose column rules
# depend on each column's data type, and the orchestrator ledger's operations, which refuse
# (400, as the original does) what the ledger's state forbids: an unknown problem, an uplet
# not claimable or not claimed, a problem with no trained model, `done` without its values, a
# workflow's metric of the other problem type; the workbench's accounts (registration is off,
# credentials and tokens are unknown), its uploads (checked by their names and contents) and
# read-only SQL, here and for analysts, which refuses a table the caller does not have.
REFUSES_SOME_VALID = frozenset(
    {
        ("POST", "/api/v1/refresh"),
        ("POST", "/api/v1/logout"),
        ("POST", "/api/v1/reset-password"),
        ("GET", "/api/v1/files/download"),
        ("POST", "/api/v1/dataset/upload"),
        ("POST", "/api/v1/files/add"),
        ("POST", "/api/train"),
        ("POST", "/api/predict"),
        ("POST", "/api/merge"),
        ("POST", "/upload"),
        ("POST", "/api/v1/template"),
        ("PUT", "/api/v1/template/update/{template_id}"),
        ("POST", "/morpheo/workflow"),
        ("POST", "/morpheo/algo"),
        ("POST", "/morpheo/data"),
        ("POST", "/morpheo/prediction"),
        ("POST", "/morpheo/worker/{uplet_type}/{uuid}"),
        ("POST", "/morpheo/learndone/{uuid}"),
        ("POST", "/morpheo/preddone/{uuid}"),
        ("POST", "/api/auth/register"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/refresh"),
        ("POST", "/api/upload/dataset"),
        ("POST", "/api/query/sql"),
        ("POST", "/api/v1/datalake/query"),
        ("POST", "/api/experiments/{project_id}/compare"),
        ("POST", "/api/experiments/{project_id}/tune"),
        ("PATCH", "/api/deployments/{deployment_id}"),
        ("POST", "/api/deployments/{deployment_id}/predict"),
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def fuzz_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("fuzz"), workers=1, quickstart=True)


@pytest.fixture(scope="module")
def server(fuzz_settings: Settings) -> Iterator[str]:
    """The app under uvicorn in a thread of this process, on a free port."""
    config = uvicorn.Config(
        create_app(fuzz_settings), host="127.0.0.1", port=free_port(), log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fuzzed-api", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{config.port}"
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.1)
    while httpx.get(f"{base_url}/api/v1/utils/health", timeout=30).status_code != 200:
        assert time.monotonic() < deadline + 240, "the platform never became healthy"
        time.sleep(0.5)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def auth(server: str) -> dict[str, str]:
    token = httpx.post(
        f"{server}/api/v1/login/access-token",
        data={"username": "admin", "password": ADMIN_PASSWORD},
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def the_document() -> dict[str, Any]:
    """The document the app serves at /schema/openapi.json; building the app starts nothing."""
    with tempfile.TemporaryDirectory() as directory:
        return openapi_document(create_app(make_settings(Path(directory), quickstart=True)))


schema = schemathesis.openapi.from_dict(the_document())


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_contract(case: Any, server: str, auth: dict[str, str]) -> None:
    excluded = [positive_data_acceptance] if (case.method, case.path) in REFUSES_SOME_VALID else []
    case.call_and_validate(base_url=server, headers=auth, excluded_checks=excluded)
