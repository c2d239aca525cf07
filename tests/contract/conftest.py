from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    token: str
    team_id: str
    product_id: str
    doomed_team_id: str  # the one delete_team may delete, so the others stay for later operations


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
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


@contextmanager
def running_service(tmp: Path) -> Iterator[str]:
    """The real service under uvicorn on a loopback port, migrated, on a SQLite file in `tmp`.

    Yields its base URL; on exit, stops it and fails if its log holds a traceback.
    """
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'contract.db'}",
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
    }
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "impl", "migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/contract/serve.py"), str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, process, log)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)
        server_log = log.read_text()
        # An unhandled error in the server is a contract failure even if the client saw a 500.
        assert "Traceback" not in server_log, server_log


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real service under uvicorn on a loopback port, migrated, with one user, team, product."""
    with running_service(tmp_path_factory.mktemp("contract")) as base_url:
        with httpx.Client(base_url=base_url) as client:
            email, password = "contract@example.com", "contract-password-1"
            client.post(
                "/v1/users", json={"email": email, "username": "contract", "password": password}
            ).raise_for_status()
            token = client.post(
                "/v1/auth/token",
                data={"grant_type": "password", "username": email, "password": password},
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            team = client.post("/v1/teams", json={"name": "Contract"}, headers=auth).json()
            doomed = client.post("/v1/teams", json={"name": "Doomed"}, headers=auth).json()
            product = client.post(
                f"/v1/teams/{team['id']}/products",
                json={"sku": "CONTRACT-1", "name": "Contract", "price": "1.00", "currency": "EUR"},
                headers=auth,
            ).json()
        yield LiveServer(base_url, token, team["id"], product["id"], doomed["id"])
