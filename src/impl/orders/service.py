from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from impl.accounts.service import normalise_email
from impl.inventory.errors import InsufficientStockError
from impl.inventory.repository import Ledger
from impl.inventory.service import Inventory, Movement
from impl.kit.clock import utcnow
from impl.kit.db import Unit
from impl.kit.errors import AppError, UnprocessableContent
from impl.kit.etags import strong_etag
from impl.kit.ids import new_id
from impl.kit.pagination import CursorCodec, KeysetPosition, Page, build_page, clamp_limit
from impl.kit.text import checked_note, is_storable
from impl.models import Order, OrderStatus, ProductStatus, StockReason
from impl.orders.errors import (
    IdempotencyKeyReusedError,
    IllegalTransitionError,
    InvalidLineError,
    OrderContendedError,
    OrderNotFoundError,
)
from impl.orders.repository import (
    IdempotencyRepository,
    OrderRepository,
    OrderWriter,
    OutOfStockError,
    StoredKey,
)
from impl.settings import Settings
from impl.teams.access import TeamAccess

_CENT = Decimal("0.01")
MAX_NOTE_LENGTH = 1000
MAX_EMAIL_LENGTH = 320


@dataclass(frozen=True, slots=True)
class LineRequest:
    product_id: uuid.UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class Transition:
    """An order action: the states it may start from, and where it leads."""

    sources: frozenset[OrderStatus]
    target: OrderStatus
    # Stock goes back on the shelf when the goods have not left it.
    restock_from: frozenset[OrderStatus] = frozenset()
    restock_reason: StockReason | None = None


TRANSITIONS = {
    "pay": Transition(frozenset({OrderStatus.PENDING}), OrderStatus.PAID),
    "fulfill": Transition(frozenset({OrderStatus.PAID}), OrderStatus.FULFILLED),
    "cancel": Transition(
        frozenset({OrderStatus.PENDING, OrderStatus.PAID}),
        OrderStatus.CANCELLED,
        restock_from=frozenset({OrderStatus.PENDING, OrderStatus.PAID}),
        restock_reason=StockReason.ORDER_CANCELLED,
    ),
    "refund": Transition(
        frozenset({OrderStatus.PAID, OrderStatus.FULFILLED}),
        OrderStatus.REFUNDED,
        restock_from=frozenset({OrderStatus.PAID}),
        restock_reason=StockReason.ORDER_REFUNDED,
    ),
}


