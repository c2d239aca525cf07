from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from specfirst.document import Document
from tests.throwaway import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    token: str
    team_id: str
    product_id: str
    doomed_team_id: str  # the one delete_team may delete, so the others stay for later operations


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


def resolved(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` as a Reference Object, its local ``$ref`` chain in ``document`` followed."""
    found: dict[str, Any] = Document(document).follow(node).node
    return found


def server_env(database_url: str) -> dict[str, str]:
    """The environment of a server process on ``database_url`` (in-process rate limits etc.)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        # schemathesis sends thousands of requests from one address and one account: the
        # limits stay on (and counted), scaled out of its way.
        "RATE_LIMIT_SCALE": "1000",
    }
    env.pop("REDIS_URL", None)
    return env


def migrate(env: dict[str, str], *, root: Path = ROOT) -> None:
    subprocess.run(
        [sys.executable, "-m", "impl", "migrate"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )


@contextmanager
def running_server(env: dict[str, str], log: Path, *, root: Path = ROOT) -> Iterator[str]:
    """The real app under uvicorn (serve.py: response validation on) on a free loopback port.

    Yields its base URL; stops it afterwards. The server's output goes to ``log``. ``root``:
    the checkout to run (``env``'s PYTHONPATH must point at it too).
    """
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(root / "tests/contract/serve.py"), str(port)],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process, log)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def sign_up(base_url: str, email: str, password: str) -> tuple[str, str]:
    """A new account (through the public sign-up and password grant): its id and an access token."""
    with httpx.Client(base_url=base_url) as client:
        user = client.post(
            "/v1/users",
            json={"email": email, "username": email.partition("@")[0], "password": password},
        )
        user.raise_for_status()
    return user.json()["id"], log_in(base_url, email, password)


def log_in(base_url: str, email: str, password: str) -> str:
    """An access token for an existing account (OAuth2 password grant)."""
    with httpx.Client(base_url=base_url) as client:
        token = client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": email, "password": password},
        )
        token.raise_for_status()
        return str(token.json()["access_token"])


@contextmanager
def fresh_server(tmp: Path) -> Iterator[str]:
    """The app on a new, migrated SQLite database under ``tmp``; its base URL.

    Afterwards, fails if the server logged a traceback: an unhandled error is a contract
    failure even when the client saw a conforming 500.
    """
    env = server_env(f"sqlite+aiosqlite:///{tmp / 'app.db'}")
    migrate(env)
    log = tmp / "server.log"
    with running_server(env, log) as base_url:
        yield base_url
    server_log = log.read_text()
    assert "Traceback" not in server_log, server_log


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real service under uvicorn on a loopback port, migrated, with one user, team, product."""
    tmp = tmp_path_factory.mktemp("contract")
    with fresh_server(tmp) as base_url, httpx.Client(base_url=base_url) as client:
        _, token = sign_up(base_url, "contract@example.com", "contract-password-1")
        auth = {"Authorization": f"Bearer {token}"}
        team = client.post("/v1/teams", json={"name": "Contract"}, headers=auth).json()
        doomed = client.post("/v1/teams", json={"name": "Doomed"}, headers=auth).json()
        product = client.post(
            f"/v1/teams/{team['id']}/products",
            json={"sku": "CONTRACT-1", "name": "Contract", "price": "1.00", "currency": "EUR"},
            headers=auth,
        ).json()
        yield LiveServer(base_url, token, team["id"], product["id"], doomed["id"])


LINK_BODY = "x-request-body"


def for_schemathesis(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the bundled ``document`` in which each link's ``x-request-body`` is its
    ``requestBody``, for schemathesis' stateful phase.

    The spec keeps a structured link body (runtime expressions at its leaves, which
    schemathesis evaluates) under ``x-request-body``, because openapi-generator's parser
    rejects any ``requestBody`` of a link that is not a string (lint rule link-request-body).
    """
    copied = copy.deepcopy(document)
    for item in copied.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            for response in responses.values():
                for link in response.get("links", {}).values():
                    if LINK_BODY in link:
                        link["requestBody"] = link.pop(LINK_BODY)
    return copied
