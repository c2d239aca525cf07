from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from generated import models
from generated.responses import orders as r
from impl.context import RequestContext
from impl.kit.absent import or_none
from impl.orders.service import LineRequest, OrderService, OrderView


def order_out(order: OrderView) -> models.Order:
    # Values the service made from validated input and the database: built without being
    # validated again (the customer's email alone cost 0.15 ms). The contract tests check
    # every body the server answers against the spec.
    return models.Order.model_construct(
        id=order.id,
        status=models.OrderStatus(order.status),
        customer_email=order.customer_email,
        currency=order.currency,
        total=f"{order.total:.2f}",
        note=order.note,
        lines=[
            models.OrderLine.model_construct(
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                unit_price=f"{line.unit_price:.2f}",
                quantity=line.quantity,
                line_total=f"{line.line_total:.2f}",
            )
            for line in order.lines
        ],
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


class OrdersHandlers:
    def __init__(self, orders: OrderService) -> None:
        self._orders = orders

    async def create_order(
        self, ctx: RequestContext, *, team_id: UUID, idempotency_key: str, body: models.OrderCreate
    ) -> r.CreateOrder201:
        created = await self._orders.create_order(
            ctx.db,
            ctx.team_access(),
            idempotency_key=idempotency_key,
            customer_email=body.customer_email,
            lines=[LineRequest(line.product_id, line.quantity) for line in body.lines],
            note=or_none(body.note),
            products=ctx.ahead,
        )
        replayed: Literal["true"] | None = "true" if created.replayed else None
        return r.CreateOrder201(
            body=order_out(created.order),
            location=f"/v1/teams/{team_id}/orders/{created.order.id}",
            etag=created.order.etag,
            idempotent_replayed=replayed,
        )

    async def list_orders(
        self,
        ctx: RequestContext,
        *,
        team_id: UUID,
        status: models.OrderStatus | None,
        customer_email: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> r.ListOrders200:
        page = await self._orders.list_orders(
            ctx.session,
            ctx.team_access(),
            limit=limit,
            cursor=cursor,
            status=status.value if status is not None else None,
            customer_email=customer_email,
            created_after=created_after,
            created_before=created_before,
        )
        return r.ListOrders200(
            body=models.OrderPage(
                items=[order_out(o) for o in page.items], next_cursor=page.next_cursor
            )
        )

    async def get_order(
        self, ctx: RequestContext, *, team_id: UUID, order_id: UUID
    ) -> r.GetOrder200:
        order = await self._orders.get_order(ctx.session, ctx.team_access(), order_id=order_id)
        return r.GetOrder200(body=order_out(order), etag=order.etag)

    async def pay_order(
        self, ctx: RequestContext, *, team_id: UUID, order_id: UUID
    ) -> r.PayOrder200:
        order = await self._act(ctx, order_id, "pay")
        return r.PayOrder200(body=order_out(order), etag=order.etag)

    async def fulfill_order(
        self, ctx: RequestContext, *, team_id: UUID, order_id: UUID
    ) -> r.FulfillOrder200:
        order = await self._act(ctx, order_id, "fulfill")
        return r.FulfillOrder200(body=order_out(order), etag=order.etag)

    async def cancel_order(
        self, ctx: RequestContext, *, team_id: UUID, order_id: UUID
    ) -> r.CancelOrder200:
        order = await self._act(ctx, order_id, "cancel")
        return r.CancelOrder200(body=order_out(order), etag=order.etag)

    async def refund_order(
        self, ctx: RequestContext, *, team_id: UUID, order_id: UUID
    ) -> r.RefundOrder200:
        order = await self._act(ctx, order_id, "refund")
        return r.RefundOrder200(body=order_out(order), etag=order.etag)

    async def _act(self, ctx: RequestContext, order_id: UUID, action: str) -> OrderView:
        return await self._orders.transition(
            ctx.db, ctx.team_access(), order_id=order_id, action=action
        )
