from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from impl.catalog.errors import ProductModifiedError, SkuTakenError
from impl.kit.clock import utcnow
from impl.kit.db import is_unique_violation
from impl.kit.pagination import KeysetPosition
from impl.models import Product, StockLevel

# Built once: the hottest read finds its compiled form in the cache without being rebuilt.
_PRODUCT_IN_TEAM = select(Product).where(
    Product.id == bindparam("product_id", type_=Product.id.type),
    Product.team_id == bindparam("team_id", type_=Product.team_id.type),
    Product.deleted_at.is_(None),
)

UPDATABLE_FIELDS = frozenset({"sku", "name", "description", "price", "currency", "status"})


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        *,
        team_id: uuid.UUID,
        sku: str,
        name: str,
        description: str | None,
        price: Decimal,
        currency: str,
        status: str,
    ) -> Product:
        now = utcnow()
        product = Product(
            team_id=team_id,
            sku=sku,
            name=name,
            description=description,
            price=price,
            currency=currency,
            status=status,
            created_at=now,
            updated_at=now,
        )
        await self._flush(add=product)
        # Every product is born with an empty stock level: the ledger starts at zero.
        self.session.add(
            StockLevel(product_id=product.id, team_id=team_id, on_hand=0, version=1, updated_at=now)
        )
        await self.session.flush()
        return product

    async def get_in_team(self, team_id: uuid.UUID, product_id: uuid.UUID) -> Product | None:
        return await self.session.scalar(
            _PRODUCT_IN_TEAM, {"product_id": product_id, "team_id": team_id}
        )

    async def list_in_team(
        self,
        team_id: uuid.UUID,
        *,
        limit: int,
        after: KeysetPosition | None = None,
        status: str | None = None,
    ) -> list[Product]:
        """Live products in `(created_at, id)` order, strictly after `after`, at most `limit`."""
        statement = (
            select(Product)
            .where(Product.team_id == team_id, Product.deleted_at.is_(None))
            .order_by(Product.created_at, Product.id)
            .limit(limit)
        )
        if status is not None:
            statement = statement.where(Product.status == status)
        if after is not None:
            # A plain tuple on the right takes the column types, so binds go through UTCDateTime.
            statement = statement.where(
                tuple_(Product.created_at, Product.id) > (after.created_at, after.id)
            )
        return list(await self.session.scalars(statement))

    async def update(self, product: Product, changes: Mapping[str, object]) -> Product:
        unknown = changes.keys() - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        for field, value in changes.items():
            setattr(product, field, value)
        await self._flush()
        return product

    async def soft_delete(self, product: Product) -> None:
        product.deleted_at = utcnow()
        await self._flush()

    async def _flush(self, *, add: Product | None = None) -> None:
        # The savepoint keeps the outer transaction usable after a constraint or version clash.
        try:
            async with self.session.begin_nested():
                if add is not None:
                    self.session.add(add)
                await self.session.flush()
        except IntegrityError as error:
            if is_unique_violation(
                error,
                constraint="uq_products_team_id_sku",
                table="products",
                columns=["team_id", "sku"],
            ):
                raise SkuTakenError from error
            raise
        except StaleDataError as error:
            raise ProductModifiedError from error
