"""The ``python -m impl`` commands, run as an operator would: a process on a database file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from impl.seed import DEMO_EMAIL, DEMO_PASSWORD
from tests.contract.conftest import wait_ready
from tests.throwaway import free_port

ROOT = Path(__file__).resolve().parents[2]
_PRODUCTION_KEYS = {"JWT_SECRET": "j" * 40, "CURSOR_SECRET": "c" * 40}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh, migrated SQLite database and a keys directory of this test's own."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'storefront.db'}",
        "KEYS_DIR": str(tmp_path / "keys"),
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
    }
    for name in ("REDIS_URL", "ENVIRONMENT", "JWT_SECRET", "CURSOR_SECRET", "ADMIN_PASSWORD"):
        env.pop(name, None)
    _impl(env, "migrate")
    return env


def _impl(
    env: dict[str, str], *args: str, stdin: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "impl", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


def _users(env: dict[str, str]) -> list[tuple[str, str, int]]:
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return db.execute("SELECT email, username, is_admin FROM users ORDER BY email").fetchall()


@contextmanager
def _serving(env: dict[str, str], log: Path) -> Iterator[str]:
    """`python -m impl serve` on a free port, as `just serve` runs it; its base URL."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "impl", "serve"],
            cwd=ROOT,
            env={**env, "PORT": str(port)},
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


@pytest.fixture
def production_server(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    server_env = {**env, **_PRODUCTION_KEYS, "ENVIRONMENT": "production"}
    with _serving(server_env, tmp_path / "serve.log") as base_url:
        yield base_url


class TestCreateAdmin:
    def test_new_account(self, env: dict[str, str]) -> None:
        done = _impl(
            env,
            "create-admin",
            "--email",
            "Root@Example.com",
            "--username",
            "root",
            stdin="a-long-admin-password\n",
        )
        assert "Created root@example.com" in done.stdout
        assert _users(env) == [("root@example.com", "root", 1)]

    def test_existing_account_is_promoted(self, env: dict[str, str]) -> None:
        first = {**env, "ADMIN_PASSWORD": "a-long-admin-password"}
        _impl(first, "create-admin", "--email", "ada@example.com", "--username", "ada")
        again = _impl(first, "create-admin", "--email", "ada@example.com", "--username", "someone")
        assert "Promoted the existing account ada@example.com" in again.stdout
        assert _users(env) == [("ada@example.com", "ada", 1)]

    def test_refuses_what_sign_up_refuses(self, env: dict[str, str]) -> None:
        done = _impl(
            env,
            "create-admin",
            "--email",
            "root@example.com",
            "--username",
            "root",
            stdin="short\n",
            check=False,
        )
        assert done.returncode == 2
        assert "password: String should have at least 10 characters" in done.stderr
        assert _users(env) == []


class TestProduction:
    def test_refuses_to_start_without_its_own_keys(self, env: dict[str, str]) -> None:
        # Development keys made by the migration are there: production does not take them.
        assert (Path(env["KEYS_DIR"]) / "jwt_secret").exists()
        done = _impl({**env, "ENVIRONMENT": "production"}, "serve", check=False)
        assert done.returncode != 0
        assert "JWT_SECRET and CURSOR_SECRET must be set" in done.stderr
        assert "Traceback" not in done.stderr

    def test_seed_is_refused(self, env: dict[str, str]) -> None:
        done = _impl({**env, **_PRODUCTION_KEYS, "ENVIRONMENT": "production"}, "seed", check=False)
        assert done.returncode != 0
        assert "just create-admin" in done.stderr
        assert _users(env) == []

    def test_serve_creates_no_demo_account(
        self, production_server: str, env: dict[str, str]
    ) -> None:
        answer = httpx.post(
            f"{production_server}/v1/auth/token",
            data={"grant_type": "password", "username": DEMO_EMAIL, "password": DEMO_PASSWORD},
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_grant"
        assert _users(env) == []

    def test_serve_prints_no_demo_login(self, production_server: str, tmp_path: Path) -> None:
        log = (tmp_path / "serve.log").read_text()
        assert "serving on" in log
        assert "Demo login" not in log
        assert DEMO_PASSWORD not in log


def test_development_serve_seeds_the_demo_and_keeps_its_keys(env: dict[str, str]) -> None:
    done = _impl(env, "seed")
    assert DEMO_EMAIL in done.stdout
    assert _users(env) == [(DEMO_EMAIL, "demo", 1)]
    keys = Path(env["KEYS_DIR"])
    assert sorted(p.name for p in keys.iterdir()) == ["cursor_secret", "jwt_secret"]


def _token(base_url: str, email: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
    )


def test_every_development_start_says_how_to_sign_in(env: dict[str, str], tmp_path: Path) -> None:
    login = f"  email:    {DEMO_EMAIL}\n  password: {DEMO_PASSWORD}\n"
    for start in ("first", "second"):
        log = tmp_path / f"{start}.log"
        with _serving(env, log) as base_url:
            printed = log.read_text()
            assert "Demo login (development only" in printed, start
            assert login in printed, start
            assert _token(base_url, DEMO_EMAIL, DEMO_PASSWORD).status_code == 200, start
    assert _users(env) == [(DEMO_EMAIL, "demo", 1)]


def test_the_login_printed_is_one_that_signs_in(env: dict[str, str]) -> None:
    assert f"password: {DEMO_PASSWORD}" in _impl(env, "seed").stdout
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        # Any other hash: the demo password no longer verifies.
        db.execute("UPDATE users SET password_hash = ? WHERE email = ?", ("x", DEMO_EMAIL))
    again = _impl(env, "seed").stdout
    assert "demo data was not added" in again
    assert f"email:    {DEMO_EMAIL}" in again
    assert "password: (changed since it was seeded: not the demo password)" in again
    assert DEMO_PASSWORD not in again
