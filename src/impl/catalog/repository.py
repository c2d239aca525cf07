from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.exc import StaleDataError

from impl.catalog.errors import ProductModifiedError, SkuTakenError
from impl.kit.clock import utcnow
from impl.kit.db import Unit, is_unique_violation
from impl.kit.query import Query
from impl.models import Product, ProductTag, StockLevel

# Built once: the hottest read finds its compiled form in the cache without being rebuilt.
_PRODUCT_IN_TEAM = select(Product).where(
    Product.id == bindparam("product_id", type_=Product.id.type),
    Product.team_id == bindparam("team_id", type_=Product.team_id.type),
    Product.deleted_at.is_(None),
)


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """A product as the read operations answer it, read without an ORM session."""

    id: uuid.UUID
    team_id: uuid.UUID
    sku: str
    name: str
    description: str | None
    price: Decimal
    currency: str
    status: str
    tags: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


_products = Product.__table__
# Parameters `product_id` and `team_id`; also read ahead with the caller (`impl.context`).
READ_IN_TEAM = select(*(_products.c[field.name] for field in fields(ProductRecord))).where(
    _products.c.id == bindparam("product_id", type_=_products.c.id.type),
    _products.c.team_id == bindparam("team_id", type_=_products.c.team_id.type),
    _products.c.deleted_at.is_(None),
)
_READ_IN_TEAM = Query(READ_IN_TEAM)


class ProductReader:
    """The hottest read, on the unit's connection: no session, no ORM entities."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def get_in_team(self, team_id: uuid.UUID, product_id: uuid.UUID) -> ProductRecord | None:
        row = await _READ_IN_TEAM.one_or_none(
            self.unit, {"product_id": product_id, "team_id": team_id}
        )
        return None if row is None else ProductRecord(*row)

    @staticmethod
    def record(rows: Sequence[Sequence[Any]]) -> ProductRecord | None:
        """The product in the rows of `READ_IN_TEAM`, read ahead with the caller."""
        if len(rows) > 1:
            raise RuntimeError(f"expected at most one product, got {len(rows)}")
        return ProductRecord(*rows[0]) if rows else None


UPDATABLE_FIELDS = frozenset({"sku", "name", "description", "price", "currency", "status", "tags"})
SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": Product.created_at,
    "name": Product.name,
    "price": Product.price,
}


@dataclass(frozen=True, slots=True)
class ProductFilter:
    """The list's filters; None means "any"."""

    status: str | None = None
    tag: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    text: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


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
        tags: Sequence[str] = (),
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
            tags=list(tags),
            created_at=now,
            updated_at=now,
        )
        await self._flush(add=product)
        await self._sync_tags(product)
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
        where: ProductFilter,
        sort: str = "created_at",
        after: tuple[Any, uuid.UUID] | None = None,
    ) -> list[Product]:
        """Live products ordered by `sort` (`-` for descending, ties by id), strictly after
        the `(sort value, id)` of `after`, at most `limit`."""
        column = SORT_COLUMNS[sort.removeprefix("-")]
        descending = sort.startswith("-")
        statement = (
            select(Product)
            .where(Product.team_id == team_id, Product.deleted_at.is_(None))
            .order_by(*((column.desc(), Product.id.desc()) if descending else (column, Product.id)))
            .limit(limit)
        )
        if after is not None:
            # A plain tuple on the right takes the column types, so binds go through UTCDateTime.
            position = tuple_(column, Product.id)
            statement = statement.where(position < after if descending else position > after)
        for condition in _conditions(team_id, where):
            statement = statement.where(condition)
        return list(await self.session.scalars(statement))

    async def update(self, product: Product, changes: Mapping[str, object]) -> Product:
        unknown = changes.keys() - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        for field, value in changes.items():
            setattr(product, field, value)
        await self._flush()
        if "tags" in changes:
            await self._sync_tags(product)
            await self.session.flush()
        return product

    async def soft_delete(self, product: Product) -> None:
        product.deleted_at = utcnow()
        await self._flush()

    async def count(self) -> int:
        """Every product row, deleted ones included."""
        return int(await self.session.scalar(select(func.count()).select_from(Product)) or 0)

    async def get_deleted_in_team(
        self, team_id: uuid.UUID, product_id: uuid.UUID
    ) -> Product | None:
        return await self.session.scalar(
            select(Product).where(
                Product.team_id == team_id,
                Product.id == product_id,
                Product.deleted_at.is_not(None),
            )
        )

    async def restore(self, product: Product) -> None:
        """Undelete; `SkuTakenError` if a live product took the SKU meanwhile."""
        product.deleted_at = None
        await self._flush()

    async def _sync_tags(self, product: Product) -> None:
        await self.session.execute(delete(ProductTag).where(ProductTag.product_id == product.id))
        self.session.add_all(
            ProductTag(product_id=product.id, tag=tag, team_id=product.team_id)
            for tag in product.tags
        )

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


def _conditions(team_id: uuid.UUID, where: ProductFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if where.status is not None:
        found.append(Product.status == where.status)
    if where.tag is not None:
        tagged = select(ProductTag.product_id).where(
            ProductTag.team_id == team_id, ProductTag.tag == where.tag
        )
        found.append(Product.id.in_(tagged))
    if where.min_price is not None:
        found.append(Product.price >= where.min_price)
    if where.max_price is not None:
        found.append(Product.price <= where.max_price)
    if where.text is not None:
        text = where.text.lower()
        found.append(
            or_(
                func.lower(Product.name).contains(text, autoescape=True),
                func.lower(Product.sku).contains(text, autoescape=True),
            )
        )
    if where.created_after is not None:
        found.append(Product.created_at >= where.created_after)
    if where.created_before is not None:
        found.append(Product.created_at < where.created_before)
    return found
