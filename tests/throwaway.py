"""Database servers of a test's own, on free ports, for tests that must break them.

The shared servers (PostgreSQL on 5432, Redis on 6379) are never stopped by a test: a fault
test starts its own cluster here (initdb, pg_ctl) and stops and starts it at will.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class ThrowawayPostgres:
    """A PostgreSQL cluster in `directory`, trust auth on 127.0.0.1:`port`, database `app`."""

    def __init__(self, directory: Path, bin_dir: Path) -> None:
        self.directory = directory
        self.bin_dir = bin_dir
        self.port = free_port()
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        # PostgreSQL refuses to run as root: run its tools as the postgres account then.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/app"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as, str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")

    def init(self) -> None:
        if self._as:
            shutil.chown(self.directory, user="postgres", group="postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c unix_socket_directories={self.directory}"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "app")


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A started cluster with an empty database `app`; stopped and deleted after.

    Its directory is a new one under the system's temporary directory (pytest's own may not
    be reachable by the postgres account).
    """
    bin_dir = _postgres_bin()
    if bin_dir is None:
        _unavailable("initdb is not installed: no throwaway PostgreSQL for this fault test")
        raise AssertionError("unreachable")
    directory = Path(tempfile.mkdtemp(prefix="storefront-pg-"))
    server = ThrowawayPostgres(directory, bin_dir)
    try:
        server.init()
        server.start()
        try:
            server.create_database()
            yield server
        finally:
            with contextlib.suppress(RuntimeError):  # already stopped by the test
                server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class ThrowawayRedis:
    """A redis-server of a test's own on 127.0.0.1:`port`, keeping nothing on disk."""

    def __init__(self, directory: Path, binary: str) -> None:
        self.directory = directory
        self.binary = binary
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@contextmanager
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A started redis-server; killed after."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed: no throwaway Redis for this fault test")
        raise AssertionError("unreachable")
    directory = Path(tempfile.mkdtemp(prefix="storefront-redis-"))
    server = ThrowawayRedis(directory, binary)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
