"""Sequential media types, streamed item by item: JSON Lines, JSON text sequences, SSE.

A response media type with an item schema (OpenAPI 3.2's ``itemSchema``, or the
``x-item-schema`` extension in any version) is a stream: the response class's ``body`` is an
async iterator of typed items (an iterable is accepted too), each validated against the item
type and written as soon as it is produced:

- ``application/jsonl`` and ``application/x-ndjson``: one JSON document per line (JSON Lines);
- ``application/json-seq``: RFC 7464, each JSON text after an RS (0x1E) and before an LF;
- ``text/event-stream``: one event per item, from its ``event``, ``id``, ``retry`` and ``data``
  fields (``data`` as compact JSON when it is not a string, one ``data:`` line per line of
  it); an item that is not an object is the event's data.

The status and headers are sent before the first item, so an item that fails validation
cannot change the answer any more: it is logged (operation, index, errors) and the stream ends
there, before it; the client sees a shorter stream. An exception the iterator raises ends the
stream the same way (logged with its traceback).

The handler's context (``Implementation.context``: a transaction, say) stays open while the
stream is sent, so items may be read through it, and closes when the stream ends: with the
exception that ended it (a validation failure, the iterator's own, a client that went away),
else cleanly. The request deadline (``Limits.request_timeout``) bounds the handler, not the
stream it returns.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response, StreamingResponse

from .operations import Operation

logger = logging.getLogger("specfirst")

JSON_LINES = "jsonl"
JSON_SEQ = "json-seq"
SSE = "sse"
STREAM_KINDS = frozenset({JSON_LINES, JSON_SEQ, SSE})
_SSE_FIELDS = ("event", "id", "retry")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def streams(op: Operation) -> bool:
    """Whether any response of ``op`` may be a stream."""
    return any(
        kind in STREAM_KINDS
        for spec in op.responses
        for kind in (spec.kind, *(m.kind for m in spec.alternatives))
    )


def _wire(adapter: TypeAdapter[Any], item: Any) -> bytes:
    """The item as JSON, validated on the way in and on the way out (an instance built with
    ``model_construct`` or changed after it was built is checked too)."""
    value = adapter.validate_python(item)
    wire = adapter.dump_json(value, by_alias=True, exclude_unset=True)
    adapter.validate_json(wire)
    return wire


def _json_line(adapter: TypeAdapter[Any], item: Any) -> bytes:
    return _wire(adapter, item) + b"\n"


def _json_text(adapter: TypeAdapter[Any], item: Any) -> bytes:
    return b"\x1e" + _wire(adapter, item) + b"\n"


def _event(adapter: TypeAdapter[Any], item: Any) -> bytes:
    fields = json.loads(_wire(adapter, item))
    if not isinstance(fields, dict):
        fields = {"data": fields}
    lines = []
    for name in _SSE_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        text = str(value)
        if _LINE_BREAK.search(text) or (name == "id" and "\x00" in text):
            raise ValueError(f"the event's {name} cannot be sent: it has a line break or NUL")
        lines.append(f"{name}: {text}")
    data = fields.get("data")
    if data is not None:
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        lines.extend(f"data: {line}" for line in _LINE_BREAK.split(text))
    return ("\n".join(lines) + "\n\n").encode() if lines else b""


_ENCODERS: dict[str, Callable[[TypeAdapter[Any], Any], bytes]] = {
    JSON_LINES: _json_line,
    JSON_SEQ: _json_text,
    SSE: _event,
}


async def _aiter(body: Any) -> AsyncGenerator[Any]:
    if hasattr(body, "__aiter__"):
        async for item in body:
            yield item
    elif isinstance(body, Iterable) and not isinstance(body, str | bytes | Mapping):
        for item in body:
            yield item
    else:
        raise TypeError(f"a streamed body must be an (async) iterator, not {type(body).__name__}")


Closer = Callable[[BaseException | None], Awaitable[None]]


class StreamedResponse(StreamingResponse):
    """The items of a stream response, encoded one by one; ``closing`` (set by the endpoint)
    is awaited when the stream ends, with the exception that ended it."""

    def __init__(
        self,
        op: Operation,
        kind: str,
        adapter: TypeAdapter[Any],
        body: Any,
        *,
        status: int,
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        self.closing: Closer | None = None
        if kind == SSE:
            headers = {"Cache-Control": "no-cache", **headers}
        super().__init__(
            self._items(op, _ENCODERS[kind], adapter, body),
            status_code=status,
            media_type=media_type,
            headers=headers,
        )

    async def _items(
        self,
        op: Operation,
        encode: Callable[[TypeAdapter[Any], Any], bytes],
        adapter: TypeAdapter[Any],
        body: Any,
    ) -> AsyncIterator[bytes]:
        ended: BaseException | None = None
        items = _aiter(body)  # an async generator: aclose() closes it
        index = 0
        try:
            async for item in items:
                try:
                    chunk = encode(adapter, item)
                except (ValidationError, ValueError) as exc:
                    logger.error(
                        "%s: stream item %d does not match the contract; the stream ends here: %s",
                        op.operation_id,
                        index,
                        exc,
                    )
                    ended = exc
                    break
                if chunk:
                    yield chunk
                index += 1
        except Exception as exc:
            logger.exception(
                "%s: the stream failed after %d items; it ends here", op.operation_id, index
            )
            ended = exc
        except BaseException as exc:  # cancelled: the client went away, the server stops
            ended = exc
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await items.aclose()
                close = getattr(body, "aclose", None)
                if close is not None:
                    await close()
                if self.closing is not None:
                    closing, self.closing = self.closing, None
                    await closing(ended)


def stream_response(
    op: Operation,
    kind: str,
    adapter: TypeAdapter[Any],
    body: Any,
    *,
    status: int,
    media_type: str,
    headers: Mapping[str, str],
) -> Response:
    """The streamed response of a handler's response class (see the module)."""
    return StreamedResponse(
        op, kind, adapter, body, status=status, media_type=media_type, headers=headers
    )


