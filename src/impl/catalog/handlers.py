from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from generated import models
from generated.responses import products as r
from impl.catalog.repository import ProductRecord
from impl.catalog.service import ProductService, product_etag
from impl.context import RequestContext
from impl.kit.absent import or_none
from impl.models import Product


def product_out(product: Product | ProductRecord) -> models.Product:
    # Database values: built without being validated again (see `order_out`).
    return models.Product.model_construct(
        id=product.id,
        team_id=product.team_id,
        sku=product.sku,
        name=product.name,
        description=product.description,
        price=f"{product.price:.2f}",
        currency=product.currency,
        status=models.ProductStatus(product.status),
        tags=list(product.tags),
        version=product.version,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


class ProductsHandlers:
    def __init__(self, products: ProductService) -> None:
        self._products = products

    async def list_products(
        self,
        ctx: RequestContext,
        *,
        team_id: UUID,
        limit: int,
        cursor: str | None,
        status: models.ProductStatus | None,
        tag: str | None,
        min_price: str | None,
        max_price: str | None,
        q: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        sort: Literal["created_at", "-created_at", "name", "-name", "price", "-price"],
    ) -> r.ListProducts200:
        page = await self._products.list_products(
            ctx.db,
            ctx.team_access(),
            limit=limit,
            cursor=cursor,
            sort=sort,
            status=status.value if status is not None else None,
            tag=tag,
            min_price=Decimal(min_price) if min_price is not None else None,
            max_price=Decimal(max_price) if max_price is not None else None,
            text=q,
            created_after=created_after,
            created_before=created_before,
        )
        return r.ListProducts200(
            body=models.ProductPage(
                items=[product_out(p) for p in page.items], next_cursor=page.next_cursor
            )
        )

    async def create_product(
        self, ctx: RequestContext, *, team_id: UUID, body: models.ProductCreate
    ) -> r.CreateProduct201:
        product = await self._products.create_product(
            ctx.session,
            ctx.team_access(),
            sku=body.sku,
            name=body.name,
            description=or_none(body.description),
            price=Decimal(body.price),
            currency=body.currency,
            status=(or_none(body.status) or models.ProductStatus.DRAFT).value,
            tags=list(or_none(body.tags) or []),
        )
        return r.CreateProduct201(
            body=product_out(product),
            location=f"/v1/teams/{team_id}/products/{product.id}",
            etag=product_etag(product),
        )

    async def get_product(
        self, ctx: RequestContext, *, team_id: UUID, product_id: UUID
    ) -> r.GetProduct200:
        product = await self._products.get_product(
            ctx.db, ctx.team_access(), product_id=product_id, ahead=ctx.ahead
        )
        return r.GetProduct200(body=product_out(product), etag=product_etag(product))

    async def update_product(
        self,
        ctx: RequestContext,
        *,
        team_id: UUID,
        product_id: UUID,
        if_match: str | None,
        body: models.ProductUpdate,
    ) -> r.UpdateProduct200:
        product = await self._products.update_product(
            ctx.session,
            ctx.team_access(),
            product_id=product_id,
            if_match=if_match,
            changes=body.model_dump(exclude_unset=True, mode="json"),
        )
        return r.UpdateProduct200(body=product_out(product), etag=product_etag(product))

    async def delete_product(
        self, ctx: RequestContext, *, team_id: UUID, product_id: UUID, if_match: str | None
    ) -> r.DeleteProduct204:
        await self._products.delete_product(
            ctx.session, ctx.team_access(), product_id=product_id, if_match=if_match
        )
        return r.DeleteProduct204()

    async def restore_product(
        self, ctx: RequestContext, *, team_id: UUID, product_id: UUID
    ) -> r.RestoreProduct200:
        product = await self._products.restore_product(
            ctx.session, ctx.team_access(), product_id=product_id
        )
        return r.RestoreProduct200(body=product_out(product), etag=product_etag(product))
