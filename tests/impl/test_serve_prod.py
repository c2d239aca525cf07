"""`just serve-prod`: several uvicorn workers on one socket, sharing only the database.

Each request below opens a connection of its own, so the kernel spreads them over the
workers: what one worker learnt (a sign-out, an idempotency key) holds on the others.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fuzz.run import scratch_database
from tests.throwaway import free_port

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
FRESH_CONNECTIONS = 24
PASSWORD = "a-long-enough-password"


def _backends() -> list[pytest.ParameterSet]:
    backends = [pytest.param(None, id="sqlite")]
    if os.environ.get("TEST_DATABASE_URL"):
        backends.append(pytest.param(os.environ["TEST_DATABASE_URL"], id="postgresql"))
    return backends


def _children(pid: int) -> list[int]:
    """The worker processes of the supervisor `pid` (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            # The ppid is the second field after the parenthesised command name.
            if int(stat.rpartition(")")[2].split()[1]) == pid and b"spawn_main" in command:
                found.append(int(entry.name))
    return found


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param is None:
        yield f"sqlite:///{tmp_path / 'storefront.db'}"
        return
    with scratch_database(request.param) as url:
        yield url


@pytest.fixture
def server(
    database_url: str, tmp_path: Path, redis_url: str, redis_prefix: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KEYS_DIR": str(tmp_path / "keys"),
        "PORT": str(port),
        "WORKERS": str(WORKERS),
        "SHUTDOWN_GRACE_SECONDS": "5",
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        # Rate limits counted in Redis, under keys of this test's own.
        "REDIS_URL": redis_url,
        "RATE_LIMIT_REDIS_PREFIX": f"{redis_prefix}:ratelimit",
        "JOBS_REDIS_PREFIX": f"{redis_prefix}:jobs",
    }
    log = tmp_path / "serve-prod.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "impl", "serve-prod"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while len(_children(process.pid)) < WORKERS or not _ready(base_url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _fresh(method: str, url: str, **kwargs: object) -> httpx.Response:
    """One request on a connection of its own (so any worker may take it)."""
    with httpx.Client(timeout=10) as client:
        return client.request(method, url, **kwargs)  # type: ignore[arg-type]


def test_workers_share_sign_outs_and_idempotency_keys(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base_url, process = server
    assert len(_children(process.pid)) == WORKERS
    signed_up = _fresh(
        "POST",
        f"{base_url}/v1/users",
        json={"email": "ops@example.com", "username": "ops", "password": PASSWORD},
    )
    assert signed_up.status_code == 201, signed_up.text
    tokens = _fresh(
        "POST",
        f"{base_url}/v1/auth/token",
        data={"grant_type": "password", "username": "ops@example.com", "password": PASSWORD},
    ).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    team = _fresh("POST", f"{base_url}/v1/teams", json={"name": "Shop"}, headers=auth).json()
    product = _fresh(
        "POST",
        f"{base_url}/v1/teams/{team['id']}/products",
        json={"sku": "A", "name": "A", "price": "2.00", "currency": "EUR", "status": "active"},
        headers=auth,
    ).json()
    stocked = _fresh(
        "POST",
        f"{base_url}/v1/teams/{team['id']}/products/{product['id']}/stock/movements",
        json={"delta": 100, "reason": "receive"},
        headers=auth,
    )
    assert stocked.status_code == 201, stocked.text

    # One key, sent again and again to whichever worker takes it: one order.
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {
        "customer_email": "b@example.com",
        "lines": [{"product_id": product["id"], "quantity": 3}],
    }
    ids = set()
    for _ in range(FRESH_CONNECTIONS // 2):
        placed = _fresh(
            "POST", f"{base_url}/v1/teams/{team['id']}/orders", json=body, headers={**auth, **key}
        )
        assert placed.status_code == 201, placed.text
        ids.add(placed.json()["id"])
    assert len(ids) == 1
    stock = _fresh(
        "GET", f"{base_url}/v1/teams/{team['id']}/products/{product['id']}/stock", headers=auth
    ).json()
    assert stock["on_hand"] == 97

    # Every worker has verified (and cached) the token by now; a sign-out stops it on all.
    for _ in range(FRESH_CONNECTIONS):
        assert _fresh("GET", f"{base_url}/v1/me", headers=auth).status_code == 200
    out = _fresh(
        "POST", f"{base_url}/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
    )
    assert out.status_code == 204
    for _ in range(FRESH_CONNECTIONS):
        assert _fresh("GET", f"{base_url}/v1/me", headers=auth).status_code == 401

    # Sign-ups from one address: the limit is one count across both workers, not one each.
    limit = 10
    statuses = [
        _fresh(
            "POST",
            f"{base_url}/v1/users",
            json={"email": f"n{n}@example.com", "username": f"new{n}", "password": PASSWORD},
        ).status_code
        for n in range(limit + 4)
    ]
    # The first sign-up above counted too. Memory counts would allow `limit` per worker;
    # at a window boundary the sliding window counter may let one or two more through.
    assert statuses[: limit - 1] == [201] * (limit - 1)
    assert statuses[-2:] == [429, 429]
    assert statuses.count(201) <= limit + 1

    # SIGTERM: the supervisor stops its workers and exits cleanly.
    workers = _children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
