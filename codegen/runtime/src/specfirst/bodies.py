"""Reading and validating request bodies: JSON within limits, forms, multipart, text, binary."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import (
    Any,
)
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from pydantic import (
    ValidationError,
)
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from .document import join
from .errors import _Problem
from .operations import Body, Content, Limits
from .params import _validation_problem, form_fields

logger = logging.getLogger("specfirst")


def _media_type(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower()


def _match_content(body: Body, media_type: str) -> Content | None:
    for content in body.contents:
        if content.media_type == media_type:
            return content
    for content in body.contents:
        major, _, minor = content.media_type.partition("/")
        if content.media_type == "*/*" or (minor == "*" and media_type.startswith(major + "/")):
            return content
    return None


def _too_large(limit: int) -> _Problem:
    return _Problem(
        413,
        "Content Too Large",
        f"The request body is larger than {limit} bytes, the most this operation accepts.",
    )


def _check_declared_length(request: Request, limit: int) -> None:
    """413 on a ``Content-Length`` above ``limit``, before a byte of the body is read."""
    declared = request.headers.get("content-length")
    # The server has already refused a Content-Length that is not a number.
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


async def _read_payload(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk: 413 as soon as it grows past ``limit`` (a chunked
    body announces no length), so an oversized body is never held in memory whole."""
    _check_declared_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS_ONLY = bytes(c for c in range(256) if c not in b"[]{}")
_NUMBER_MARKS = b"+-.eE"
_NOT_NUMBER = bytes(c for c in range(256) if c not in b"+-.eE0123456789")
# +1 for an opening bracket, -1 for a closing one: their running sum is the depth.
_DEPTH_STEP = [1 if c in b"[{" else -1 if c in b"]}" else 0 for c in range(256)]


@dataclass(frozen=True, slots=True)
class _JsonShape:
    """The nesting and number limits of JSON bodies, checked before parsing.

    A small body cannot break them, and most larger ones are cleared by C-speed scans (the
    count of opening brackets; the count of number characters, then a run of them); only a
    body that fails those is scanned exactly, its strings blanked out so their text does not
    count.
    """

    depth: int
    digits: int
    number_run: re.Pattern[bytes]

    @classmethod
    def of(cls, limits: Limits) -> _JsonShape:
        run = re.compile(rb"[-+.eE0-9]{%d,}" % (limits.max_number_digits + 1))
        return cls(limits.max_json_depth, limits.max_number_digits, run)

    def check(self, payload: bytes) -> None:
        deep = len(payload) > self.depth and (
            payload.count(b"[") + payload.count(b"{") > self.depth
        )
        long = (
            len(payload) > self.digits
            and len(payload.translate(None, _NOT_NUMBER)) > self.digits
            and self.number_run.search(payload) is not None
        )
        if not (deep or long):
            return
        bare = _JSON_STRING.sub(b'""', payload)
        if deep:
            steps = map(_DEPTH_STEP.__getitem__, bare.translate(None, _BRACKETS_ONLY))
            if max(accumulate(steps), default=0) > self.depth:
                raise _Problem(
                    400,
                    "Bad Request",
                    f"The request body is nested deeper than {self.depth} levels.",
                )
        if long:
            for match in self.number_run.finditer(bare):
                if len(match.group().translate(None, _NUMBER_MARKS)) > self.digits:
                    raise _Problem(
                        400,
                        "Bad Request",
                        f"A number in the request body has more than {self.digits} digits.",
                    )


async def _read_body(
    body: Body, request: Request, limits: Limits, limit: int, shape: _JsonShape
) -> Any:
    payload = await _read_payload(request, limit)
    if not payload and "content-type" not in request.headers:
        if body.required:
            raise _Problem(
                422,
                "Unprocessable Content",
                "A request body is required.",
                extensions={
                    "errors": [{"pointer": "/body", "message": "Field required", "code": "missing"}]
                },
            )
        return None
    media_type = _media_type(request)
    content = _match_content(body, media_type)
    if content is None:
        accepted = ", ".join(c.media_type for c in body.contents)
        raise _Problem(
            415,
            "Unsupported Media Type",
            f"Content-Type {media_type or '(none)'!r} is not accepted here; use {accepted}.",
            headers={"Accept": accepted},
        )
    try:
        if content.kind == "multipart":
            return await _read_multipart(content, request, payload, limits, limit)
        if len(payload) < limits.offload_bytes:
            return _parse(content, payload, limits, shape)
        # Parsing and validating a large body takes milliseconds: in a worker thread, the
        # event loop goes on serving other requests (Pydantic lets the GIL switch).
        return await anyio.to_thread.run_sync(_parse, content, payload, limits, shape)
    except ValidationError as exc:
        raise _validation_problem(exc, _body_pointer) from None


def _parse(content: Content, payload: bytes, limits: Limits, shape: _JsonShape) -> Any:
    if content.kind == "json":
        shape.check(payload)
        try:
            return content.adapter.validate_json(payload, strict=True)
        except ValidationError as exc:
            errors = exc.errors()
            if any(err["type"] == "json_invalid" for err in errors):
                raise _Problem(400, "Bad Request", "The request body is not valid JSON.") from None
            if not any(_integral_float(err) for err in errors):
                raise
        # JSON Schema counts 2.0 as an integer; strict Pydantic does not. Only on this
        # (rare) failure is the body read again with integral numbers as integers.
        normalised = json.dumps(json.loads(payload, parse_float=_integral))
        return content.adapter.validate_json(normalised, strict=True)
    if content.kind == "form":
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise _Problem(400, "Bad Request", "The form body is not valid UTF-8.") from None
        try:
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=limits.max_form_fields)
        except ValueError:
            raise _Problem(
                400,
                "Bad Request",
                f"The form body has more than {limits.max_form_fields} fields.",
            ) from None
        return content.adapter.validate_python(form_fields(pairs, content.array_fields))
    if content.kind == "text":
        try:
            return content.adapter.validate_python(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise _Problem(400, "Bad Request", "The body is not valid UTF-8.") from None
    return content.adapter.validate_python(payload)


async def _read_multipart(
    content: Content, request: Request, payload: bytes, limits: Limits, limit: int
) -> Any:
    sent = False

    async def replay() -> Message:
        # The multipart parser reads the bounded payload already in hand, not the socket.
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    try:
        form: FormData = await Request(request.scope, replay).form(
            max_files=limits.max_form_fields,
            max_fields=limits.max_form_fields,
            max_part_size=limit,
        )
    except HTTPException as exc:  # Starlette's answer to a malformed or oversized form
        raise _Problem(400, "Bad Request", f"The multipart body is refused: {exc.detail}") from None
    try:
        mdata: dict[str, Any] = {}
        for key, part in form.multi_items():
            item: Any = part if isinstance(part, str) else await part.read()
            if key in content.array_fields:
                mdata.setdefault(key, []).append(item)
            else:
                mdata[key] = item
        return content.adapter.validate_python(mdata)
    finally:
        await form.close()


def _integral_float(error: Any) -> bool:
    value = error.get("input")
    return error["type"] == "int_type" and isinstance(value, float) and value.is_integer()


def _integral(text: str) -> float | int:
    number = float(text)
    return int(number) if number.is_integer() else number


def _located(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A Pydantic error location without the steps that are not in the JSON: a union member
    that is a validated type (``function-after[_unique(), list[int]]``) names no position."""
    return tuple(
        p
        for p in loc
        if p not in ("function-after", "json-or-python")
        and not (isinstance(p, str) and p.startswith("function-after["))
    )


def _body_pointer(loc: tuple[Any, ...]) -> str:
    return join("/body", *_located(loc))
