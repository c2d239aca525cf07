from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    Table,
    bindparam,
    delete,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
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


_products = cast(Table, Product.__table__)
_RECORD = tuple(_products.c[field.name] for field in fields(ProductRecord))
# Parameters `product_id` and `team_id`; also read ahead with the caller (`impl.context`).
READ_IN_TEAM = select(*_RECORD).where(
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

    async def list_in_team(
        self,
        team_id: uuid.UUID,
        *,
        limit: int,
        where: ProductFilter,
        sort: str = "created_at",
        after: tuple[Any, uuid.UUID] | None = None,
    ) -> list[ProductRecord]:
        """Live products ordered by `sort` (`-` for descending, ties by id), strictly after
        the `(sort value, id)` of `after`, at most `limit`."""
        given = {name: value for name, value in _filter_values(where).items() if value is not None}
        query = _list_query(_ListShape(sort, after is not None, frozenset(given)))
        params: dict[str, Any] = {"team_id": team_id, "limit": limit, **given}
        if after is not None:
            params["after_value"], params["after_id"] = after
        return [ProductRecord(*row) for row in await query.rows(self.unit, params)]


UPDATABLE_FIELDS = frozenset({"sku", "name", "description", "price", "currency", "status", "tags"})
SORT_COLUMNS: dict[str, Column[Any]] = {
    "created_at": _products.c.created_at,
    "name": _products.c.name,
    "price": _products.c.price,
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


def _filter_values(where: ProductFilter) -> dict[str, Any]:
    """The filters as their statement's parameters (`_FILTERS`): the text as a LIKE pattern."""
    return {
        "status": where.status,
        "tag": where.tag,
        "min_price": where.min_price,
        "max_price": where.max_price,
        "pattern": None if where.text is None else _contains(where.text.lower()),
        "created_after": where.created_after,
        "created_before": where.created_before,
    }


_ESCAPE = "/"


def _contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own `%` and `_` taken literally."""
    for special in (_ESCAPE, "%", "_"):
        text = text.replace(special, _ESCAPE + special)
    return f"%{text}%"


_c, _tags = _products.c, ProductTag.__table__.c
_TEAM = bindparam("team_id", type_=_c.team_id.type)
# Each filter's condition, with its value as a parameter of the same name.
_FILTERS: dict[str, ColumnElement[bool]] = {
    "status": _c.status == bindparam("status", type_=_c.status.type),
    "tag": _c.id.in_(
        select(_tags.product_id).where(
            _tags.team_id == _TEAM, _tags.tag == bindparam("tag", type_=_tags.tag.type)
        )
    ),
    "min_price": _c.price >= bindparam("min_price", type_=_c.price.type),
    "max_price": _c.price <= bindparam("max_price", type_=_c.price.type),
    "pattern": or_(
        func.lower(_c.name).like(bindparam("pattern", type_=_c.name.type), escape=_ESCAPE),
        func.lower(_c.sku).like(bindparam("pattern", type_=_c.sku.type), escape=_ESCAPE),
    ),
    "created_after": _c.created_at >= bindparam("created_after", type_=_c.created_at.type),
    "created_before": _c.created_at < bindparam("created_before", type_=_c.created_at.type),
}


@dataclass(frozen=True, slots=True)
class _ListShape:
    """What a list statement's text depends on: its values are all parameters."""

    sort: str
    after: bool
    filters: frozenset[str]


# One `Query` per shape met, so each is compiled once per process (and prepared once per
# connection): at most 6 sorts x 2 x 2^7 filter sets, a handful in practice.
_LISTS: dict[_ListShape, Query] = {}


def _list_query(shape: _ListShape) -> Query:
    query = _LISTS.get(shape)
    if query is None:
        column = SORT_COLUMNS[shape.sort.removeprefix("-")]
        descending = shape.sort.startswith("-")
        statement = (
            select(*_RECORD)
            .where(_c.team_id == _TEAM, _c.deleted_at.is_(None))
            .order_by(*((column.desc(), _c.id.desc()) if descending else (column, _c.id)))
            .limit(bindparam("limit", type_=Integer()))
        )
        if shape.after:
            position = tuple_(column, _c.id)
            bound = tuple_(
                bindparam("after_value", type_=column.type),
                bindparam("after_id", type_=_c.id.type),
            )
            statement = statement.where(position < bound if descending else position > bound)
        for name in sorted(shape.filters):
            statement = statement.where(_FILTERS[name])
        query = _LISTS[shape] = Query(statement)
    return query


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
