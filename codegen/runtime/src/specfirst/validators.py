"""What the generated models validate with: RFC 3339 text, integer text, emails, URIs,
uniqueItems."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import (
    Annotated,
    Any,
    Union,
    Unpack,
    get_args,
    get_origin,
)

import pydantic
from pydantic import (
    AfterValidator,
    BeforeValidator,
    GetCoreSchemaHandler,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, core_schema, to_jsonable_python

logger = logging.getLogger("specfirst")

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

try:  # the `email` extra; without it an Email field says what to install when it is validated
    import email_validator as _email_validator

    _HAS_EMAIL_VALIDATOR = True
except ImportError:  # pragma: no cover - exercised in an environment without the extra
    _HAS_EMAIL_VALIDATOR = False


def _special_suffix(value: str) -> str | None:
    # The special-use name (RFC 6761: arpa, local, localhost, invalid, onion, test, ...) that
    # the address's domain is or ends in, as email-validator lists them.
    domain = value.rpartition("@")[2].rstrip(".").lower()
    for name in _email_validator.SPECIAL_USE_DOMAIN_NAMES:
        if domain == name or domain.endswith("." + name):
            return name
    return None


def _email(value: str) -> str:
    if not _HAS_EMAIL_VALIDATOR:  # pragma: no cover - as above
        raise ImportError(
            "format: email needs email-validator: pip install 'specfirst-runtime[email]'"
        )
    # JSON Schema's `format: email` is RFC 5321 syntax: special-use domains such as `.local`
    # or `.arpa` and one-label domains are valid syntax, and a contract must not reject what
    # its schema allows. email-validator refuses special-use names (a list it keeps for the
    # whole process, which is not ours to change) except `test` in its test environment: such
    # a name is checked as `test`, and given back in the normalised address.
    special = _special_suffix(value)
    checked = value if special is None else value[: len(value.rstrip(".")) - len(special)] + "test"
    try:
        parts = _email_validator.validate_email(
            checked,
            check_deliverability=False,
            globally_deliverable=False,
            test_environment=special is not None,
        )
    except _email_validator.EmailNotValidError as exc:
        raise PydanticCustomError(
            "value_error", "value is not a valid email address: {reason}", {"reason": str(exc)}
        ) from None
    normalized: str = parts.normalized
    return normalized if special is None else normalized[: -len("test")] + special


Email = Annotated[
    str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email"})
]
"""A ``format: email`` string, checked (and normalised) as Pydantic's ``EmailStr`` checks it,
without changing email-validator's settings for the rest of the process."""


# RFC 3986's grammar of an absolute URI (``format: uri``), part by part: the split of its
# appendix B, then each part's characters. ASCII only (an IRI is another format).
_URI_PARTS = re.compile(r"([^:/?#]+):(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?", re.DOTALL)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_CHARS = r"A-Za-z0-9\-._~!$&'()*+,;="  # unreserved and sub-delims
_PERCENT = r"%[0-9A-Fa-f]{2}"
_USERINFO = re.compile(rf"(?:[{_CHARS}:]|{_PERCENT})*")
_REG_NAME = re.compile(rf"(?:[{_CHARS}]|{_PERCENT})*")
_IP_FUTURE = re.compile(rf"[vV][0-9A-Fa-f]+\.[{_CHARS}:]+")
_PATH = re.compile(rf"(?:[{_CHARS}:@/]|{_PERCENT})*")
_QUERY = re.compile(rf"(?:[{_CHARS}:@/?]|{_PERCENT})*")


def _host(host: str) -> bool:
    if not (host.startswith("[") and host.endswith("]")):
        return _REG_NAME.fullmatch(host) is not None
    literal = host[1:-1]
    if _IP_FUTURE.fullmatch(literal):
        return True
    if "%" in literal:  # a zone (RFC 6874) is not RFC 3986's
        return False
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True


def _authority(authority: str) -> bool:
    userinfo, at, hostport = authority.rpartition("@")
    if at and _USERINFO.fullmatch(userinfo) is None:
        return False
    if hostport.startswith("[") and "]" in hostport:
        end = hostport.index("]") + 1
        host, port = hostport[:end], hostport[end:]
        if port and not port.startswith(":"):
            return False
        port = port[1:]
    else:
        host, _, port = hostport.partition(":")
    return _host(host) and port.isascii() and (port == "" or port.isdigit())


def is_uri(value: str) -> bool:
    """Whether ``value`` is an absolute URI as RFC 3986 writes one (JSON Schema's ``uri``)."""
    parts = _URI_PARTS.fullmatch(value)
    if parts is None or _SCHEME.fullmatch(parts[1]) is None:
        return False
    authority, path, query, fragment = parts[3], parts[4], parts[6], parts[8]
    if authority is not None and not _authority(authority):
        return False
    return (
        _PATH.fullmatch(path) is not None
        and (query is None or _QUERY.fullmatch(query) is not None)
        and (fragment is None or _QUERY.fullmatch(fragment) is not None)
    )


def _uri(value: str) -> str:
    if not is_uri(value):
        raise PydanticCustomError(
            "uri_syntax", "Input should be an absolute URI (RFC 3986), such as https://a.example/"
        )
    return value


absolute_uri = AfterValidator(_uri)
"""``format: uri``: the string, kept as the client wrote it, must be an absolute URI."""


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
