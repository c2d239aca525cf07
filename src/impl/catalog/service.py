from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from impl.catalog.errors import (
    ProductModifiedError,
    ProductNotDeletedError,
    ProductNotFoundError,
)
from impl.catalog.repository import (
    SORT_COLUMNS,
    UPDATABLE_FIELDS,
    ProductFilter,
    ProductReader,
    ProductRecord,
    ProductRepository,
)
from impl.kit.db import Unit
from impl.kit.errors import BadRequest, PreconditionRequired, UnprocessableContent
from impl.kit.etags import if_match_satisfied, strong_etag
from impl.kit.pagination import CursorCodec, Page, clamp_limit, paginate
from impl.kit.text import is_storable
from impl.models import Product, ProductStatus
from impl.settings import Settings
from impl.teams.access import TeamAccess

# Limits of the columns: PostgreSQL would reject longer values, SQLite would store them.
MAX_SKU_LENGTH = 64
MAX_NAME_LENGTH = 200
MAX_PRICE = Decimal("999999999999.99")  # Numeric(14, 2)
_CENT = Decimal("0.01")
_STATUSES = tuple(status.value for status in ProductStatus)
_CURRENCY = re.compile(r"[A-Z]{3}")


def product_etag(product: Product | ProductRecord) -> str:
    """Strong ETag of the product's current version, e.g. `"0193…-v3"`."""
    return strong_etag(f"{product.id}-v{product.version}")


_TAG = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
MAX_TAGS = 20


def _tags(value: object) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) > MAX_TAGS:
        raise UnprocessableContent(f"tags must be a list of at most {MAX_TAGS} tags")
    if not all(isinstance(tag, str) and _TAG.fullmatch(tag) for tag in value):
        raise UnprocessableContent("each tag must be 1 to 32 of a-z, 0-9 and -")
    if len(set(value)) != len(value):
        raise UnprocessableContent("tags must not repeat")
    return list(value)


# How each sort key's value of the last row travels in a cursor.
def _sort_text(product: Product | ProductRecord, key: str) -> str:
    value = getattr(product, key)
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _sort_value(key: str, text: str) -> object:
    try:
        if key == "created_at":
            return datetime.fromisoformat(text)
        return Decimal(text) if key == "price" else text
    except (ValueError, InvalidOperation) as error:
        raise BadRequest("Invalid cursor") from error


