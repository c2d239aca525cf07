"""Clients generated as `just clients` does, into a temporary folder, and the live service.

The TypeScript half needs Node.js: without it those tests skip, saying so, except under
CI=true, where they fail.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from spectools import clients
from tests.conftest import _give_up
from tests.contract.conftest import fresh_server


@pytest.fixture(scope="session")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clients.write_spec(tmp_path_factory.mktemp("clients"))


@pytest.fixture(scope="session")
def python_client(spec: Path) -> Path:
    """The generated project folder (holding the `storefront_client` package)."""
    out = spec.parent / "python"
    clients.python(spec, out)
    return out


@pytest.fixture(scope="session")
def typescript_client(spec: Path) -> Path:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        _give_up(f"TypeScript client not checked: {' and '.join(missing)} not found")
    out = spec.parent / "typescript"
    clients.typescript(spec, out)
    return out


@pytest.fixture(scope="session")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service under uvicorn on a loopback port, on a fresh SQLite database."""
    with fresh_server(tmp_path_factory.mktemp("clients-server")) as base_url:
        yield base_url