@dataclass(frozen=True, slots=True)
class LineView:
    product_id: uuid.UUID
    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as it was answered; also what an idempotent retry replays."""

    id: uuid.UUID
    status: str
    customer_email: str
    currency: str
    total: Decimal
    note: str | None
    lines: tuple[LineView, ...]
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return strong_etag(f"{self.id}-v{self.version}")

    @classmethod
    def of(cls, order: Order) -> OrderView:
        return cls(
            id=order.id,
            status=order.status,
            customer_email=order.customer_email,
            currency=order.currency,
            total=order.total,
            note=order.note,
            lines=tuple(
                LineView(
                    product_id=line.product_id,
                    sku=line.sku,
                    name=line.name,
                    unit_price=line.unit_price,
                    quantity=line.quantity,
                    line_total=line.line_total,
                )
                for line in order.lines
            ),
            version=order.version,
            created_at=order.created_at,
            updated_at=order.updated_at,
        )

    def to_json(self) -> dict[str, Any]:
        """What `from_json` reads back: ids, amounts and times as their `str()`."""
        return {
            "id": str(self.id),
            "status": self.status,
            "customer_email": self.customer_email,
            "currency": self.currency,
            "total": str(self.total),
            "note": self.note,
            "lines": [
                {
                    "product_id": str(line.product_id),
                    "sku": line.sku,
                    "name": line.name,
                    "unit_price": str(line.unit_price),
                    "quantity": line.quantity,
                    "line_total": str(line.line_total),
                }
                for line in self.lines
            ],
            "version": self.version,
            "created_at": str(self.created_at),
            "updated_at": str(self.updated_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderView:
        return cls(
            id=uuid.UUID(data["id"]),
            status=data["status"],
            customer_email=data["customer_email"],
            currency=data["currency"],
            total=Decimal(data["total"]),
            note=data["note"],
            lines=tuple(
                LineView(
                    product_id=uuid.UUID(line["product_id"]),
                    sku=line["sku"],
                    name=line["name"],
                    unit_price=Decimal(line["unit_price"]),
                    quantity=line["quantity"],
                    line_total=Decimal(line["line_total"]),
                )
                for line in data["lines"]
            ),
            version=data["version"],
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class _Priced:
    view: OrderView
    order: dict[str, Any]
    lines: list[dict[str, Any]]


# How often one order's statement is tried when what stopped it is gone when looked at.
_ATTEMPTS = 3


def _replay(stored: StoredKey, fingerprint: str) -> Created:
    """The first answer to this key, if it was for the same request."""
    if stored.request_hash != fingerprint or stored.response is None:
        raise IdempotencyKeyReusedError
    return Created(OrderView.from_json(stored.response), replayed=True)


@dataclass(frozen=True, slots=True)
class Created:
    order: OrderView
    replayed: bool


def _fingerprint(customer_email: str, lines: Sequence[LineRequest], note: str | None) -> str:
    canonical = json.dumps(
        {
            "customer_email": customer_email,
            "lines": [[str(line.product_id), line.quantity] for line in lines],
            "note": note,
        },
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _position(order: OrderView) -> KeysetPosition:
    return KeysetPosition(created_at=order.created_at, id=order.id)


class OrderService:
    def __init__(self, settings: Settings) -> None:
        self._cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode())

    async def create_order(
        self,
        unit: Unit,
        access: TeamAccess,
        *,
        idempotency_key: str,
        customer_email: str,
        lines: Sequence[LineRequest],
        note: str | None = None,
        products: Sequence[Sequence[Any]] | None = None,
    ) -> Created:
        """Capture prices, total with Decimal, reserve stock: all in the caller's transaction.

        A retry with the same key and body replays the first answer; the same key with
        another body is refused (422). A failed attempt keeps nothing, key included.
        `products`: the rows of `PRODUCTS_IN_TEAM` for the lines, if the caller query read
        them already (`impl.context.ReadAhead`).
        """
        customer_email = normalise_email(customer_email)
        if not is_storable(customer_email) or len(customer_email) > MAX_EMAIL_LENGTH:
            raise UnprocessableContent("customer_email cannot be stored")
        note = checked_note("note", note, MAX_NOTE_LENGTH)
        if not is_storable(idempotency_key):
            raise UnprocessableContent("Idempotency-Key contains characters that cannot be stored")
        keys = IdempotencyRepository(unit)
        fingerprint = _fingerprint(customer_email, lines, note)
        key = (access.team_id, "create_order", idempotency_key)
        orders = OrderWriter(unit)
        if orders.at_once:
            return await self._create_at_once(
                unit, access, key, fingerprint, customer_email, lines, note, products
            )
        existing = await keys.claim(
            team_id=access.team_id,
            operation="create_order",
            key=idempotency_key,
            request_hash=fingerprint,
        )
        if existing is not None:
            return _replay(existing, fingerprint)
        priced = await self._priced(unit, access, customer_email, lines, note, products)
        movements = await Inventory(unit).reserve(
            access,
            [Movement(line.product_id, -line.quantity) for line in lines],
            reason=StockReason.ORDER,
            order_id=priced.view.id,
        )
        await orders.place(
            priced.order, priced.lines, movements, key=key, response=priced.view.to_json()
        )
        return Created(priced.view, replayed=False)

    async def _create_at_once(
        self,
        unit: Unit,
        access: TeamAccess,
        key: tuple[uuid.UUID, str, str],
        fingerprint: str,
        customer_email: str,
        lines: Sequence[LineRequest],
        note: str | None,
        products: Sequence[Sequence[Any]] | None,
    ) -> Created:
        """The whole order in one statement without a transaction (`place_at_once`): the
        reads it needs come first, and nothing is written unless all of it is."""
        keys = IdempotencyRepository(unit)
        try:
            priced = await self._priced(unit, access, customer_email, lines, note, products)
        except AppError:
            # A retry is answered as the first request was, whatever changed since.
            stored = await keys.stored(key)
            if stored is None:
                raise
            return _replay(stored, fingerprint)
        now = priced.view.created_at
        movements = [
            {
                "id": new_id(),
                "team_id": access.team_id,
                "product_id": line.product_id,
                "delta": -line.quantity,
                "reason": StockReason.ORDER.value,
                "note": None,
                "order_id": priced.view.id,
                "actor_id": access.user_id,
                "created_at": now,
            }
            for line in sorted(lines, key=lambda line: line.product_id)
        ]
        row = {
            "team_id": key[0],
            "operation": key[1],
            "key": key[2],
            "request_hash": fingerprint,
            "resource_id": priced.view.id,
            "response": priced.view.to_json(),
            "created_at": now,
        }
        writer = OrderWriter(unit)
        for _ in range(_ATTEMPTS):
            try:
                if await writer.place_at_once(priced.order, priced.lines, movements, key=row):
                    return Created(priced.view, replayed=False)
            except OutOfStockError:
                short = await Ledger(unit).first_short(
                    [(line.product_id, line.quantity) for line in lines]
                )
                if short is not None:
                    raise InsufficientStockError(*short) from None
                continue  # stock came back (or a deadlock was broken) in between: again
            stored = await keys.stored(key)
            if stored is not None:
                return _replay(stored, fingerprint)
            # The request that held the key failed after all: the key is free again.
        raise OrderContendedError

    async def _priced(
        self,
        unit: Unit,
        access: TeamAccess,
        customer_email: str,
        lines: Sequence[LineRequest],
        note: str | None,
        ahead: Sequence[Sequence[Any]] | None,
    ) -> _Priced:
        """Check the lines against their products and price the order: its view (what is
        answered and replayed), its row and its lines' rows."""
        seen: set[uuid.UUID] = set()
        for index, line in enumerate(lines):
            if line.product_id in seen:
                raise InvalidLineError(index, "product_id", "product already on another line")
            seen.add(line.product_id)
        orders = OrderWriter(unit)
        products = (
            await orders.products_in_team(access.team_id, [line.product_id for line in lines])
            if ahead is None
            else orders.priced(ahead)
        )
        order_lines = []
        for index, line in enumerate(lines):
            product = products.get(line.product_id)
            if product is None:
                raise InvalidLineError(index, "product_id", "no such product in this team")
            if product.status != ProductStatus.ACTIVE:
                raise InvalidLineError(index, "product_id", f"product is {product.status}")
            unit_price = product.price.quantize(_CENT)
            order_lines.append(
                LineView(
                    product_id=product.id,
                    sku=product.sku,
                    name=product.name,
                    unit_price=unit_price,
                    quantity=line.quantity,
                    line_total=(unit_price * line.quantity).quantize(_CENT),
                )
            )
        currencies = {products[line.product_id].currency for line in lines}
        if len(currencies) != 1:
            raise UnprocessableContent(
                "All lines of an order must be priced in one currency, not "
                + ", ".join(sorted(currencies))
            )
        now = utcnow()
        view = OrderView(
            id=new_id(),
            status=OrderStatus.PENDING.value,
            customer_email=customer_email,
            currency=currencies.pop(),
            total=sum((line.line_total for line in order_lines), Decimal("0.00")),
            note=note,
            lines=tuple(order_lines),
            version=1,
            created_at=now,
            updated_at=now,
        )
        order = {
            "id": view.id,
            "team_id": access.team_id,
            "status": view.status,
            "customer_email": customer_email,
            "currency": view.currency,
            "total": view.total,
            "note": note,
            "created_by": access.user_id,
            "version": view.version,
            "created_at": now,
            "updated_at": now,
        }
        rows = [
            {
                "order_id": view.id,
                "position": index,
                "product_id": line.product_id,
                "sku": line.sku,
                "name": line.name,
                "unit_price": line.unit_price,
                "quantity": line.quantity,
                "line_total": line.line_total,
            }
            for index, line in enumerate(order_lines)
        ]
        return _Priced(view, order, rows)

    async def get_order(
        self, session: AsyncSession, access: TeamAccess, *, order_id: uuid.UUID
    ) -> OrderView:
        order = await OrderRepository(session).get_in_team(access.team_id, order_id)
        if order is None:
            raise OrderNotFoundError
        return OrderView.of(order)

    async def list_orders(
        self,
        session: AsyncSession,
        access: TeamAccess,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        status: str | None = None,
        customer_email: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> Page[OrderView]:
        limit = clamp_limit(limit)
        before = self._cursors.decode_position(cursor) if cursor else None
        rows = await OrderRepository(session).list_in_team(
            access.team_id,
            limit=limit + 1,
            before=before,
            status=status,
            customer_email=normalise_email(customer_email) if customer_email else None,
            created_after=created_after,
            created_before=created_before,
        )
        views = [OrderView.of(order) for order in rows]
        return build_page(views, limit=limit, codec=self._cursors, position=_position)

    async def transition(
        self, unit: Unit, access: TeamAccess, *, order_id: uuid.UUID, action: str
    ) -> OrderView:
        """Move the order along its state machine; 409 naming the state if not allowed."""
        rule = TRANSITIONS[action]
        orders = OrderRepository(unit.session)
        # Locked, so two concurrent actions on one order are applied one after the other.
        order = await orders.get_in_team(access.team_id, order_id, for_update=True)
        if order is None:
            raise OrderNotFoundError
        current = OrderStatus(order.status)
        if current not in rule.sources:
            raise IllegalTransitionError(action, current)
        if current in rule.restock_from and rule.restock_reason is not None:
            await Inventory(unit).move(
                access,
                [Movement(line.product_id, line.quantity) for line in order.lines],
                reason=rule.restock_reason,
                order_id=order.id,
            )
        await orders.set_status(order, rule.target)
        return OrderView.of(order)
