"""Runtime for the generated routes: parsing, validation, security, responses, problems.

It is copied as-is into every generated package, so the package needs only Starlette and
Pydantic. Operations are described by data (:class:`Operation`); one endpoint function per
operation parses and validates with precompiled Pydantic adapters, resolves credentials, calls
the implementation inside the context it supplies and renders the response class it returns.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import contextvars
import datetime
import importlib.util
import inspect
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from itertools import accumulate
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Generic, Protocol, Union, Unpack, get_args, get_origin
from urllib.parse import parse_qsl, urlencode

import anyio
import anyio.to_thread
import pydantic
from pydantic import (
    AfterValidator,
    BeforeValidator,
    GetCoreSchemaHandler,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError, core_schema, to_jsonable_python
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from typing_extensions import TypeVar

logger = logging.getLogger("openapi.runtime")

Ctx = TypeVar("Ctx")
P_co = TypeVar("P_co", covariant=True, default=Any)  # the principal an Authenticator returns
P_contra = TypeVar("P_contra", contravariant=True, default=Any)
Ctx_co = TypeVar("Ctx_co", covariant=True)

REQUEST_ID_HEADER = "x-request-id"
PROBLEM_JSON = "application/problem+json"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

try:  # Pydantic's EmailStr validates with email-validator when it is installed.
    import email_validator

    # JSON Schema's `format: email` is RFC 5321 syntax; special-use domains such as `.test`
    # are syntactically valid, and a contract must not reject what its schema allows.
    email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()
except ImportError:  # pragma: no cover - only Pydantic's own str validation then
    pass


# ---------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An error to render as RFC 9457 problem+json. Subclass it for your own hierarchy."""

    status: int = 500
    title: str = "Internal Server Error"
    detail: str = ""
    headers: dict[str, str]
    extensions: dict[str, Any]

    @property
    def type(self) -> str:
        return "about:blank"


class _Problem(ApiError):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str,
    problem_type: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    """Render an RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id_var.get(),
    }
    if extensions:
        for key, value in extensions.items():
            body.setdefault(key, value)
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def error_response(exc: ApiError, instance: str) -> Response:
    """Render an :class:`ApiError`."""
    return problem_response(
        exc.status,
        exc.title,
        exc.detail or exc.title,
        instance=instance,
        problem_type=exc.type,
        headers=getattr(exc, "headers", None),
        extensions=getattr(exc, "extensions", None),
    )


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why a request failed validation, at one place: a JSON pointer into the request
    (``/body/lines/0``, ``/query/limit``, ``/header/x-count``), a message, Pydantic's code."""

    pointer: str
    message: str
    code: str


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem about to be answered, as a :class:`ProblemRenderer` is given it.

    ``headers`` are the ones HTTP requires with it (``WWW-Authenticate`` on a 401, ``Allow`` on
    a 405, ``Accept`` on a 415); they are added to whatever response renders the problem.
    ``extensions`` are the problem document's other members (``errors`` among them).
    """

    status: int
    title: str
    detail: str
    type: str
    instance: str
    request_id: str
    errors: tuple[FieldError, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)


def problem_of(exc: ApiError, instance: str) -> Problem:
    """The :class:`Problem` an :class:`ApiError` is answered as."""
    extensions = dict(getattr(exc, "extensions", None) or {})
    listed = extensions.get("errors")
    errors = tuple(
        FieldError(str(e.get("pointer", "")), str(e.get("message", "")), str(e.get("code", "")))
        for e in (listed if isinstance(listed, list) else ())
        if isinstance(e, Mapping)
    )
    return Problem(
        status=exc.status,
        title=exc.title,
        detail=exc.detail or exc.title,
        type=exc.type,
        instance=instance,
        request_id=request_id_var.get(),
        errors=errors,
        headers=dict(getattr(exc, "headers", None) or {}),
        extensions=extensions,
    )


def _problem_json(problem: Problem) -> Response:
    return problem_response(
        problem.status,
        problem.title,
        problem.detail,
        instance=problem.instance,
        problem_type=problem.type,
        headers=problem.headers,
        extensions=problem.extensions,
    )


# ---------------------------------------------------------------------------- description


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: where it is, its wire name, and how it is serialised."""

    name: str
    location: str  # path | query | header | cookie
    python_name: str
    required: bool = False
    default: Any = None
    has_default: bool = False
    shape: str = "scalar"  # scalar | array | object
    style: str = "form"
    explode: bool = True
    content_json: bool = False  # a `content: application/json` parameter


@dataclass(frozen=True, slots=True)
class Content:
    """One accepted request media type and how to read it."""

    media_type: str
    kind: str  # json | form | text | binary | multipart
    adapter: TypeAdapter[Any]
    array_fields: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Body:
    required: bool
    contents: tuple[Content, ...]


@dataclass(frozen=True, slots=True)
class HeaderSpec:
    attribute: str
    name: str
    required: bool


