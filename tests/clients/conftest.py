"""Clients generated as `just clients` does, and the live service.

The clients are generated into a temporary folder, or taken from `STOREFRONT_CLIENTS` when
that names a folder `just clients` has just written (the recipe runs these tests on its
output). The TypeScript half needs Node.js and openapi-generator's clients Java: without them
those tests skip, saying so, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from spectools import clients
from tests.conftest import _give_up
from tests.contract.conftest import fresh_server

PREBUILT = "STOREFRONT_CLIENTS"


def _prebuilt() -> Path | None:
    folder = os.environ.get(PREBUILT)
    return Path(folder).resolve() if folder else None


def _need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        _give_up(f"client not checked: {' and '.join(missing)} not found")


@pytest.fixture(scope="session")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prebuilt = _prebuilt()
    if prebuilt is not None:
        return prebuilt / "openapi.json"
    return clients.write_spec(tmp_path_factory.mktemp("clients"))


@pytest.fixture(scope="session")
def python_client(spec: Path) -> Path:
    """The openapi-python-client project folder (holding the `storefront_client` package)."""
    out = spec.parent / "python"
    if _prebuilt() is None:
        clients.python(spec, out)
    return out


@pytest.fixture(scope="session")
def generator_python_client(spec: Path) -> Path:
    """openapi-generator's `python` output (holding the `openapi_client` package)."""
    _need("java")
    out = spec.parent / "python-generator"
    if _prebuilt() is None:
        clients.openapi_generator(spec, out, "python")
    return out


@pytest.fixture(scope="session")
def typescript_client(spec: Path) -> Path:
    """openapi-typescript's types with the openapi-fetch factory."""
    _need("node", "npm")
    out = spec.parent / "typescript"
    if _prebuilt() is None:
        clients.typescript(spec, out)
    return out


@pytest.fixture(scope="session")
def typescript_fetch_client(spec: Path, typescript_client: Path) -> Path:
    """openapi-generator's `typescript-fetch` output (tsc comes with the Node tools)."""
    _need("java")
    out = spec.parent / "typescript-fetch"
    if _prebuilt() is None:
        clients.openapi_generator(spec, out, "typescript-fetch")
    return out


@pytest.fixture(scope="session")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service under uvicorn on a loopback port, on a fresh SQLite database."""
    with fresh_server(tmp_path_factory.mktemp("clients-server")) as base_url:
        yield base_url
