from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import pytest

from impl.kit.errors import BadRequest
from impl.kit.ids import new_id
from impl.kit.pagination import (
    MAX_PAGE_LIMIT,
    CursorCodec,
    CursorScope,
    KeysetPosition,
    build_page,
    clamp_limit,
    cursors_of,
)

SECRET = b"s" * 32


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(SECRET)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestCursorCodec:
    def test_round_trip(self, codec: CursorCodec) -> None:
        values = {"t": "1732243320123456", "i": "abc"}
        cursor = codec.encode(values)
        assert codec.decode(cursor) == values
        assert "=" not in cursor
        assert len(cursor) < 100

    def test_position_round_trip_keeps_microseconds(self, codec: CursorCodec) -> None:
        position = KeysetPosition(
            created_at=datetime(2025, 11, 22, 2, 42, 1, 123456, tzinfo=UTC), id=new_id()
        )
        assert codec.decode_position(codec.encode_position(position)) == position

    def test_tampered_payload(self, codec: CursorCodec) -> None:
        payload, tag = codec.encode({"t": "1", "i": "a"}).split(".")
        forged = _b64(b'{"i":"a","t":"2"}')
        assert forged != payload
        with pytest.raises(BadRequest, match="Invalid cursor"):
            codec.decode(f"{forged}.{tag}")

    def test_tampered_tag(self, codec: CursorCodec) -> None:
        payload, tag = codec.encode({"t": "1"}).split(".")
        flipped = ("A" if tag[0] != "A" else "B") + tag[1:]
        with pytest.raises(BadRequest, match="Invalid cursor"):
            codec.decode(f"{payload}.{flipped}")

    def test_other_secret(self, codec: CursorCodec) -> None:
        cursor = CursorCodec(b"o" * 32).encode({"t": "1"})
        with pytest.raises(BadRequest):
            codec.decode(cursor)

    @pytest.mark.parametrize(
        "cursor",
        ["", ".", "abc", "a.b.c", "!!!.!!!", "e30=.AAAA", "e30 .AAAA", "x" * 2000],
    )
    def test_malformed(self, codec: CursorCodec, cursor: str) -> None:
        with pytest.raises(BadRequest, match="Invalid cursor"):
            codec.decode(cursor)

    def test_non_canonical_base64(self, codec: CursorCodec) -> None:
        # The last character's unused bits may differ and decode to the same bytes; only the
        # canonical spelling is accepted.
        cursor = codec.encode({})
        payload, tag = cursor.split(".")
        padded = payload + "=" * (-len(payload) % 4)
        twin = next(
            payload[:-1] + c
            for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            if c != payload[-1]
            and base64.urlsafe_b64decode(payload[:-1] + c + padded[len(payload) :])
            == base64.urlsafe_b64decode(padded)
        )
        assert codec.decode(cursor) == {}
        with pytest.raises(BadRequest):
            codec.decode(f"{twin}.{tag}")

    @pytest.mark.parametrize("payload", [b"[1]", b'{"t": 1}', b"not json", b"\xff"])
    def test_signed_but_wrong_shape(self, codec: CursorCodec, payload: bytes) -> None:
        tag = hmac.new(SECRET, payload, hashlib.sha256).digest()[:16]
        with pytest.raises(BadRequest, match="Invalid cursor"):
            codec.decode(f"{_b64(payload)}.{_b64(tag)}")

    @pytest.mark.parametrize(
        "values", [{}, {"t": "x", "i": uuid.uuid4().hex}, {"t": "1", "i": "zz"}]
    )
    def test_signed_but_not_a_position(self, codec: CursorCodec, values: dict[str, str]) -> None:
        with pytest.raises(BadRequest, match="Invalid cursor"):
            codec.decode_position(codec.encode(values))


class TestBuildPage:
    def _position(self, n: int) -> KeysetPosition:
        return KeysetPosition(created_at=datetime.fromtimestamp(n, UTC), id=uuid.UUID(int=n))

    def test_more_rows_than_limit(self, codec: CursorCodec) -> None:
        page = build_page([1, 2, 3], limit=2, codec=codec, position=self._position)
        assert page.items == [1, 2]
        assert page.next_cursor is not None
        assert codec.decode_position(page.next_cursor) == self._position(2)

    @pytest.mark.parametrize("rows", [[], [1], [1, 2]])
    def test_last_page(self, codec: CursorCodec, rows: list[int]) -> None:
        page = build_page(rows, limit=2, codec=codec, position=self._position)
        assert page.items == rows
        assert page.next_cursor is None


@pytest.mark.parametrize(
    ("limit", "expected"), [(None, 20), (0, 1), (-5, 1), (7, 7), (10_000, MAX_PAGE_LIMIT)]
)
def test_clamp_limit(limit: int | None, expected: int) -> None:
    assert clamp_limit(limit) == expected


class TestCursorScope:
    CALLER = uuid.UUID(int=1)

    def _scope(self, **arguments: object) -> CursorScope:
        return CursorScope("list_orders", self.CALLER, {"team_id": uuid.UUID(int=7), **arguments})

    def test_a_cursor_works_in_its_own_list_whatever_the_page_size(
        self, codec: CursorCodec
    ) -> None:
        with cursors_of(self._scope(status="paid", limit=1, cursor=None)):
            cursor = codec.encode({"t": "1"})
        with cursors_of(self._scope(status="paid", limit=50, cursor=cursor)):
            assert codec.decode(cursor) == {"t": "1"}

    @pytest.mark.parametrize(
        "elsewhere",
        [
            CursorScope("list_members", CALLER, {"team_id": uuid.UUID(int=7)}),
            CursorScope("list_orders", uuid.UUID(int=2), {"team_id": uuid.UUID(int=7)}),
            CursorScope("list_orders", None, {"team_id": uuid.UUID(int=7)}),
            CursorScope("list_orders", CALLER, {"team_id": uuid.UUID(int=8)}),
            CursorScope("list_orders", CALLER, {"team_id": uuid.UUID(int=7), "status": "paid"}),
            None,
        ],
    )
    def test_anywhere_else_it_is_refused(
        self, codec: CursorCodec, elsewhere: CursorScope | None
    ) -> None:
        with cursors_of(self._scope()):
            cursor = codec.encode({"t": "1"})
        with (
            cursors_of(elsewhere) if elsewhere else contextlib.nullcontext(),
            pytest.raises(BadRequest, match="belongs to another list"),
        ):
            codec.decode(cursor)

    def test_absent_filters_are_no_filters(self) -> None:
        assert self._scope(status=None).digest() == self._scope().digest()
        assert self._scope(status="paid").digest() != self._scope().digest()
