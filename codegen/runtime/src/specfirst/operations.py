"""Operations described as data: parameters, bodies, responses, security, limits."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import (
    Any,
    Generic,
    Protocol,
)

from pydantic import (
    TypeAdapter,
)
from starlette.requests import Request
from typing_extensions import TypeVar

from .errors import Problem

logger = logging.getLogger("specfirst")

Ctx = TypeVar("Ctx")
P_co = TypeVar("P_co", covariant=True, default=Any)  # the principal an Authenticator returns
P_contra = TypeVar("P_contra", contravariant=True, default=Any)
Ctx_co = TypeVar("Ctx_co", covariant=True)

# ---------------------------------------------------------------------------- description


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: where it is, its wire name, and how it is serialised."""

    name: str
    location: str  # path | query | querystring | header | cookie
    python_name: str
    required: bool = False
    default: Any = None
    has_default: bool = False
    shape: str = "scalar"  # scalar | array | object
    style: str = "form"
    explode: bool = True
    content_json: bool = False  # a `content: application/json` parameter
    # A form-encoded `in: querystring` parameter: the object's properties that are arrays.
    array_fields: frozenset[str] = frozenset()


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
    """Opens the per-request context handed to every handler (a transaction, say).

    It takes the :class:`RequestInfo`; any further parameter is a FastAPI dependency
    (``store: Annotated[Store, Depends(get_store)]``), solved for each request (see
    :mod:`specfirst.dependencies`).
    """

    def __call__(
        self, info: RequestInfo[P_contra], /, *dependencies: Any, **solved: Any
    ) -> AbstractAsyncContextManager[Ctx_co]: ...


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
