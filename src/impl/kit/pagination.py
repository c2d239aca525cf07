"""Keyset pagination: opaque, signed cursors and the page shape services return."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, tuple_

from impl.kit.errors import BadRequest

T = TypeVar("T")

DEFAULT_PAGE_LIMIT = 20
MAX_PAGE_LIMIT = 100

# 128 bits of HMAC-SHA256 is plenty against forgery and keeps cursors short (NIST SP 800-107).
_TAG_BYTES = 16
_MAX_CURSOR_CHARS = 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCOPE_KEY = "_"
_MICROSECOND = timedelta(microseconds=1)


# Arguments of a list operation that do not make it another list.
_UNSCOPED_ARGUMENTS = frozenset({"cursor", "limit"})


@dataclass(frozen=True, slots=True)
class CursorScope:
    """The list a cursor belongs to: the operation, its caller and every argument that
    selects or orders rows (path parameters, filters, sort), all but `cursor` and `limit`."""

    operation_id: str
    caller: uuid.UUID | None
    arguments: Mapping[str, Any]

    def digest(self) -> str:
        """12 base64url characters (72 bits) that differ between any two lists."""
        selecting = sorted(
            (name, value)
            for name, value in self.arguments.items()
            if name not in _UNSCOPED_ARGUMENTS and value is not None
        )
        text = json.dumps(
            [self.operation_id, str(self.caller), selecting], default=str, separators=(",", ":")
        )
        return _b64encode(hashlib.sha256(text.encode()).digest()[:9])


_scope: ContextVar[CursorScope | None] = ContextVar("cursor_scope", default=None)


@contextmanager
def cursors_of(scope: CursorScope) -> Iterator[None]:
    """Bind the cursors encoded and decoded within to `scope` (one request's list)."""
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


def _scope_digest() -> str:
    scope = _scope.get()
    return "" if scope is None else scope.digest()


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class KeysetPosition:
    """The `(created_at, id)` of the last row a client has seen."""

    created_at: datetime
    id: uuid.UUID


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Reject non-canonical spellings, so one cursor has exactly one valid string form.
    if _b64encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


class CursorCodec:
    """Encodes keyset positions as `<base64url(json)>.<base64url(hmac)>`.

    The tag stops clients from forging positions (and from reading them as an API: the
    format may change). Any malformed or tampered cursor raises `BadRequest`. A cursor is
    bound to the list it was made for (`cursors_of`): its scope's digest travels signed in
    the payload, and a cursor of another list, other filters or another caller is
    `BadRequest` too, saying so.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, values: dict[str, str]) -> str:
        """Serialise and sign `values`, bound to the current `CursorScope`."""
        bound = {**values, _SCOPE_KEY: _scope_digest()}
        payload = json.dumps(bound, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._tag(payload))}"

    def decode(self, cursor: str) -> dict[str, str]:
        """Verify and parse a cursor made by `encode`; raise `BadRequest` otherwise."""
        try:
            if len(cursor) > _MAX_CURSOR_CHARS:
                raise ValueError("too long")
            encoded_payload, encoded_tag = cursor.split(".")
            payload = _b64decode(encoded_payload)
            if not hmac.compare_digest(_b64decode(encoded_tag), self._tag(payload)):
                raise ValueError("bad tag")
            values = json.loads(payload)
        except (ValueError, binascii.Error, UnicodeDecodeError) as error:
            raise BadRequest("Invalid cursor") from error
        if not isinstance(values, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in values.items()
        ):
            raise BadRequest("Invalid cursor")
        if values.pop(_SCOPE_KEY, None) != _scope_digest():
            raise BadRequest(
                "This cursor belongs to another list, other filters or another caller; "
                "start again from the first page, without cursor."
            )
        return values

    def encode_position(self, position: KeysetPosition) -> str:
        """Cursor for "rows after this `(created_at, id)`"; time as integer microseconds."""
        micros = (position.created_at - _EPOCH) // _MICROSECOND
        return self.encode({"t": str(micros), "i": position.id.hex})

    def decode_position(self, cursor: str) -> KeysetPosition:
        """Inverse of `encode_position`; `BadRequest` for anything else."""
        values = self.decode(cursor)
        try:
            created_at = _EPOCH + int(values["t"]) * _MICROSECOND
            return KeysetPosition(created_at=created_at, id=uuid.UUID(hex=values["i"]))
        except (KeyError, ValueError, OverflowError) as error:
            raise BadRequest("Invalid cursor") from error

    def encode_sorted(self, sort: str, value: str, row_id: uuid.UUID) -> str:
        """Cursor for "rows after this (sort value, id)" of a list sorted by `sort`."""
        return self.encode({"s": sort, "v": value, "i": row_id.hex})

    def decode_sorted(self, cursor: str, sort: str) -> tuple[str, uuid.UUID]:
        """Inverse of `encode_sorted`; a cursor of another sort order is `BadRequest` too."""
        values = self.decode(cursor)
        try:
            if values["s"] != sort:
                raise ValueError("cursor of another sort order")
            return values["v"], uuid.UUID(hex=values["i"])
        except (KeyError, ValueError) as error:
            raise BadRequest("Invalid cursor") from error


def past(
    position: KeysetPosition, created_at: Any, row_id: Any, *, descending: bool = False
) -> ColumnElement[bool]:
    """The rows strictly after `position` in `(created_at, id)` order (before it, descending).

    A plain tuple on the right takes the column types, so binds go through UTCDateTime.
    """
    key = tuple_(created_at, row_id)
    bound = (position.created_at, position.id)
    return key < bound if descending else key > bound


def clamp_limit(limit: int | None) -> int:
    """Bound a client's page size to `1..MAX_PAGE_LIMIT` (None means the default)."""
    if limit is None:
        return DEFAULT_PAGE_LIMIT
    return max(1, min(limit, MAX_PAGE_LIMIT))


def build_page(
    rows: Sequence[T],
    *,
    limit: int,
    codec: CursorCodec,
    position: Callable[[T], KeysetPosition],
) -> Page[T]:
    """Turn `limit + 1` fetched rows into a page: the extra row only says another page exists."""
    return paginate(rows, limit=limit, cursor_of=lambda row: codec.encode_position(position(row)))


def paginate(rows: Sequence[T], *, limit: int, cursor_of: Callable[[T], str]) -> Page[T]:
    """`build_page` for any cursor: `cursor_of(last item)` when another page exists."""
    items = list(rows[:limit])
    has_more = len(rows) > limit
    next_cursor = cursor_of(items[-1]) if has_more and items else None
    return Page(items=items, next_cursor=next_cursor)
