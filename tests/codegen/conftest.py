from __future__ import annotations

import importlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import specfirst
from codegen.generate import generate, write
from tests.fakes.serving import serve

COVERAGE = Path(__file__).parent / "coverage"


@pytest.fixture(autouse=True)
def _no_model_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test exercises the real model generator; tests/codegen/test_models.py covers the cache.
    monkeypatch.setenv("CODEGEN_NO_CACHE", "1")


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every coverage document generated as package ``cov_<name>``, importable."""
    root = tmp_path_factory.mktemp("coverage")
    for spec in sorted([*COVERAGE.glob("*.yaml"), *COVERAGE.glob("*.json")]):
        write(generate(spec).files, root / f"cov_{spec.stem}")
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))


def generated_package(document: dict[str, Any], folder: Path, name: str) -> ModuleType:
    """``document`` generated into ``folder/name`` and imported as package ``name``."""
    spec = folder / f"{name}.json"
    spec.write_text(json.dumps(document))
    write(generate(spec).files, folder / name)
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))


@asynccontextmanager
async def no_context(info: Any) -> AsyncIterator[None]:
    """A context factory for handlers that need none."""
    yield None


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port; yields its base URL."""
    with serve(app) as running:
        yield running.base_url


class HttpSender:
    """An ``rt.Sender`` over an httpx client, as an implementation supplies one: it sends
    the outbound request as serialised, with the client's own headers (credentials)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, request: specfirst.OutboundRequest) -> specfirst.Delivery:
        response = await self.client.request(
            request.method, request.url, headers=dict(request.headers), content=request.content
        )
        return specfirst.Delivery(status=response.status_code, content=response.content)
