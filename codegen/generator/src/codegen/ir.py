"""The generator's intermediate representation: frozen, template-ready descriptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str
    python_name: str
    required: bool
    annotation: str  # for the handler signature
    validator: str  # for the validating TypedDict (constraints included)
    default: Any
    has_default: bool
    shape: str
    style: str
    explode: bool
    content_json: bool
    description: str
    array_fields: tuple[str, ...] = ()  # of a form-encoded `in: querystring` object


@dataclass(frozen=True, slots=True)
class MediaContent:
    media_type: str
    kind: str  # json | form | text | binary | multipart | empty; streamed: jsonl | json-seq | sse
    annotation: str  # streamed: AsyncIterator[item]
    validator: str  # streamed: the item's
    array_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestBody:
    required: bool
    annotation: str
    contents: tuple[MediaContent, ...]


@dataclass(frozen=True, slots=True)
class ResponseHeader:
    name: str
    attribute: str
    annotation: str
    required: bool
    description: str


@dataclass(frozen=True, slots=True)
class Response:
    status: str
    class_name: str
    description: str
    content: MediaContent | None
    media_types: tuple[str, ...]
    headers: tuple[ResponseHeader, ...]
    alternatives: tuple[MediaContent, ...] = ()  # other media types, chosen by `media_type`

    @property
    def body_annotation(self) -> str:
        parts = [c.annotation for c in (self.content, *self.alternatives) if c is not None]
        return " | ".join(dict.fromkeys(parts))

    @property
    def variable_status(self) -> bool:
        return self.status == "default" or self.status.endswith("XX")


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    method_name: str
    class_base: str
    constant: str
    method: str
    path: str
    tag: str
    summary: str
    description: str
    deprecated: bool
    parameters: tuple[Parameter, ...]
    body: RequestBody | None
    responses: tuple[Response, ...]
    security: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...]
    pointer: str
    max_body_bytes: int | None = None  # the operation's `x-max-body-bytes`

    @property
    def return_annotation(self) -> str:
        return " | ".join(f"r.{resp.class_name}" for resp in self.responses) or "None"

    @property
    def argument_names(self) -> tuple[str, ...]:
        names = tuple(p.python_name for p in self.parameters)
        return (*names, "body") if self.body is not None else names


@dataclass(frozen=True, slots=True)
class SecurityScheme:
    name: str
    type: str
    scheme: str
    location: str
    parameter: str


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    module: str  # python module name
    attribute: str  # field on the Implementation dataclass
    protocol: str  # Protocol class name
    description: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True, slots=True)
class Outbound:
    """A request the API sends rather than serves: a webhook, or an operation's callback."""

    kind: str  # webhook | callback
    name: str
    target: str  # the webhook's name, or the callback's runtime expression for its URL
    operation: Operation


@dataclass(frozen=True, slots=True)
class Api:
    title: str
    version: str
    tags: tuple[Tag, ...]
    schemes: tuple[SecurityScheme, ...]
    outbound: tuple[Outbound, ...] = ()
    # The outbound operations as a consumer receives them: one Protocol per tag.
    receivers: tuple[Tag, ...] = ()

    @property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(op for tag in self.tags for op in tag.operations)
