"""The Python client from openapi-python-client: complete, typed, and working end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from generated.spec import OPENAPI_JSON
from spectools.clients import PYTHON_PACKAGE, TOOLS
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
