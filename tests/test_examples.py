"""examples/fastapi_app, the guide's example ("Using the generator in your FastAPI app" in
docs/codegen.md): its generated package is current, its own tests pass, and served by uvicorn
over real HTTP it answers under /api with CORS, request ids and its docs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
import yaml

from codegen.generate import generate, stale_files
from tests.codegen.test_fastapi import _Assets
from tests.throwaway import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples/fastapi_app"


def test_the_generated_package_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the header names the document from here
    result = generate(Path("examples/fastapi_app/openapi.yaml"))
    assert stale_files(result.files, EXAMPLE / "notes_api") == []


def test_the_examples_own_tests_pass() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port), "--log-level", "warning"],
        cwd=EXAMPLE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "the example exited"
                assert time.monotonic() < deadline, "the example did not start"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_served_under_the_prefix_with_cors(served: str) -> None:
    origin = {"origin": "https://app.example.com"}
    preflight = httpx.options(
        f"{served}/api/notes",
        headers={**origin, "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    written = httpx.post(f"{served}/api/notes", json={"text": "over HTTP"}, headers=origin)
    assert written.status_code == 201
    assert written.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-request-id" in written.headers["access-control-expose-headers"]
    assert len(written.headers["x-request-id"]) == 32
    refused = httpx.post(f"{served}/api/notes", json={"text": ""}, headers=origin)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    document = httpx.get(f"{served}/api/openapi.json").json()
    assert document == yaml.safe_load((EXAMPLE / "openapi.yaml").read_text())


def test_docs_under_the_prefix_load_everything_beside_them(served: str) -> None:
    page_url = f"{served}/api/docs"
    page = httpx.get(page_url)
    assert page.status_code == 200
    parser = _Assets()
    parser.feed(page.text)
    assert parser.urls
    for url in parser.urls:
        assert httpx.get(urljoin(page_url, url)).status_code == 200, url
