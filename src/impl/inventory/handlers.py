from __future__ import annotations

from uuid import UUID

from generated import models
from generated.responses import inventory as r
from impl.context import RequestContext
from impl.inventory.repository import MovementRecord
from impl.inventory.service import InventoryService
from impl.kit.absent import or_none
from impl.models import StockMovement


def movement_out(movement: StockMovement | MovementRecord) -> models.StockMovement:
    return models.StockMovement(
        id=movement.id,
        product_id=movement.product_id,
        delta=movement.delta,
        on_hand_after=movement.on_hand_after,
        reason=models.StockReason(movement.reason),
        note=movement.note,
        order_id=movement.order_id,
        created_at=movement.created_at,
    )


class InventoryHandlers:
    def __init__(self, inventory: InventoryService) -> None:
        self._inventory = inventory

    async def get_stock(
        self, ctx: RequestContext, *, team_id: UUID, product_id: UUID
    ) -> r.GetStock200:
        level = await self._inventory.get_stock(
            ctx.session, ctx.team_access(), product_id=product_id
        )
        return r.GetStock200(
            body=models.Stock(
                product_id=level.product_id, on_hand=level.on_hand, updated_at=level.updated_at
            )
        )

    async def list_stock_movements(
        self,
        ctx: RequestContext,
        *,
        team_id: UUID,
        product_id: UUID,
        limit: int,
        cursor: str | None,
    ) -> r.ListStockMovements200:
        page = await self._inventory.list_movements(
            ctx.session, ctx.team_access(), product_id=product_id, limit=limit, cursor=cursor
        )
        return r.ListStockMovements200(
            body=models.StockMovementPage(
                items=[movement_out(m) for m in page.items], next_cursor=page.next_cursor
            )
        )

    async def adjust_stock(
        self,
        ctx: RequestContext,
        *,
        team_id: UUID,
        product_id: UUID,
        body: models.StockAdjustmentCreate,
    ) -> r.AdjustStock201:
        movement = await self._inventory.adjust_stock(
            ctx.db,
            ctx.team_access(),
            product_id=product_id,
            delta=body.delta,
            reason=body.reason.value,
            note=or_none(body.note),
        )
        return r.AdjustStock201(body=movement_out(movement))
