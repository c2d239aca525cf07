"""Serving a fake's ASGI app over real HTTP (or HTTPS) on a free loopback port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn


@dataclass
class Served:
    port: int
    # Stops the server (idempotent): connections to it are refused from then on.
    go_down: Callable[[], None]


@contextmanager
def serve(
    app: Any, *, certfile: Path | None = None, keyfile: Path | None = None
) -> Iterator[Served]:
    """`app` under uvicorn on 127.0.0.1 (TLS with `certfile`/`keyfile`), until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=1,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
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
        yield Served(sock.getsockname()[1], go_down)
    finally:
        go_down()
