"""Webhooks and callbacks become typed senders; here they reach a receiver over real HTTP."""

from __future__ import annotations

import importlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.codegen.test_golden import DATA


@pytest.fixture(scope="module")
def hooks() -> Iterator[ModuleType]:
    sys.path.insert(0, str(DATA))
    try:
        yield importlib.import_module("hooks_expected")
    finally:
        sys.path.remove(str(DATA))


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A third party's endpoint: uvicorn on a loopback port, recording what arrives."""
    received: list[dict[str, Any]] = []

    async def record(request: Request) -> Response:
        received.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
                "body": await request.body(),
            }
        )
        return Response(status_code=204 if request.url.path == "/events" else 200)

    app = Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class HttpSender:
    def __init__(self, hooks: ModuleType, client: httpx.AsyncClient) -> None:
        self.rt = hooks.runtime
        self.client = client

    async def send(self, request: Any) -> Any:
        response = await self.client.request(
            request.method, request.url, headers=dict(request.headers), content=request.content
        )
        return self.rt.Delivery(status=response.status_code, content=response.content)


async def test_webhook_is_sent_as_the_contract_says(
    hooks: ModuleType, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    base_url, received = receiver
    async with httpx.AsyncClient() as client:
        delivery = await hooks.webhooks.send_post_new_pet(
            HttpSender(hooks, client),
            f"{base_url}/pets",
            shard=3,
            x_signature="sig",
            body=hooks.models.PostNewPetRequest(name="Rex"),
        )
    assert delivery.status == 200
    sent = received[-1]
    assert (sent["method"], sent["path"], sent["query"]) == ("POST", "/pets", {"shard": "3"})
    assert sent["headers"]["x-signature"] == "sig"
    assert sent["headers"]["content-type"] == "application/json"
    assert sent["body"] == b'{"name":"Rex"}'


async def test_callback_sender_leaves_out_absent_parameters(
    hooks: ModuleType, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    base_url, received = receiver
    async with httpx.AsyncClient() as client:
        delivery = await hooks.webhooks.send_notify_event(
            HttpSender(hooks, client),
            f"{base_url}/events",
            x_attempt=None,
            body=hooks.models.Event(kind="created"),
        )
    assert delivery.status == 204
    sent = received[-1]
    assert "x-attempt" not in sent["headers"]
    assert sent["body"] == b'{"kind":"created"}'


def test_outbound_operations_are_not_routed(hooks: ModuleType) -> None:
    assert [op.operation_id for op in hooks.OPERATIONS] == ["subscribe"]