def _text(field: str, value: object, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_length:
        raise UnprocessableContent(f"{field} must be 1 to {max_length} characters")
    return _storable(field, value.strip())


def _storable(field: str, value: str) -> str:
    if not is_storable(value):
        raise UnprocessableContent(f"{field} contains characters that cannot be stored")
    return value


def _price(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise UnprocessableContent("price must be a decimal number")
    try:
        price = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as error:
        raise UnprocessableContent("price must be a decimal number") from error
    if not price.is_finite() or not Decimal(0) <= price <= MAX_PRICE:
        raise UnprocessableContent(f"price must be between 0 and {MAX_PRICE}")
    cents = price.quantize(_CENT)
    # Rounding would store a price nobody sent.
    if cents != price:
        raise UnprocessableContent("price must not have more than 2 decimal places")
    # -0 passes the range check; without this it would be echoed back as "-0.00".
    return cents.copy_abs()


def _currency(value: object) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise UnprocessableContent("currency must be an ISO 4217 code such as EUR")
    return value


def _status(value: object) -> str:
    if isinstance(value, str) and value in _STATUSES:
        return str(value)
    raise UnprocessableContent(f"status must be one of {', '.join(_STATUSES)}")


def _description(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UnprocessableContent("description must be a string or null")
    return _storable("description", value)


_VALIDATORS = {
    "sku": lambda value: _text("sku", value, MAX_SKU_LENGTH),
    "name": lambda value: _text("name", value, MAX_NAME_LENGTH),
    "description": _description,
    "price": _price,
    "currency": _currency,
    "status": _status,
    "tags": _tags,
}
assert _VALIDATORS.keys() == UPDATABLE_FIELDS


def _require_if_match(if_match: str | None, product: Product) -> None:
    if if_match is None or not if_match.strip():
        raise PreconditionRequired("This request must carry an If-Match header")
    if not if_match_satisfied(if_match, product_etag(product)):
        raise ProductModifiedError


class ProductService:
    def __init__(self, settings: Settings) -> None:
        self._cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode())

    async def create_product(
        self,
        session: AsyncSession,
        access: TeamAccess,
        *,
        sku: str,
        name: str,
        description: str | None = None,
        price: Decimal,
        currency: str,
        status: str = ProductStatus.DRAFT,
        tags: Sequence[str] = (),
    ) -> Product:
        return await ProductRepository(session).create(
            team_id=access.team_id,
            sku=_text("sku", sku, MAX_SKU_LENGTH),
            name=_text("name", name, MAX_NAME_LENGTH),
            description=_description(description),
            price=_price(price),
            currency=_currency(currency),
            status=_status(status),
            tags=_tags(list(tags)),
        )

    async def list_products(
        self,
        unit: Unit,
        access: TeamAccess,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        sort: str = "created_at",
        status: str | None = None,
        tag: str | None = None,
        min_price: Decimal | None = None,
        max_price: Decimal | None = None,
        text: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> Page[ProductRecord]:
        """A page of the team's live products, read without an ORM session."""
        key = sort.removeprefix("-")
        if key not in SORT_COLUMNS:
            raise UnprocessableContent(f"sort must be one of {', '.join(SORT_COLUMNS)}, or -key")
        limit = clamp_limit(limit)
        after = None
        if cursor:
            value, row_id = self._cursors.decode_sorted(cursor, sort)
            after = (_sort_value(key, value), row_id)
        where = ProductFilter(
            status=_status(status) if status is not None else None,
            tag=tag,
            min_price=min_price,
            max_price=max_price,
            text=_storable("q", text) if text is not None else None,
            created_after=created_after,
            created_before=created_before,
        )
        rows = await ProductReader(unit).list_in_team(
            access.team_id, limit=limit + 1, where=where, sort=sort, after=after
        )
        return paginate(
            rows,
            limit=limit,
            cursor_of=lambda p: self._cursors.encode_sorted(sort, _sort_text(p, key), p.id),
        )

    async def restore_product(
        self, session: AsyncSession, access: TeamAccess, *, product_id: uuid.UUID
    ) -> Product:
        products = ProductRepository(session)
        product = await products.get_deleted_in_team(access.team_id, product_id)
        if product is None:
            if await products.get_in_team(access.team_id, product_id) is not None:
                raise ProductNotDeletedError
            raise ProductNotFoundError
        await products.restore(product)
        return product

    async def get_product(
        self,
        unit: Unit,
        access: TeamAccess,
        *,
        product_id: uuid.UUID,
        ahead: Sequence[Sequence[Any]] | None = None,
    ) -> ProductRecord:
        """The product; from `ahead`, the rows of `READ_IN_TEAM` if the caller query read
        them already (`impl.context.ReadAhead`)."""
        if ahead is None:
            product = await ProductReader(unit).get_in_team(access.team_id, product_id)
        else:
            product = ProductReader.record(ahead)
        if product is None:
            raise ProductNotFoundError
        return product

    async def update_product(
        self,
        session: AsyncSession,
        access: TeamAccess,
        *,
        product_id: uuid.UUID,
        if_match: str | None,
        changes: Mapping[str, object],
    ) -> Product:
        """Apply `changes` (only the fields the client sent) if `if_match` is current.

        An invalid change is refused (422) before the precondition is looked at. Over HTTP the
        generated layer has already refused what the contract forbids (repeated tags included);
        the same rules hold here for callers that do not come through it.
        """
        unknown = changes.keys() - UPDATABLE_FIELDS
        if unknown:
            raise UnprocessableContent(f"Fields cannot be changed: {', '.join(sorted(unknown))}")
        validated = {field: _VALIDATORS[field](value) for field, value in changes.items()}
        product = await self._get(session, access.team_id, product_id)
        _require_if_match(if_match, product)
        # Nothing to write means nothing to bump: the representation, hence the ETag, is unchanged.
        if any(getattr(product, field) != value for field, value in validated.items()):
            await ProductRepository(session).update(product, validated)
        return product

    async def delete_product(
        self,
        session: AsyncSession,
        access: TeamAccess,
        *,
        product_id: uuid.UUID,
        if_match: str | None,
    ) -> None:
        product = await self._get(session, access.team_id, product_id)
        _require_if_match(if_match, product)
        await ProductRepository(session).soft_delete(product)

    async def _get(
        self, session: AsyncSession, team_id: uuid.UUID, product_id: uuid.UUID
    ) -> Product:
        product = await ProductRepository(session).get_in_team(team_id, product_id)
        if product is None:
            raise ProductNotFoundError
        return product
