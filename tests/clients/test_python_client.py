"""The Python clients: openapi-python-client's complete, typed and working end to end;
openapi-generator's importable and working against the live server."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from generated.spec import OPENAPI_JSON
from spectools.clients import GENERATOR_PACKAGE, PYTHON_PACKAGE, TOOLS
from tests.contract.conftest import ROOT

USAGE = TOOLS / "usage.py"


def _load_usage(python_client: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(python_client))
    spec = importlib.util.spec_from_file_location("clients_usage", USAGE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Its dataclass resolves annotations through sys.modules.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_clients_are_generated_from_the_served_spec(spec: Path, live_url: str) -> None:
    served = httpx.get(f"{live_url}/openapi.json")
    assert served.status_code == 200
    assert served.content == OPENAPI_JSON.encode() == spec.read_bytes()


def test_every_operation_has_a_function(spec: Path, python_client: Path) -> None:
    document = json.loads(spec.read_text())
    operation_ids = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    api = python_client / PYTHON_PACKAGE / "api"
    generated = {module.stem for module in api.rglob("*.py") if module.stem != "__init__"}
    assert generated == operation_ids


def test_usage_type_checks(python_client: Path) -> None:
    # The project's mypy settings and cache (warm after `just lint`); --strict as in lint.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(USAGE)],
        cwd=ROOT,
        env={**os.environ, "MYPYPATH": str(python_client)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_flow_against_the_live_server(
    python_client: Path, live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = _load_usage(python_client, monkeypatch)

    flow = usage.flow(live_url, email="py-client@example.com", password="a-long-password")

    assert flow.user.email == "py-client@example.com"
    assert flow.token.token_type == "bearer"
    assert flow.team.name == "Acme"
    assert (flow.created.sku, flow.created.price, flow.created.status) == (
        "TENT-1",
        "129.00",
        "draft",
    )
    assert flow.read.id == flow.created.id
    assert flow.etag == f'"{flow.created.id}-v{flow.created.version}"'
    assert (flow.updated.price, flow.updated.status) == ("119.00", "active")
    assert flow.updated.version == flow.created.version + 1
    assert flow.stale_update.status == 412
    assert [product.id for product in flow.listed] == [flow.created.id]
    assert flow.listed[0].version == flow.updated.version


def test_openapi_generator_client_signs_up_and_saves_a_time_zone(
    generator_python_client: Path, live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # openapi-generator's `python` client, as generated (package `openapi_client`): sign up,
    # sign in, and save preferences whose time zone is one of the values that collided as
    # identifiers (`Etc/GMT-1` and `Etc/GMT+1`) until TimeZone got `x-enum-varnames`.
    monkeypatch.syspath_prepend(str(generator_python_client))
    client: Any = importlib.import_module(GENERATOR_PACKAGE)
    email, password = "generator@example.com", "a-long-password"
    with client.ApiClient(client.Configuration(host=live_url)) as anonymous:
        user = client.UsersApi(anonymous).create_user(
            client.UserCreate(email=email, username="generator", password=password)
        )
        token = client.AuthApi(anonymous).create_token("password", email, password)
    assert (user.email, token.token_type) == (email, "bearer")

    configuration = client.Configuration(host=live_url, access_token=token.access_token)
    with client.ApiClient(configuration) as signed_in:
        users = client.UsersApi(signed_in)
        defaults = users.get_preferences()
        saved = users.put_preferences(
            defaults.model_copy(update={"timezone": client.TimeZone.ETC_GMT_MINUS_1})
        )
        read = users.get_preferences()

    assert defaults.timezone == client.TimeZone.UTC
    assert saved.timezone == read.timezone == client.TimeZone.ETC_GMT_MINUS_1
    assert read.timezone.value == "Etc/GMT-1"
    assert client.TimeZone.ETC_GMT_PLUS_1.value == "Etc/GMT+1"