# ---------------------------------------------------------------------------- the context


class _Held:
    """The handler's context, left open when the handler returns a stream."""

    __slots__ = ("kept", "manager")

    def __init__(self, manager: AbstractAsyncContextManager[Any]) -> None:
        self.manager = manager
        self.kept = False

    async def __aenter__(self) -> Any:
        return await self.manager.__aenter__()

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool | None:
        if exc is None and self.kept:
            return None  # the stream closes it
        return await self.manager.__aexit__(kind, exc, tb)

    async def close(self, exc: BaseException | None) -> None:
        if self.kept:
            self.kept = False
            if exc is None:
                await self.manager.__aexit__(None, None, None)
            else:
                await self.manager.__aexit__(type(exc), exc, exc.__traceback__)


class _Kept:
    """A handler's stream result, with the context its stream closes."""

    __slots__ = ("held", "result")

    def __init__(self, result: Any, held: _Held) -> None:
        self.result = result
        self.held = held


def _is_stream(result: Any) -> bool:
    body = getattr(result, "body", None)
    return hasattr(body, "__aiter__") or hasattr(body, "__next__")


async def call_in_context(
    manager: AbstractAsyncContextManager[Any],
    handler: Callable[..., Awaitable[Any]],
    kwargs: Mapping[str, Any],
) -> Any:
    """``handler(ctx, **kwargs)`` within ``manager``; a stream it returns keeps the context
    open (the result is then wrapped, for :func:`render`)."""
    held = _Held(manager)
    async with held as ctx:
        result = await handler(ctx, **kwargs)
        if not _is_stream(result):
            return result
        held.kept = True
        return _Kept(result, held)


async def render(result: Any, render_result: Callable[[Any], Response]) -> Response:
    """``render_result(result)``; the context :func:`call_in_context` kept open closes when
    the stream ends (or now, if the response is not a stream after all)."""
    if not isinstance(result, _Kept):
        return render_result(result)
    try:
        response = render_result(result.result)
    except BaseException as exc:
        await result.held.close(exc)
        raise
    if isinstance(response, StreamedResponse):
        response.closing = result.held.close
    else:
        await result.held.close(None)
    return response
