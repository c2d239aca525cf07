from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from impl.catalog.errors import ProductNotFoundError
from impl.catalog.repository import ProductRepository
from impl.inventory.errors import InsufficientStockError
from impl.inventory.repository import Ledger, MovementRecord, StockRepository
from impl.kit.clock import utcnow
from impl.kit.db import Unit
from impl.kit.errors import UnprocessableContent
from impl.kit.ids import new_id
from impl.kit.pagination import CursorCodec, KeysetPosition, Page, build_page, clamp_limit
from impl.kit.text import checked_note
from impl.models import StockLevel, StockMovement, StockReason
from impl.settings import Settings
from impl.teams.access import TeamAccess

# What people may record by hand; order movements come from the order workflow only.
MANUAL_REASONS = frozenset({StockReason.RECEIVE, StockReason.CORRECTION, StockReason.DAMAGE})
MAX_NOTE_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Movement:
    """A change to one product's stock, for `Inventory.move`."""

    product_id: uuid.UUID
    delta: int


def _position(movement: StockMovement) -> KeysetPosition:
    return KeysetPosition(created_at=movement.created_at, id=movement.id)


class Inventory:
    """Stock levels and their ledger; every change goes through `move` (or `reserve`, whose
    rows the order workflow writes with the order)."""

    def __init__(self, unit: Unit) -> None:
        self._ledger = Ledger(unit)

    async def move(
        self,
        access: TeamAccess,
        movements: Iterable[Movement],
        *,
        reason: StockReason,
        note: str | None = None,
        order_id: uuid.UUID | None = None,
    ) -> list[MovementRecord]:
        """Apply each movement and write its ledger row; all or nothing (the caller's
        transaction)."""
        recorded = await self.reserve(
            access, movements, reason=reason, note=note, order_id=order_id
        )
        await self._ledger.record(recorded)
        return recorded

    async def reserve(
        self,
        access: TeamAccess,
        movements: Iterable[Movement],
        *,
        reason: StockReason,
        note: str | None = None,
        order_id: uuid.UUID | None = None,
    ) -> list[MovementRecord]:
        """Apply each movement to its level and return the ledger rows the caller must
        write in the same transaction (`move` does; placing an order writes them with the
        order). Products are locked in id order, so two orders sharing products cannot
        deadlock."""
        ordered = sorted(movements, key=lambda m: m.product_id)
        levels = []
        for movement in ordered:
            on_hand = await self._ledger.apply(movement.product_id, movement.delta)
            if on_hand is None:
                level = await self._ledger.on_hand(movement.product_id)
                raise InsufficientStockError(movement.product_id, level or 0, -movement.delta)
            levels.append(on_hand)
        now = utcnow()
        return [
            MovementRecord(
                id=new_id(),
                team_id=access.team_id,
                product_id=movement.product_id,
                delta=movement.delta,
                on_hand_after=on_hand,
                reason=reason,
                note=note,
                order_id=order_id,
                actor_id=access.user_id,
                created_at=now,
            )
            for movement, on_hand in zip(ordered, levels, strict=True)
        ]


class InventoryService:
    def __init__(self, settings: Settings) -> None:
        self._cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode())

    async def get_stock(
        self, session: AsyncSession, access: TeamAccess, *, product_id: uuid.UUID
    ) -> StockLevel:
        await self._product(session, access, product_id)
        level = await StockRepository(session).get_level(product_id)
        if level is None:  # every product gets a level when it is created
            raise ProductNotFoundError
        return level

    async def adjust_stock(
        self,
        unit: Unit,
        access: TeamAccess,
        *,
        product_id: uuid.UUID,
        delta: int,
        reason: str,
        note: str | None = None,
    ) -> MovementRecord:
        if reason not in MANUAL_REASONS:
            raise UnprocessableContent(f"Stock cannot be adjusted by hand for reason {reason!r}")
        if delta == 0:
            raise UnprocessableContent("delta must not be zero")
        note = checked_note("note", note, MAX_NOTE_LENGTH)
        await self._product(unit.session, access, product_id)
        [movement] = await Inventory(unit).move(
            access, [Movement(product_id, delta)], reason=StockReason(reason), note=note
        )
        return movement

    async def list_movements(
        self,
        session: AsyncSession,
        access: TeamAccess,
        *,
        product_id: uuid.UUID,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[StockMovement]:
        await self._product(session, access, product_id)
        limit = clamp_limit(limit)
        after = self._cursors.decode_position(cursor) if cursor else None
        rows = await StockRepository(session).movements(product_id, limit=limit + 1, after=after)
        return build_page(rows, limit=limit, codec=self._cursors, position=_position)

    async def _product(
        self, session: AsyncSession, access: TeamAccess, product_id: uuid.UUID
    ) -> None:
        if await ProductRepository(session).get_in_team(access.team_id, product_id) is None:
            raise ProductNotFoundError
