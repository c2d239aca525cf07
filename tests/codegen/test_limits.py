"""Request limits of the generated runtime: body size (413), JSON shape (400), form fields
(400), the handler deadline (503), and large bodies parsed off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import specfirst
from tests.codegen.conftest import generated_package, served

_ANY_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {}}},
}
_OK = {"200": {"description": "Done."}}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Limits", "version": "1.0.0"},
    "paths": {
        "/echo": {
            "post": {
                "operationId": "echo",
                "tags": ["limits"],
                "requestBody": _ANY_BODY,
                "responses": _OK,
            }
        },
        "/small": {
            "post": {
                "operationId": "small",
                "tags": ["limits"],
                "x-max-body-bytes": 64,
                "requestBody": _ANY_BODY,
                "responses": _OK,
            }
        },
        "/form": {
            "post": {
                "operationId": "form",
                "tags": ["limits"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {"type": "object", "additionalProperties": True}
                        }
                    },
                },
                "responses": _OK,
            }
        },
        "/upload": {
            "post": {
                "operationId": "upload",
                "tags": ["limits"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                                "required": ["file"],
                            }
                        }
                    },
                },
                "responses": _OK,
            }
        },
        "/bulk": {
            "post": {
                "operationId": "bulk",
                "tags": ["limits"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "name": {"type": "string", "pattern": "^[a-z]+$"},
                                        "count": {"type": "integer"},
                                    },
                                    "required": ["name", "count"],
                                },
                            }
                        }
                    },
                },
                "responses": _OK,
            }
        },
        "/slow": {
            "get": {"operationId": "slow", "tags": ["limits"], "responses": _OK},
        },
        "/ping": {
            "get": {"operationId": "ping", "tags": ["limits"], "responses": _OK},
        },
    },
}


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return generated_package(DOCUMENT, tmp_path_factory.mktemp("limits"), "limits_api")


class Handlers:
    def __init__(self, pkg: ModuleType) -> None:
        self.r = pkg.responses.limits
        self.finished: list[str] = []
        self.cancelled = asyncio.Event()

    async def echo(self, ctx: Any, *, body: Any) -> Any:
        return self.r.Echo200()

    async def small(self, ctx: Any, *, body: Any) -> Any:
        return self.r.Small200()

    async def form(self, ctx: Any, *, body: Any) -> Any:
        return self.r.Form200()

    async def upload(self, ctx: Any, *, body: Any) -> Any:
        return self.r.Upload200()

    async def bulk(self, ctx: Any, *, body: Any) -> Any:
        self.finished.append("bulk")
        return self.r.Bulk200()

    async def slow(self, ctx: Any) -> Any:
        try:
            await asyncio.Event().wait()  # never set: only the deadline ends it
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return self.r.Slow200()

    async def ping(self, ctx: Any) -> Any:
        self.finished.append("ping")
        return self.r.Ping200()


def _context(info: Any) -> AbstractAsyncContextManager[Any]:
    @asynccontextmanager
    async def open_context() -> AsyncIterator[Any]:
        yield None

    return open_context()


def _client(pkg: ModuleType, handlers: Handlers, **limits: Any) -> httpx.AsyncClient:
    app = pkg.build_app(
        pkg.Implementation(context=_context, limits=handlers),
        limits=specfirst.Limits(**limits),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def handlers(pkg: ModuleType) -> Handlers:
    return Handlers(pkg)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


class Endless:
    """A request body of ``chunks`` chunks, counting how many the server pulled."""

    def __init__(self, chunk: bytes, chunks: int) -> None:
        self.chunk = chunk
        self.chunks = chunks
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.sent += 1
            yield self.chunk


async def test_a_declared_length_over_the_limit_is_refused_unread(
    pkg: ModuleType, handlers: Handlers
) -> None:
    body = Endless(b" " * 1024, 100)
    async with _client(pkg, handlers, max_body_bytes=4096) as client:
        response = await client.post(
            "/echo",
            content=body,
            headers={"content-type": "application/json", "content-length": str(100 * 1024)},
        )
    problem = _problem(response, 413)
    assert problem["title"] == "Content Too Large"
    assert "4096 bytes" in problem["detail"]
    assert body.sent <= 1  # ASGITransport may pull the first chunk; the rest stay unsent


async def test_a_streamed_body_is_cut_at_the_limit(pkg: ModuleType, handlers: Handlers) -> None:
    # No Content-Length (chunked): the server stops reading once the limit is passed.
    body = Endless(b" " * 1024, 1000)
    async with _client(pkg, handlers, max_body_bytes=8 * 1024) as client:
        response = await client.post(
            "/echo", content=body, headers={"content-type": "application/json"}
        )
    _problem(response, 413)
    assert "content-length" not in response.request.headers
    assert body.sent < 20


async def test_a_body_within_the_limit_is_served(pkg: ModuleType, handlers: Handlers) -> None:
    async with _client(pkg, handlers, max_body_bytes=64) as client:
        response = await client.post("/echo", json={"a": [1, 2, 3]})
    assert response.status_code == 200


async def test_an_operation_overrides_the_limit(pkg: ModuleType, handlers: Handlers) -> None:
    payload = {"text": "x" * 100}  # within the app's 1 MiB, over /small's 64 bytes
    async with _client(pkg, handlers) as client:
        assert (await client.post("/echo", json=payload)).status_code == 200
        problem = _problem(await client.post("/small", json=payload), 413)
        assert "64 bytes" in problem["detail"]
        assert (await client.post("/small", json={"a": 1})).status_code == 200
    assert pkg.app.OPERATIONS[1].max_body_bytes == 64


@pytest.mark.parametrize("depth", [64, 65, 500])
async def test_json_nesting_is_bounded(pkg: ModuleType, handlers: Handlers, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    async with _client(pkg, handlers) as client:
        response = await client.post(
            "/echo", content=nested, headers={"content-type": "application/json"}
        )
    if depth <= 64:
        assert response.status_code == 200
        return
    problem = _problem(response, 400)
    assert problem["detail"] == "The request body is nested deeper than 64 levels."


async def test_brackets_inside_strings_are_not_nesting(pkg: ModuleType, handlers: Handlers) -> None:
    text = '{"a": "' + "[{" * 200 + '\\"[[[[", "b": [[1]]}'
    async with _client(pkg, handlers) as client:
        response = await client.post(
            "/echo", content=text, headers={"content-type": "application/json"}
        )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("number", "refused"),
    [
        ("1" * 100, False),
        ("1" * 101, True),
        ("-0." + "5" * 60 + "e" + "1" * 45, True),
        ("-0." + "5" * 60 + "e+" + "1" * 10, False),
    ],
)
async def test_json_number_length_is_bounded(
    pkg: ModuleType, handlers: Handlers, number: str, refused: bool
) -> None:
    async with _client(pkg, handlers) as client:
        response = await client.post(
            "/echo",
            content='{"n": ' + number + ', "s": "' + "9" * 300 + '"}',
            headers={"content-type": "application/json"},
        )
    if not refused:
        assert response.status_code == 200, response.text
        return
    problem = _problem(response, 400)
    assert problem["detail"] == "A number in the request body has more than 100 digits."


async def test_invalid_json_is_still_reported_as_such(pkg: ModuleType, handlers: Handlers) -> None:
    async with _client(pkg, handlers) as client:
        response = await client.post(
            "/echo", content="[" * 10, headers={"content-type": "application/json"}
        )
    assert _problem(response, 400)["detail"] == "The request body is not valid JSON."


async def test_form_fields_are_bounded(pkg: ModuleType, handlers: Handlers) -> None:
    async with _client(pkg, handlers, max_form_fields=10) as client:
        assert (await client.post("/form", data={f"f{i}": "v" for i in range(10)})).is_success
        response = await client.post("/form", data={f"f{i}": "v" for i in range(11)})
    assert _problem(response, 400)["detail"] == "The form body has more than 10 fields."


async def test_multipart_bodies_are_bounded(pkg: ModuleType, handlers: Handlers) -> None:
    async with _client(pkg, handlers, max_body_bytes=4096, max_form_fields=3) as client:
        ok = await client.post("/upload", files={"file": ("a.bin", b"x" * 1000)})
        assert ok.status_code == 200, ok.text
        _problem(await client.post("/upload", files={"file": ("a.bin", b"x" * 5000)}), 413)
        many = await client.post(
            "/upload", files={"file": ("a.bin", b"x")}, data={f"f{i}": "v" for i in range(5)}
        )
    assert "multipart body is refused" in _problem(many, 400)["detail"]


async def test_the_deadline_cancels_the_handler_and_answers_503(
    pkg: ModuleType, handlers: Handlers
) -> None:
    async with _client(pkg, handlers, request_timeout=0.05, retry_after=7) as client:
        response = await client.get("/slow")
        problem = _problem(response, 503)
        assert response.headers["retry-after"] == "7"
        assert "within 0.05 seconds" in problem["detail"]
        assert handlers.cancelled.is_set()
        # The task that served it is fine afterwards: the next request is answered.
        assert (await client.get("/ping")).status_code == 200


async def test_concurrent_requests_each_get_their_own_deadline(
    pkg: ModuleType, handlers: Handlers
) -> None:
    async with _client(pkg, handlers, request_timeout=0.2) as client:
        first = asyncio.ensure_future(client.get("/slow"))
        pings = [await client.get("/ping") for _ in range(5)]  # quick ones are not cut
        second = asyncio.ensure_future(client.get("/slow"))
        answers = await asyncio.gather(first, second)
    assert [p.status_code for p in pings] == [200] * 5
    assert [a.status_code for a in answers] == [503, 503]


async def test_without_a_deadline_handlers_are_not_cut(pkg: ModuleType, handlers: Handlers) -> None:
    async with _client(pkg, handlers, request_timeout=None) as client:
        slow = asyncio.ensure_future(client.get("/slow"))
        await asyncio.sleep(0.2)
        assert not slow.done()
        slow.cancel()
    assert not handlers.cancelled.is_set() or slow.cancelled()


async def test_a_large_body_is_parsed_while_other_requests_are_served(
    pkg: ModuleType, handlers: Handlers
) -> None:
    # About 1 MiB of items to validate, each against a pattern: milliseconds of parsing,
    # done in a worker thread, so requests that arrive meanwhile are answered first.
    items = b",".join(b'{"name":"abcdefghij","count":%d}' % i for i in range(28_000))
    body = b"[" + items + b"]"
    assert len(body) < 1 << 20
    body_sent = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]
        body_sent.set()

    async with _client(pkg, handlers) as client:
        big = asyncio.ensure_future(
            client.post("/bulk", content=chunks(), headers={"content-type": "application/json"})
        )
        await body_sent.wait()
        pings = 0
        while not big.done():
            assert (await client.get("/ping")).status_code == 200
            pings += 1
            # A ping through ASGITransport need not suspend: let the big request's task in.
            await asyncio.sleep(0)
        assert (await big).status_code == 200
    assert pings >= 1
    assert handlers.finished.index("ping") < handlers.finished.index("bulk")


def test_x_max_body_bytes_must_be_a_positive_integer(tmp_path: Path) -> None:
    from codegen.errors import SpecError

    document = {
        **DOCUMENT,
        "paths": {"/small": {"post": {**DOCUMENT["paths"]["/small"]["post"]}}},
    }
    document["paths"]["/small"]["post"]["x-max-body-bytes"] = "64k"
    with pytest.raises(SpecError, match="x-max-body-bytes must be a positive integer"):
        generated_package(document, tmp_path, "limits_bad")


def test_over_real_http_an_oversized_upload_is_answered_and_the_connection_kept(
    pkg: ModuleType, handlers: Handlers
) -> None:
    app = pkg.build_app(pkg.Implementation(context=_context, limits=handlers))

    def chunked() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * (1 << 20)

    with served(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        declared = client.post(
            "/echo", content=b" " * (20 << 20), headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413
        assert declared.json()["title"] == "Content Too Large"
        streamed = client.post(
            "/echo", content=chunked(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert client.post("/echo", json={"a": 1}).status_code == 200