@dataclass(frozen=True, slots=True)
class MediaSpec:
    """Another media type a response may be sent as (the class's ``media_type`` picks it)."""

    media_type: str
    kind: str
    adapter: TypeAdapter[Any]


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    """How a generated response class becomes an HTTP response."""

    cls: type[Any]
    status: str  # "200", "2XX" or "default"
    media_type: str | None
    kind: str  # json | text | binary | empty
    adapter: TypeAdapter[Any] | None
    headers: tuple[HeaderSpec, ...] = ()
    alternatives: tuple[MediaSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class SecurityScheme:
    name: str
    type: str  # http | apiKey | oauth2 | openIdConnect | mutualTLS
    scheme: str = ""  # for http: bearer, basic, ...
    location: str = ""  # for apiKey: header | query | cookie
    parameter: str = ""  # for apiKey: the name


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request presented for one security scheme."""

    scheme: SecurityScheme
    value: str  # the token, API key or raw credentials
    username: str | None = None  # http basic
    password: str | None = None  # http basic


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    tag: str
    method: str
    path: str
    method_name: str
    params: tuple[Param, ...]
    params_adapter: TypeAdapter[Any] | None
    body: Body | None
    responses: tuple[ResponseSpec, ...]
    statuses: frozenset[str]
    security: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = ((),)
    deprecated: bool = False
    max_body_bytes: int | None = None  # `x-max-body-bytes`; None: the app's Limits

    def documents(self, status: int) -> bool:
        """Whether the operation documents this status (exactly, as a range, or by default)."""
        code = str(status)
        return (
            code in self.statuses or f"{code[0]}XX" in self.statuses or "default" in self.statuses
        )

    def response(self, status: int) -> ResponseSpec | None:
        """The documented response a status is answered with: its own, its range, ``default``."""
        code = str(status)
        by_status = {spec.status: spec for spec in self.responses}
        return by_status.get(code) or by_status.get(f"{code[0]}XX") or by_status.get("default")


@dataclass(frozen=True, slots=True)
class RequestInfo(Generic[P_co]):
    """What the implementation's context factory is told about a request.

    ``principal`` is what the authenticator returned for the satisfied security requirement,
    or None for an operation (or alternative) that needs no credentials. ``arguments`` are
    the handler's keyword arguments, validated: parameters by their Python names, ``body``.
    """

    request: Request
    operation: Operation
    principal: P_co | None
    arguments: Mapping[str, Any] = field(default_factory=dict)


class ContextFactory(Protocol[Ctx_co, P_contra]):
    """Opens the per-request context handed to every handler (a transaction, say)."""

    def __call__(self, info: RequestInfo[P_contra], /) -> AbstractAsyncContextManager[Ctx_co]: ...


class Authenticator(Protocol[P_co]):
    """Turns credentials into a principal (or None to refuse them)."""

    async def authenticate(
        self, credentials: Credentials, scopes: Sequence[str]
    ) -> P_co | None: ...


class ProblemRenderer(Protocol):
    """Renders a problem as one of the operation's documented responses.

    Called for every problem the server is about to send as problem+json: its own (422 with
    pointers, 400, 401, 413, 415, 404 and 405 with no ``operation``, 500, 501, 503) and the
    errors (:class:`ApiError`) handlers and the authenticator raise. It returns an instance of one
    of ``operation``'s response classes, rendered and checked like a handler's (of any
    operation's when ``operation`` is None), or None for the problem+json. An exception it
    raises is logged and the problem+json sent; a class the operation does not document is a
    programming error, answered 500.
    """

    def __call__(self, problem: Problem, operation: Operation | None, /) -> object | None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may cost the server before it is refused.

    ``max_body_bytes`` bounds every request body (413 as soon as ``Content-Length`` or the
    bytes streamed so far exceed it; an operation's ``x-max-body-bytes`` overrides it).
    ``max_json_depth`` and ``max_number_digits`` bound a JSON body's nesting and its
    numbers (400 each, with its own message), ``max_form_fields`` a form's or multipart
    body's fields (400). Bodies of ``offload_bytes`` or more are parsed and validated in a
    worker thread, so the event loop keeps serving other requests meanwhile.
    ``request_timeout`` (seconds, None for none) is the deadline of the context and the
    handler: past it the handler is cancelled and the answer is 503 with ``Retry-After:
    retry_after``.
    """

    max_body_bytes: int = 1 << 20
    max_json_depth: int = 64
    max_number_digits: int = 100
    max_form_fields: int = 1000
    offload_bytes: int = 64 << 10
    request_timeout: float | None = 30.0
    retry_after: int = 5


@dataclass(frozen=True, slots=True)
class Options(Generic[Ctx]):
    context: ContextFactory[Ctx, Any] | None
    authenticator: Authenticator[Any] | None
    schemes: Mapping[str, SecurityScheme]
    validate_responses: bool
    problems: ProblemWriter | None = None
    limits: Limits = field(default_factory=Limits)


# ---------------------------------------------------------------------------- parsing


_INTEGER_TEXT = re.compile(r"^-?[0-9]+$")
_NUMBER_TEXT = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


def _from_text(value: Any) -> Any:
    if isinstance(value, str) and _NUMBER_TEXT.match(value):
        return json.loads(value)
    return value


def _integer_text(value: Any) -> Any:
    if isinstance(value, str) and not _INTEGER_TEXT.match(value):
        raise ValueError("Input should be an integer written as one, such as 12")
    return value


# Parameters arrive as text. An enum of numbers reads the value as a JSON number first, and an
# integer must be written as one ("1.0" or "1e3" is refused, as a JSON Schema would say).
from_text = BeforeValidator(_from_text)
integer_text = BeforeValidator(_integer_text)

# JSON Schema's date-time and date are RFC 3339's. Pydantic also reads "0.5" or "1700000000"
# as a Unix time, even in strict mode: such input is refused before it gets there.
_DATE_TIME_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# Text that passed the RFC 3339 check is parsed here, by Pydantic's own (lax) parser: after a
# before-validator the type's validator sees a Python value, and in strict mode (request
# bodies) a `str` is not a datetime, so it must get the parsed value.
_PARSE_DATE_TIME = TypeAdapter(datetime.datetime)
_PARSE_DATE = TypeAdapter(datetime.date)


def _date_time_text(value: Any) -> Any:
    if isinstance(value, str):
        if not _DATE_TIME_TEXT.fullmatch(value):
            raise ValueError("Input should be an RFC 3339 date-time, such as 2024-11-05T09:30:00Z")
        return _PARSE_DATE_TIME.validate_python(value)
    return value


def _date_text(value: Any) -> Any:
    if isinstance(value, str):
        if not _DATE_TEXT.fullmatch(value):
            raise ValueError("Input should be an RFC 3339 full-date, such as 2024-11-05")
        return _PARSE_DATE.validate_python(value)
    return value


date_time_text = BeforeValidator(_date_time_text)
date_text = BeforeValidator(_date_text)
# What models.py uses for date-time and date fields.
AwareDatetime = Annotated[pydantic.AwareDatetime, date_time_text]
Date = Annotated[datetime.date, date_text]


@dataclass(frozen=True, slots=True)
class Matches:
    """A second ``pattern`` (a ``$ref``'s sibling, when the target has its own): both must
    match. Checked after the type's own validation, by the same regex engine."""

    pattern: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.chain_schema(
            [handler(source), core_schema.str_schema(pattern=self.pattern)]
        )


def object_size(minimum: int | None = None, maximum: int | None = None) -> AfterValidator:
    """minProperties / maxProperties of a model: counts the properties the client sent."""

    def check(value: Any) -> Any:
        sent = len(getattr(value, "model_fields_set", ())) + len(
            getattr(value, "model_extra", None) or {}
        )
        if minimum is not None and sent < minimum:
            raise ValueError(f"at least {minimum} propert{'y' if minimum == 1 else 'ies'} required")
        if maximum is not None and sent > maximum:
            raise ValueError(f"at most {maximum} properties allowed")
        return value

    return AfterValidator(check)


def json_key(value: Any) -> Hashable:
    """A key that two values share exactly when their JSON texts are equal as JSON values.

    Numbers compare by value (``1`` is ``1.0``), objects ignore member order, and ``true``,
    ``1`` and ``"1"`` stay apart. Models count as the JSON they were read from or will be
    written as (fields never set left out); other types (UUIDs, dates) as their JSON text.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, Mapping):
        return (dict, frozenset((key, json_key(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return (list, tuple(json_key(item) for item in value))
    if isinstance(value, pydantic.BaseModel):
        return json_key(value.model_dump(mode="json", by_alias=True, exclude_unset=True))
    return json_key(to_jsonable_python(value, by_alias=True))


_PLAIN = frozenset({str, int, float})  # exactly these types: their own JSON key (not bool)


def _unique(value: Sequence[Any]) -> Sequence[Any]:
    if len(value) < 2:
        return value
    # The common case (strings, numbers, all different) without a key per item.
    if _PLAIN.issuperset(map(type, value)) and len(set(value)) == len(value):
        return value
    seen: dict[Hashable, int] = {}
    for index, item in enumerate(value):
        first = seen.setdefault(json_key(item), index)
        if first != index:
            raise PydanticCustomError(
                "unique_items",
                "Array items should be unique; items {first} and {second} are equal",
                {"first": first, "second": index},
            )
    return value


# `uniqueItems: true`. The validated items are compared (see json_key), so a format Pydantic
# reads into one value from two texts (a UUID in upper and lower case) counts as one item.
unique_items = AfterValidator(_unique)


_ABSENT = object()


def _unpacked(arg: Any) -> Any:
    """``T`` for ``*tuple[T, ...]`` (or ``Unpack[tuple[T, ...]]``), else ``None``."""
    if getattr(arg, "__unpacked__", False) or get_origin(arg) is Unpack:
        inner = get_args(arg)[0] if get_origin(arg) is Unpack else arg
        return get_args(inner)[0]
    return None


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Positions:
    """``prefixItems``: validates each position of a JSON array with its own type.

    The annotation is a union of tuples, the longest naming every position and, when more
    items are allowed, their type (``tuple[str, int, *tuple[float, ...]]``). As in JSON Schema
    an array may stop before the last position unless ``minimum`` (minItems) says otherwise;
    ``unique`` is ``uniqueItems``.
    """

    minimum: int = 0
    maximum: int | None = None
    unique: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        members = get_args(source) if get_origin(source) in (Union, UnionType) else (source,)
        longest = max(members, key=lambda member: len(get_args(member)))
        prefix: list[Any] = []
        tail: Any = None
        for arg in get_args(longest):
            if (inner := _unpacked(arg)) is not None:
                tail = inner
            elif arg != ():
                prefix.append(arg)
        # Missing trailing positions take a marker, dropped after validation.
        items: list[core_schema.CoreSchema] = [
            core_schema.with_default_schema(handler.generate_schema(p), default=_ABSENT)
            for p in prefix
        ]
        if tail is not None:
            items.append(handler.generate_schema(tail))
        schema = core_schema.tuple_schema(
            items,
            variadic_item_index=len(prefix) if tail is not None else None,
            max_length=self.maximum,
        )
        # A shorter array is written as the tuple of its own length.
        lengths: list[core_schema.CoreSchema | tuple[core_schema.CoreSchema, str]] = [
            core_schema.tuple_schema([handler.generate_schema(p) for p in prefix[:length]])
            for length in range(len(prefix))
        ]
        full = [handler.generate_schema(p) for p in (*prefix, *([tail] if tail else []))]
        lengths.append(
            core_schema.tuple_schema(
                full, variadic_item_index=len(prefix) if tail is not None else None
            )
        )
        serialization = core_schema.plain_serializer_function_ser_schema(
            _same, return_schema=core_schema.union_schema(lengths)
        )
        return core_schema.no_info_after_validator_function(
            self._check, schema, serialization=serialization
        )

    def _check(self, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if _ABSENT in value:
            value = value[: value.index(_ABSENT)]
        if len(value) < self.minimum:
            raise PydanticCustomError(
                "too_short",
                "Array should have at least {minimum} items, not {length}",
                {"minimum": self.minimum, "length": len(value)},
            )
        if self.unique:
            _unique(value)
        return value


def _pointer_token(value: object) -> str:
    return str(value).replace("~", "~0").replace("/", "~1")


def _validation_problem(exc: ValidationError, prefix: Callable[[tuple[Any, ...]], str]) -> _Problem:
    errors = [
        {"pointer": prefix(tuple(err["loc"])), "message": err["msg"], "code": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return _Problem(
        422,
        "Unprocessable Content",
        "The request does not match the API contract.",
        extensions={"errors": errors},
    )


def _split(raw: str, style: str, explode: bool) -> list[str]:
    if raw == "":
        return []
    separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
    return raw.split(separator)


def _path_value(raw: str, param: Param) -> Any:
    """Undo the simple, label (``.a.b``) and matrix (``;id=a,b``) path styles."""
    separator = ","
    if param.style == "label" and raw.startswith("."):
        raw = raw[1:]
        separator = "." if param.explode else ","
    elif param.style == "matrix":
        prefix = f";{param.name}="
        if param.shape == "array" and param.explode:
            if not raw.startswith(prefix):
                return raw  # validation reports it
            return [part.partition("=")[2] for part in raw[1:].split(";")]
        if raw.startswith(prefix):
            raw = raw[len(prefix) :]
    if param.shape == "scalar":
        return raw
    items = raw.split(separator) if raw else []
    return items if param.shape == "array" else _object_from_pairs(items)


def _object_from_pairs(items: list[str]) -> dict[str, str]:
    return dict(zip(items[::2], items[1::2], strict=False))


def _read_params(op: Operation, request: Request) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    query = request.query_params
    for param in op.params:
        value: Any = None
        present = False
        if param.location == "path":
            value = request.path_params.get(param.python_name)
            present = value is not None
            if present:
                value = _path_value(str(value), param)
        elif param.location == "query":
            if param.shape == "object" and param.style == "deepObject":
                prefix = param.name + "["
                obj = {
                    k[len(prefix) : -1]: v
                    for k, v in query.multi_items()
                    if k.startswith(prefix) and k.endswith("]")
                }
                present = bool(obj)
                value = obj
            elif param.shape == "object" and param.explode and not param.content_json:
                # form + explode: the object's properties are query parameters of their own.
                value = dict(query)
                present = bool(value)
            elif param.name in query:
                present = True
                if param.shape == "array":
                    values = query.getlist(param.name)
                    value = (
                        values
                        if param.explode and param.style == "form"
                        else _split(values[-1], param.style, False)
                    )
                elif param.shape == "object" and not param.content_json:
                    value = _object_from_pairs(_split(query[param.name], param.style, False))
                else:
                    value = query[param.name]
        elif param.location == "header":
            if param.name in request.headers:
                present = True
                value = request.headers[param.name]
                if param.shape == "array":
                    value = [v.strip() for v in value.split(",")] if value else []
                elif param.shape == "object" and not param.content_json:
                    items = [v.strip() for v in value.split(",")]
                    value = (
                        dict(i.split("=", 1) for i in items if "=" in i)
                        if param.explode
                        else _object_from_pairs(items)
                    )
        elif param.name in request.cookies:
            present = True
            value = request.cookies[param.name]
            if param.shape == "array":
                value = value.split(",") if value else []
        if present and param.content_json and isinstance(value, str):
            with contextlib.suppress(ValueError):  # left as a string; validation reports it
                value = json.loads(value)
        if not present:
            value = param.default if param.has_default else None
        raw[param.python_name] = value
    return raw


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
        data: dict[str, Any] = {}
        for key, value in pairs:
            if key in content.array_fields:
                data.setdefault(key, []).append(value)
            else:
                data[key] = value
        return content.adapter.validate_python(data)
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
    return "/body" + "".join("/" + _pointer_token(p) for p in _located(loc))


# ---------------------------------------------------------------------------- security


def _credentials(scheme: SecurityScheme, request: Request) -> Credentials | None:
    if scheme.type == "apiKey":
        source: Mapping[str, str] = {
            "header": request.headers,
            "query": request.query_params,
            "cookie": request.cookies,
        }.get(scheme.location, {})
        value = source.get(scheme.parameter)
        return Credentials(scheme, value) if value else None
    authorization = request.headers.get("authorization", "")
    kind, _, value = authorization.partition(" ")
    value = value.strip()
    expected = scheme.scheme.lower() if scheme.type == "http" else "bearer"
    if kind.lower() != expected or not value:
        return None
    if expected == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        return Credentials(scheme, value, username, password) if sep else None
    return Credentials(scheme, value)


def _challenge(schemes: Iterable[SecurityScheme]) -> str:
    challenges: list[str] = []
    for scheme in schemes:
        if scheme.type == "http":
            name = scheme.scheme.capitalize()
            challenges.append(f'{name} realm="api"')
        elif scheme.type in ("oauth2", "openIdConnect"):
            challenges.append('Bearer realm="api"')
    return ", ".join(dict.fromkeys(challenges)) or 'Bearer realm="api"'


async def _authenticate(op: Operation, options: Options[Any], request: Request) -> Any:
    """The principal of the first satisfied security alternative, or a 401."""
    failure: ApiError | None = None
    for alternative in op.security:
        if not alternative:
            return None
        principal: Any = None
        satisfied = True
        for name, scopes in alternative:
            scheme = options.schemes[name]
            credentials = _credentials(scheme, request)
            if credentials is None or options.authenticator is None:
                satisfied = False
                break
            try:
                result = await options.authenticator.authenticate(credentials, scopes)
            except ApiError as exc:
                failure = exc
                satisfied = False
                break
            if result is None:
                satisfied = False
                break
            principal = result if principal is None else principal
        if satisfied:
            return principal
    schemes = [options.schemes[name] for alt in op.security for name, _ in alt]
    challenge = {"WWW-Authenticate": _challenge(schemes)}
    if failure is not None:
        if failure.status == 401:
            failure.headers = {**challenge, **(getattr(failure, "headers", None) or {})}
        raise failure
    raise _Problem(401, "Unauthorized", "Valid credentials are required.", headers=challenge)


# ---------------------------------------------------------------------------- responses


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_header_value(v) for v in value)
    return str(value)


def _render(op: Operation, specs: Mapping[type[Any], ResponseSpec], result: Any) -> Response:
    spec = specs.get(type(result))
    if spec is None:
        raise TypeError(
            f"{op.operation_id} returned {type(result).__name__}, which is not one of its "
            "documented response classes"
        )
    status = (
        int(getattr(result, "status", 0) or 0)
        if spec.status in ("default",) or spec.status.endswith("XX")
        else int(spec.status)
    )
    if spec.status.endswith("XX") and not (status // 100 == int(spec.status[0])):
        raise TypeError(f"{op.operation_id}: status {status} is outside {spec.status}")
    headers: dict[str, str] = {}
    for header in spec.headers:
        value = getattr(result, header.attribute)
        if value is not None:
            headers[header.name] = _header_value(value)
    if spec.kind == "empty" or spec.adapter is None:
        return Response(status_code=status, headers=headers)
    body = result.body
    media_type = getattr(result, "media_type", None) or spec.media_type
    kind, adapter = spec.kind, spec.adapter
    if media_type != spec.media_type:
        chosen = next((m for m in spec.alternatives if m.media_type == media_type), None)
        if chosen is None:
            raise TypeError(f"{op.operation_id}: {media_type} is not documented for this response")
        kind, adapter = chosen.kind, chosen.adapter
    if kind == "json":
        content = adapter.dump_json(body, by_alias=True, exclude_unset=True)
    elif kind == "text":
        content = str(body).encode()
    else:
        content = bytes(body)
    return Response(content, status_code=status, media_type=media_type, headers=headers)


class ProblemWriter:
    """Answers problems: through the implementation's :class:`ProblemRenderer` when it has
    one and that returns a response, else as problem+json."""

    def __init__(self, renderer: ProblemRenderer | None, operations: Sequence[Operation]) -> None:
        self.renderer = renderer
        # With no operation (404, 405) any response class of the API may render the problem.
        self.owners = {spec.cls: (op, spec) for op in operations for spec in op.responses}

    def error(self, exc: ApiError, operation: Operation | None, instance: str) -> Response:
        """Answer an :class:`ApiError` raised while serving ``operation``."""
        if self.renderer is None:
            return error_response(exc, instance)
        return self.problem(problem_of(exc, instance), operation)

    def problem(self, problem: Problem, operation: Operation | None) -> Response:
        """Answer ``problem``; a response class the operation does not document raises
        TypeError (a programming error, which the server answers 500)."""
        result = None
        if self.renderer is not None:
            try:
                result = self.renderer(problem, operation)
            except Exception:
                logger.exception(
                    "the problem renderer failed on a %d problem of %s; sent as problem+json",
                    problem.status,
                    operation.operation_id if operation is not None else problem.instance,
                )
        if result is None:
            return _problem_json(problem)
        if operation is None:
            owner = self.owners.get(type(result))
            if owner is None:
                raise TypeError(
                    f"the problem renderer returned {type(result).__name__}, which is not a "
                    "response class of this API"
                )
            operation = owner[0]
        response = _render(operation, {spec.cls: spec for spec in operation.responses}, result)
        for name, value in problem.headers.items():
            if name not in response.headers:
                response.headers[name] = value
        return response


# ---------------------------------------------------------------------------- endpoints


def _param_pointer(op: Operation) -> Callable[[tuple[Any, ...]], str]:
    by_python = {p.python_name: p for p in op.params}

    def pointer(loc: tuple[Any, ...]) -> str:
        loc = _located(loc)
        if not loc:
            return "/"
        param = by_python.get(str(loc[0]))
        if param is None:
            return "/" + "/".join(_pointer_token(p) for p in loc)
        rest = "".join("/" + _pointer_token(p) for p in loc[1:])
        return f"/{param.location}/{_pointer_token(param.name)}{rest}"

    return pointer


Endpoint = Callable[[Request], Awaitable[Response]]


class _DeadlineExceeded(Exception):
    """The handler was cancelled at its deadline."""


class _Watch:
    __slots__ = ("done", "due", "expired", "task")

    def __init__(self, due: float, task: asyncio.Task[Any]) -> None:
        self.due = due
        self.task = task
        self.done = False
        self.expired = False


class _Deadlines:
    """The handler deadlines of one operation, watched by one timer.

    Every request gets the same timeout, so deadlines fall due in the order requests start:
    a queue, of which the timer looks at the oldest only. A request costs an append and a
    flag (a timer of its own costs 2 µs on asyncio, ``asyncio.timeout`` 4.6 µs,
    ``anyio.fail_after`` 10 µs); a deadline is met at most a quarter of the timeout (at most
    a second) late. The timer runs only while requests are in flight.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(seconds / 4, 1.0)
        self.pending: collections.deque[_Watch] = collections.deque()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None

    async def run(self, run: Callable[[], Awaitable[Any]]) -> Any:
        """``run()``, cancelled at the deadline (then :class:`_DeadlineExceeded`)."""
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        if task is None:  # not asyncio (trio): anyio's own timeout
            with anyio.move_on_after(self.seconds):
                return await run()
            raise _DeadlineExceeded
        loop = task.get_loop()
        watch = _Watch(loop.time() + self.seconds, task)
        self.pending.append(watch)
        if self.timer is None or self.loop is not loop:
            self.loop = loop
            self.timer = loop.call_later(self.tick, self._check)
        try:
            result = await run()
        except asyncio.CancelledError:
            if not watch.expired or task.uncancel() > 0:
                raise  # cancelled from outside too (the server shutting down, the client gone)
            raise _DeadlineExceeded from None
        finally:
            watch.done = True
        if watch.expired:
            task.uncancel()  # the handler swallowed its cancellation and finished anyway
        return result

    def _check(self) -> None:
        loop = self.loop
        assert loop is not None
        now = loop.time()
        pending = self.pending
        while pending and (pending[0].done or pending[0].due <= now):
            watch = pending.popleft()
            if not watch.done:
                watch.expired = True
                watch.task.cancel()
        self.timer = loop.call_later(self.tick, self._check) if pending else None


def _not_implemented(op: Operation, problems: ProblemWriter) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        request.scope["openapi.operation"] = op
        missing = _Problem(
            501, "Not Implemented", f"Operation {op.operation_id} has no implementation yet."
        )
        return problems.error(missing, op, request.url.path)

    return endpoint


def make_endpoint(
    op: Operation, handler: Callable[..., Awaitable[Any]], options: Options[Any]
) -> Endpoint:
    """Build the request handler of one operation."""
    specs = {spec.cls: spec for spec in op.responses}
    param_pointer = _param_pointer(op)
    adapter = op.params_adapter
    context = options.context
    needs_auth = op.security != ((),) and any(op.security)
    problems = options.problems or ProblemWriter(None, ())
    limits = options.limits
    body_limit = op.max_body_bytes if op.max_body_bytes is not None else limits.max_body_bytes
    shape = _JsonShape.of(limits)
    timeout = limits.request_timeout
    deadlines = _Deadlines(timeout) if timeout is not None else None

    async def endpoint(request: Request) -> Response:
        request.scope["openapi.operation"] = op
        try:
            if op.body is not None:
                # Refused before credentials are checked: an oversized upload costs nothing.
                _check_declared_length(request, body_limit)
            principal = await _authenticate(op, options, request) if needs_auth else None
            kwargs: dict[str, Any] = {}
            if adapter is not None:
                try:
                    kwargs = adapter.validate_python(_read_params(op, request))
                except ValidationError as exc:
                    raise _validation_problem(exc, param_pointer) from None
            if op.body is not None:
                kwargs["body"] = await _read_body(op.body, request, limits, body_limit, shape)
        except ApiError as exc:
            # The runtime's own answers (validation, media type, credentials) are always sent.
            return problems.error(exc, op, request.url.path)

        async def run() -> Any:
            if context is None:
                return await handler(None, **kwargs)
            async with context(RequestInfo(request, op, principal, kwargs)) as ctx:
                return await handler(ctx, **kwargs)

        try:
            result = await run() if deadlines is None else await deadlines.run(run)
        except _DeadlineExceeded:
            late = _Problem(
                503,
                "Service Unavailable",
                f"The request was not handled within {timeout:g} seconds; try again later.",
                headers={"Retry-After": str(limits.retry_after)},
            )
            return problems.error(late, op, request.url.path)
        except ApiError as exc:
            if not op.documents(exc.status):
                message = (
                    f"{op.operation_id} raised status {exc.status}, "
                    "which its contract does not document"
                )
                if options.validate_responses:
                    raise TypeError(message) from exc
                logger.warning(message)
            return problems.error(exc, op, request.url.path)
        return _render(op, specs, result)

    return endpoint


# ---------------------------------------------------------------------------- outbound


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """A webhook or callback request, serialised as its contract says."""

    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the receiver answered."""

    status: int
    content: bytes = b""


class Sender(Protocol):
    """Sends outbound requests (an HTTP client, a queue, a test double): the implementer's."""

    async def send(self, request: OutboundRequest) -> Delivery: ...


@dataclass(frozen=True, slots=True)
class Outbound:
    kind: str  # webhook | callback
    name: str
    method: str
    params: tuple[Param, ...]
    body: Body | None
    statuses: frozenset[str]


async def deliver(
    sender: Sender, outbound: Outbound, url: str, values: Mapping[str, Any], body: Any
) -> Delivery:
    """Serialise an outbound request from typed values, send it, and return the answer."""
    query: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    for param in outbound.params:
        value = values.get(param.python_name)
        if value is None:
            continue
        if param.location == "query":
            items = value if isinstance(value, list) else [value]
            query.extend((param.name, _header_value(item)) for item in items)
        elif param.location == "header":
            headers[param.name] = _header_value(value)
        elif param.location == "path":
            url = url.replace("{" + param.name + "}", _header_value(value))
    if query:
        url += ("&" if "?" in url else "?") + urlencode(query)
    content = b""
    if outbound.body is not None and body is not None:
        media = outbound.body.contents[0]
        headers["Content-Type"] = media.media_type
        if media.kind == "json":
            content = media.adapter.dump_json(body, by_alias=True, exclude_unset=True)
        elif media.kind == "form":
            fields = media.adapter.dump_python(body, mode="json", by_alias=True, exclude_unset=True)
            content = urlencode(fields, doseq=True).encode()
        elif media.kind == "text":
            content = str(body).encode()
        else:
            content = bytes(body)
    return await sender.send(OutboundRequest(outbound.method, url, headers, content))


# ---------------------------------------------------------------------------- the app


class RequestContextMiddleware:
    """Accepts or generates X-Request-ID and echoes it; unhandled errors become 500 problems."""

    def __init__(self, app: ASGIApp, problems: ProblemWriter | None = None) -> None:
        self.app = app
        self.problems = problems

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        # 32 random hex digits, as uuid4().hex but without building a UUID.
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else os.urandom(16).hex()
        token = request_id_var.set(request_id)
        started = False
        raw_id = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", raw_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = self._server_error(scope)
            await response(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)

    def _server_error(self, scope: Scope) -> Response:
        failed = _Problem(
            500,
            "Internal Server Error",
            "The server failed to handle the request; quote the request id when reporting it.",
        )
        instance = scope.get("path", "")
        if self.problems is None or self.problems.renderer is None:
            return error_response(failed, instance)
        try:
            return self.problems.error(failed, scope.get("openapi.operation"), instance)
        except Exception:  # the renderer's own mistake: never offered the problem again
            logger.exception("the problem renderer failed on a 500; sent as problem+json")
            return error_response(failed, instance)


def _http_exception(problems: ProblemWriter) -> Callable[[Request, Exception], Response]:
    def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {404: "Not Found", 405: "Method Not Allowed"}
        details = {
            404: f"No operation is served at {request.url.path}.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }
        routed = _Problem(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            details.get(exc.status_code, str(exc.detail)),
            headers=_sorted_allow(exc.headers),
        )
        return problems.error(routed, None, request.url.path)

    return handler


def _sorted_allow(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    if headers is None or "Allow" not in headers:
        return dict(headers) if headers else None
    return {**headers, "Allow": ", ".join(sorted(headers["Allow"].split(", ")))}


_MATCHED = "openapi.route"


class OperationRoutes(BaseRoute):
    """The contract's operations as one route of the app's router, found by their paths'
    segments before any route's regex is tried.

    Starlette's router asks every route in turn, a regex match each: with forty operations
    that was a tenth of a request's CPU. Here only the routes whose literal segments are the
    request's, at the same places, are asked (``Route.matches``, in their order), so the
    answer is the one the router would give, 405s included. ``routes`` lists them.
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)
        self._by_length: dict[int, list[tuple[tuple[tuple[int, str], ...], Route]]] = {}
        self._anywhere: list[Route] = []  # a parameter that may span segments
        for route in self.routes:
            if ":path}" in route.path:
                self._anywhere.append(route)
                continue
            segments = route.path.split("/")
            literals = tuple((i, seg) for i, seg in enumerate(segments) if "{" not in seg)
            self._by_length.setdefault(len(segments), []).append((literals, route))

    def _candidates(self, scope: Scope) -> Iterable[Route]:
        segments = _route_path(scope).split("/")
        for literals, route in self._by_length.get(len(segments), ()):
            if all(segments[i] == literal for i, literal in literals):
                yield route
        yield from self._anywhere

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        partial: tuple[Route, Scope] | None = None
        for route in self._candidates(scope):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {**child_scope, _MATCHED: route}
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is None:
            return Match.NONE, {}
        return Match.PARTIAL, {**partial[1], _MATCHED: partial[0]}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_MATCHED].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)


def _route_path(scope: Scope) -> str:
    # The path the routes match: without the app's root path (as Starlette's routes see it).
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


def _dispatch(endpoints: Mapping[str, Endpoint]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return await endpoints[request.method](request)

    return endpoint


def _path_regex_safe(path: str, op: Operation) -> str:
    # Starlette path parameters must be identifiers: use the python names in the route.
    for param in op.params:
        if param.location == "path":
            path = path.replace("{" + param.name + "}", "{" + param.python_name + "}")
    return path


def _sort_key(path: str) -> tuple[tuple[int, str], ...]:
    # Literal segments before templated ones, so /items/latest wins over /items/{id}.
    return tuple((1 if "{" in seg else 0, seg) for seg in path.split("/"))


def check_signature(
    method: Callable[..., Any], op: Operation, expected: Sequence[str]
) -> str | None:
    """Why ``method`` cannot serve ``op``, or None if its keyword arguments fit."""
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    names = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    missing = [name for name in expected if name not in names]
    extra = [
        p.name
        for p in params[1:]
        if p.name not in expected and p.default is p.empty and p.kind is not p.VAR_POSITIONAL
    ]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("unexpected " + ", ".join(extra))
        return f"{op.operation_id}: {'; '.join(parts)}"
    return None


def mounted(operations: Sequence[Operation], paths: Mapping[str, str]) -> tuple[Operation, ...]:
    """The operations named in ``paths`` (by method name), each served at its path there.

    Webhooks and callbacks have no path in the document; their receiver chooses one.
    """
    unknown = sorted(set(paths) - {op.method_name for op in operations})
    if unknown:
        raise ValueError("no webhook or callback named " + ", ".join(unknown))
    chosen = [
        replace(op, path=paths[op.method_name]) for op in operations if op.method_name in paths
    ]
    taken = [(op.method, op.path) for op in chosen]
    clashes = sorted({f"{m} {p}" for m, p in taken if taken.count((m, p)) > 1})
    if clashes:
        raise ValueError("two receivers share " + ", ".join(clashes))
    return tuple(chosen)


# What the runtime itself may answer an operation with, besides 404, 405 and 501.
_FRAMEWORK_STATUSES = (400, 401, 413, 415, 422, 500, 503)


def _documents_problem_json(spec: ResponseSpec) -> bool:
    media = [spec.media_type, *(m.media_type for m in spec.alternatives)]
    return any(m is not None and m.split(";")[0].strip().lower() == PROBLEM_JSON for m in media)


def own_error_shapes(operations: Sequence[Operation]) -> list[str]:
    """The operations that document a body other than problem+json for a status the runtime
    itself answers (exactly, by range or by ``default``)."""
    found: list[str] = []
    for op in operations:
        for status in _FRAMEWORK_STATUSES:
            spec = op.response(status)
            if spec is not None and spec.kind != "empty" and not _documents_problem_json(spec):
                found.append(op.operation_id)
                break
    return found


def _warn_error_shapes(operations: Sequence[Operation]) -> None:
    found = own_error_shapes(operations)
    if found:
        named = ", ".join(found[:3]) + (", …" if len(found) > 3 else "")
        logger.warning(
            "%d of %d operations (%s) document error bodies of their own shape, but the "
            "server's own errors (422, 400, 401, 413, 415, 404, 405, 500, 503) are sent as "
            "application/problem+json: give the implementation a `problems` renderer "
            "(runtime.ProblemRenderer) to answer them as documented",
            len(found),
            len(operations),
            named,
        )


class MissingOperationsError(RuntimeError):
    """Raised at start-up when operations of the contract have no implementation."""


def build_app(
    operations: Sequence[Operation],
    handlers: Mapping[str, Any],
    expected_arguments: Mapping[str, Sequence[str]],
    *,
    context: ContextFactory[Any, Any] | None,
    authenticator: Authenticator[Any] | None,
    schemes: Mapping[str, SecurityScheme],
    spec_json: str,
    allow_missing: bool = False,
    validate_responses: bool = False,
    extra_routes: Sequence[BaseRoute] = (),
    middleware: Sequence[Middleware] = (),
    docs: bool = True,
    title: str = "API",
    lifespan: Any = None,
    debug: bool = False,
    serve_spec: bool = True,
    problems: ProblemRenderer | None = None,
    limits: Limits | None = None,
) -> Starlette:
    """Assemble the ASGI app; fails with every missing or mis-shaped operation listed.

    ``problems`` renders the server's problems as the operations' documented responses; with
    none, they are problem+json, and a warning counts the operations that document another shape.
    ``limits`` bounds bodies and handler time (:class:`Limits`; its defaults when None).
    """
    if problems is None:
        _warn_error_shapes(operations)
    writer = ProblemWriter(problems, operations)
    options: Options[Any] = Options(
        context, authenticator, schemes, validate_responses, writer, limits or Limits()
    )
    missing: list[str] = []
    mismatched: list[str] = []
    by_path: dict[str, dict[str, Endpoint]] = {}
    for op in operations:
        target = handlers.get(op.tag)
        method = getattr(target, op.method_name, None) if target is not None else None
        if method is None:
            missing.append(op.operation_id)
            endpoint = _not_implemented(op, writer)
        else:
            problem = check_signature(method, op, expected_arguments[op.operation_id])
            if problem is not None:
                mismatched.append(problem)
            endpoint = make_endpoint(op, method, options)
        by_path.setdefault(_path_regex_safe(op.path, op), {})[op.method] = endpoint
    if mismatched:
        raise MissingOperationsError(
            "operations whose signature does not match the contract:\n  " + "\n  ".join(mismatched)
        )
    if missing and not allow_missing:
        raise MissingOperationsError(
            f"{len(missing)} operation(s) of the contract have no implementation: "
            + ", ".join(missing)
        )
    operation_routes: list[Route] = []
    for path, endpoints in sorted(by_path.items(), key=lambda item: _sort_key(item[0])):
        route = Route(path, _dispatch(endpoints), methods=sorted(endpoints))
        # Serve exactly the documented methods: Starlette would add an undocumented HEAD.
        route.methods = set(endpoints)
        operation_routes.append(route)
    routes: list[BaseRoute] = [OperationRoutes(operation_routes)]
    if serve_spec:
        routes.extend(_spec_routes(spec_json, docs=docs, title=title))
    routes.extend(extra_routes)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestContextMiddleware, problems=writer), *middleware],
        exception_handlers={HTTPException: _http_exception(writer)},
        lifespan=lifespan,
        debug=debug,
    )
    app.router.redirect_slashes = False
    return app


_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
"""

_DOCS_INIT = (
    "window.ui = SwaggerUIBundle("
    '{url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});\n'
)


def _to_yaml(spec_json: str) -> bytes:
    try:
        import yaml
    except ImportError:  # JSON is YAML too; PyYAML only makes it prettier
        return spec_json.encode()
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    document = json.loads(spec_json)
    return yaml.dump(
        document, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100
    ).encode()


def _spec_routes(spec_json: str, *, docs: bool, title: str) -> list[BaseRoute]:
    json_bytes = spec_json.encode()
    yaml_cache: list[bytes] = []

    async def openapi_json(request: Request) -> Response:
        return Response(json_bytes, media_type="application/json")

    async def openapi_yaml(request: Request) -> Response:
        if not yaml_cache:
            yaml_cache.append(_to_yaml(spec_json))
        return Response(yaml_cache[0], media_type="application/yaml")

    routes: list[BaseRoute] = [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/openapi.yaml", openapi_yaml, methods=["GET"]),
    ]
    if docs:
        routes.extend(_docs_routes(title))
    return routes


def _docs_routes(title: str) -> list[BaseRoute]:
    # Swagger UI 5 (OpenAPI 3.1) ships inside the swagger-ui-py package; only its static files
    # are used, so it is located, not imported. Without it there are no docs, nothing else lacks.
    found = importlib.util.find_spec("swagger_ui")
    if found is None or not found.submodule_search_locations:
        return []
    static = Path(next(iter(found.submodule_search_locations))) / "static"
    if not (static / "swagger-ui-bundle.js").is_file():
        return []
    from html import escape

    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    page = _DOCS_PAGE.format(title=escape(title)).encode()

    async def docs_page(request: Request) -> Response:
        return Response(page, media_type="text/html")

    async def docs_init(request: Request) -> Response:
        return Response(_DOCS_INIT.encode(), media_type="text/javascript")

    return [
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/init.js", docs_init, methods=["GET"]),
        Mount("/docs/assets", app=StaticFiles(directory=str(static)), name="docs-assets"),
    ]


__all__ = [
    "ApiError",
    "Authenticator",
    "Body",
    "Content",
    "ContextFactory",
    "Credentials",
    "Delivery",
    "FieldError",
    "HeaderSpec",
    "Limits",
    "MissingOperationsError",
    "Operation",
    "Outbound",
    "OutboundRequest",
    "Param",
    "Problem",
    "ProblemRenderer",
    "ProblemWriter",
    "RequestInfo",
    "ResponseSpec",
    "SecurityScheme",
    "Sender",
    "build_app",
    "deliver",
    "error_response",
    "mounted",
    "own_error_shapes",
    "problem_of",
    "problem_response",
    "request_id_var",
]
