"""Serving an ASGI app over real HTTP (or HTTPS) on a loopback port, in a thread: the one way
the tests' fakes and test servers run under uvicorn."""

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


@dataclass(frozen=True)
class Served:
    port: int
    base_url: str  # http://127.0.0.1:PORT (https:// with TLS)
    # Stops the server (idempotent): connections to it are refused from then on.
    go_down: Callable[[], None]


@contextmanager
def serve(
    app: Any, *, port: int = 0, certfile: Path | None = None, keyfile: Path | None = None
) -> Iterator[Served]:
    """`app` under uvicorn on 127.0.0.1:`port` (0: a free one; TLS with `certfile`/`keyfile`),
    until the block ends."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
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
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    bound = sock.getsockname()[1]
    scheme = "https" if certfile else "http"
    try:
        yield Served(bound, f"{scheme}://127.0.0.1:{bound}", go_down)
    finally:
        go_down()
