"""Calls the API makes (webhooks and callbacks): the request and its delivery."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import (
    Any,
    Protocol,
)
from urllib.parse import quote, urlencode

from pydantic_core import to_jsonable_python

from .operations import Body, Param
from .responses import _header_value

logger = logging.getLogger("specfirst")

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


def _form(fields: Mapping[str, Any]) -> str:
    """Form fields as a form writes them: booleans as ``true``/``false`` (not Python's
    ``True``), an array as the field repeated, a null left out (a form has none)."""
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((name, _header_value(item)))
    return urlencode(pairs)


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
        # As JSON writes them: a date-time in RFC 3339 (str() puts a space for the T), a UUID
        # or an enum member as its text.
        value = to_jsonable_python(value)
        if param.location == "query":
            items = value if isinstance(value, list) else [value]
            query.extend((param.name, _header_value(item)) for item in items)
        elif param.location == "header":
            headers[param.name] = _header_value(value)
        elif param.location == "path":
            # Percent-encoded, but for the commas that separate an array's items.
            text = quote(_header_value(value), safe=",")
            url = url.replace("{" + param.name + "}", text)
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
            content = _form(fields).encode()
        elif media.kind == "text":
            content = str(body).encode()
        else:
            content = bytes(body)
    return await sender.send(OutboundRequest(outbound.method, url, headers, content))
