"""Serve an ASGI app under uvicorn in a thread, on a free loopback port, for a test's fake."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


@dataclass(frozen=True)
class Served:
    base_url: str
    # Stops the server (idempotent): connections to it are refused from then on.
    go_down: Callable[[], None]


@contextmanager
def serve(app: ASGIApp, *, port: int = 0) -> Iterator[Served]:
    """`app` on 127.0.0.1:`port` (0: a free one) until the block ends."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)

    def go_down() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake server did not start")
        time.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", go_down)
    finally:
        go_down()
