from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from impl.catalog.service import ProductService, product_etag
from impl.kit.db import Unit
from impl.kit.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    UnprocessableContent,
)
from impl.models import Product, Role, Team, User
from impl.settings import Settings
from impl.teams.access import TeamAccess
from tests.factories import access_for, add_member, create_product, create_team, create_user


@pytest.fixture
def service(settings: Settings) -> ProductService:
    return ProductService(settings)


@pytest.fixture
async def owner(session: AsyncSession) -> User:
    return await create_user(session)


@pytest.fixture
async def team(session: AsyncSession, owner: User) -> Team:
    return await create_team(session, owner=owner)


async def _member(session: AsyncSession, team: Team, role: Role) -> TeamAccess:
    user = await create_user(session)
    await add_member(session, team=team, user=user, role=role)
    return access_for(user, team, role)


async def _create(
    service: ProductService,
    session: AsyncSession,
    access: TeamAccess,
    **overrides: object,
) -> Product:
    fields: dict[str, object] = {
        "sku": "MUG-1",
        "name": "Mug",
        "description": "A mug",
        "price": Decimal("12.50"),
        "currency": "EUR",
        "status": "active",
    }
    fields.update(overrides)
    return await service.create_product(session, access, **fields)  # type: ignore[arg-type]


class TestCreateProduct:
    @pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
    async def test_valid(
        self, session: AsyncSession, service: ProductService, team: Team, role: Role
    ) -> None:
        product = await _create(service, session, await _member(session, team, role))
        assert (product.sku, product.name, product.price, product.currency) == (
            "MUG-1",
            "Mug",
            Decimal("12.50"),
            "EUR",
        )
        assert product.version == 1
        assert product.team_id == team.id
        assert product_etag(product) == f'"{product.id}-v1"'

    @pytest.mark.parametrize(
        ("price", "expected"),
        [("12.5", "12.50"), (7, "7.00"), ("-0", "0.00"), (Decimal("999999999999.99"), None)],
    )
    async def test_price_normalised(
        self,
        session: AsyncSession,
        unit: Unit,
        service: ProductService,
        team: Team,
        owner: User,
        price: object,
        expected: str | None,
    ) -> None:
        product = await _create(service, session, access_for(owner, team), price=price)
        assert str(product.price) == (expected or str(price))
        session.expunge_all()
        reloaded = await service.get_product(unit, access_for(owner, team), product_id=product.id)
        assert reloaded.price == product.price

    async def test_duplicate_sku(
        self, session: AsyncSession, service: ProductService, team: Team, owner: User
    ) -> None:
        await _create(service, session, access_for(owner, team))
        with pytest.raises(Conflict, match="SKU"):
            await _create(service, session, access_for(owner, team), name="Other")

    async def test_same_sku_in_another_team(
        self, session: AsyncSession, service: ProductService, team: Team, owner: User
    ) -> None:
        other = await create_team(session, owner=owner)
        await _create(service, session, access_for(owner, team))
        product = await _create(service, session, access_for(owner, other))
        assert product.team_id == other.id

    async def test_sku_free_again_after_delete(
        self, session: AsyncSession, service: ProductService, team: Team, owner: User
    ) -> None:
        first = await _create(service, session, access_for(owner, team))
        await service.delete_product(
            session,
            access_for(owner, team),
            product_id=first.id,
            if_match=product_etag(first),
        )
        second = await _create(service, session, access_for(owner, team))
        assert second.id != first.id

    @pytest.mark.parametrize(
        "overrides",
        [
            {"price": Decimal("-0.01")},
            {"price": Decimal("1.234")},
            {"price": Decimal("NaN")},
            {"price": Decimal("1e12")},
            {"currency": "eur"},
            {"currency": "EURO"},
            {"status": "published"},
            {"sku": ""},
            {"sku": "x" * 65},
            {"name": "  "},
            {"name": "nul\x00"},
            {"description": "lone \ud800"},
        ],
        ids=repr,
    )
    async def test_invalid(
        self,
        session: AsyncSession,
        service: ProductService,
        team: Team,
        owner: User,
        overrides: dict[str, object],
    ) -> None:
        with pytest.raises(UnprocessableContent):
            await _create(service, session, access_for(owner, team), **overrides)


class TestListProducts:
    async def test_pages_without_duplicates_or_gaps(
        self, session: AsyncSession, unit: Unit, service: ProductService, team: Team
    ) -> None:
        viewer = await _member(session, team, Role.VIEWER)
        # Ties on created_at exercise the id tie-breaker.
        tie = datetime(2025, 1, 1, tzinfo=UTC)
        products = [await create_product(session, team=team, created_at=tie) for _ in range(7)]
        products += [await create_product(session, team=team) for _ in range(16)]
        await create_product(session, team=await create_team(session))  # another team's
        expected = [p.id for p in sorted(products, key=lambda p: (p.created_at, p.id))]

        seen: list[uuid.UUID] = []
        cursor = None
        pages = 0
        while True:
            page = await service.list_products(unit, viewer, limit=5, cursor=cursor, status=None)
            pages += 1
            assert len(page.items) <= 5
            seen += [product.id for product in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
            assert pages < 10

        assert pages == 5
        assert seen == expected

    async def test_exact_multiple_has_no_empty_last_page(
        self,
        session: AsyncSession,
        unit: Unit,
        service: ProductService,
        team: Team,
        owner: User,
    ) -> None:
        for _ in range(4):
            await create_product(session, team=team)
        first = await service.list_products(
            unit, access_for(owner, team), limit=2, cursor=None, status=None
        )
        second = await service.list_products(
            unit,
            access_for(owner, team),
            limit=2,
            cursor=first.next_cursor,
            status=None,
        )
        assert len(second.items) == 2
        assert second.next_cursor is None

    async def test_status_filter(
        self,
        session: AsyncSession,
        unit: Unit,
        service: ProductService,
        team: Team,
        owner: User,
    ) -> None:
        draft = await create_product(session, team=team, status="draft")
        await create_product(session, team=team, status="active")
        page = await service.list_products(
            unit, access_for(owner, team), limit=10, cursor=None, status="draft"
        )
        assert [product.id for product in page.items] == [draft.id]

    async def test_deleted_are_hidden(
        self,
        session: AsyncSession,
        unit: Unit,
        service: ProductService,
        team: Team,
        owner: User,
    ) -> None:
        product = await create_product(session, team=team)
        product.deleted_at = datetime.now(UTC)
        await session.flush()
        page = await service.list_products(
            unit, access_for(owner, team), limit=10, cursor=None, status=None
        )
        assert page.items == []

    @pytest.mark.parametrize("cursor", ["garbage", "e30.AAAAAAAAAAAAAAAAAAAAAA"])
    async def test_bad_cursor(
        self,
        unit: Unit,
        service: ProductService,
        team: Team,
        owner: User,
        cursor: str,
    ) -> None:
        with pytest.raises(BadRequest, match="Invalid cursor"):
            await service.list_products(
                unit, access_for(owner, team), limit=10, cursor=cursor, status=None
            )

    async def test_cursor_from_another_secret(
        self,
        session: AsyncSession,
        unit: Unit,
        service: ProductService,
        team: Team,
        owner: User,
    ) -> None:
        for _ in range(3):
            await create_product(session, team=team)
        other = ProductService(Settings(cursor_secret="another-secret-" * 3))
        page = await other.list_products(
            unit, access_for(owner, team), limit=1, cursor=None, status=None
        )
        with pytest.raises(BadRequest, match="Invalid cursor"):
            await service.list_products(
                unit,
                access_for(owner, team),
                limit=1,
                cursor=page.next_cursor,
                status=None,
            )


class TestGetProduct:
    async def test_viewer(
        self, session: AsyncSession, unit: Unit, service: ProductService, team: Team
    ) -> None:
        product = await create_product(session, team=team)
        viewer = await _member(session, team, Role.VIEWER)
        found = await service.get_product(unit, viewer, product_id=product.id)
        assert found.id == product.id

    async def test_product_of_another_team(
        self, session: AsyncSession, unit: Unit, service: ProductService, team: Team, owner: User
    ) -> None:
        elsewhere = await create_product(session, team=await create_team(session))
        with pytest.raises(NotFound):
            await service.get_product(unit, access_for(owner, team), product_id=elsewhere.id)


class TestUpdateProduct:
    async def _update(
        self,
        service: ProductService,
        session: AsyncSession,
        access: TeamAccess,
        product: Product,
        if_match: str | None,
        **changes: object,
    ) -> Product:
        return await service.update_product(
            session,
            access,
            product_id=product.id,
            if_match=if_match,
            changes=changes or {"name": "Renamed"},
        )

    async def test_without_if_match(
        self, session: AsyncSession, service: ProductService, team: Team, owner: User
    ) -> None:
        product = await create_product(session, team=team)
        with pytest.raises(PreconditionRequired) as caught:
            await self._update(service, session, access_for(owner, team), product, None)
        assert caught.value.status == 428
        with pytest.raises(PreconditionRequired):
            await self._update(service, session, access_for(owner, team), product, "  ")

    async def test_stale_if_match(
        self, session: AsyncSession, service: ProductService, team: Team, owner: User
    ) -> None:
        product = await create_product(session, team=team)
        stale = product_etag(product)
        await self._update(service, session, access_for(owner, team), product, stale)
        with pytest.raises(PreconditionFailed) as caught:
            await self._update(service, session, access_for(owner, team), product, stale)
        assert caught.value.status == 412

    @pytest.mark.parametrize(
        "if_match",
        ["{etag}", "W/{etag}", '"nope", {etag}', "*"],
        ids=["strong", "weak", "list", "any"],
    )
    async def test_valid(
        self,
        session: AsyncSession,
        service: ProductService,
        team: Team,
        owner: User,
        if_match: str,
    ) -> None:
        product = await create_product(session, team=team, price=Decimal("1.00"))
        before = product.updated_at
        header = if_match.format(etag=product_etag(product))

        updated = await self._update(
            service,
            session,
            access_for(owner, team),
            product,
            header,
            name="Renamed",
            price=Decimal("2.50"),
            description=None,
        )

        assert (updated.name, updated.price, updated.description) == (
            "Renamed",
            Decimal("2.50"),
            None,
        )
        assert updated.version == 2
        assert product_etag(updated) == f'"{product.id}-v2"'
        assert updated.updated_at > before

    async def test_no_op_keeps_version(
        self, session: AsyncSession, service: ProductService, team: Team, owner: User
    ) -> None:
        product = await create_product(session, team=team, name="Same")
        updated = await self._update(
            service, session, access_for(owner, team), product, product_etag(product), name="Same"
        )
        assert updated.version == 1

    async def test_concurrent_writer_loses(
        self, session: AsyncSession, service: ProductService, team: Team, owner: User
    ) -> None:
        product = await create_product(session, team=team)
        etag = product_etag(product)
        # Another transaction committed version 2 after this one loaded version 1.
        await session.execute(
            update(Product)
            .where(Product.id == product.id)
            .values(version=2)
            .execution_options(synchronize_session=False)
        )
        with pytest.raises(PreconditionFailed) as caught:
            await self._update(service, session, access_for(owner, team), product, etag)
        # The If-Match check passed on the stale copy; the versioned UPDATE caught it.
        assert isinstance(caught.value.__cause__, StaleDataError)

    async def test_sku_taken(
        self, session: AsyncSession, service: ProductService, team: Team, owner: User
    ) -> None:
        await create_product(session, team=team, sku="TAKEN")
        product = await create_product(session, team=team)
        with pytest.raises(Conflict):
            await self._update(
                service,
                session,
                access_for(owner, team),
                product,
                product_etag(product),
                sku="TAKEN",
            )

    @pytest.mark.parametrize(
        "changes",
        [{"team_id": str(uuid.uuid4())}, {"name": None}, {"price": "abc"}],
        ids=["not-updatable", "null-name", "bad-price"],
    )
    async def test_invalid(
        self,
        session: AsyncSession,
        service: ProductService,
        team: Team,
        owner: User,
        changes: dict[str, object],
    ) -> None:
        product = await create_product(session, team=team)
        with pytest.raises(UnprocessableContent):
            await self._update(
                service, session, access_for(owner, team), product, product_etag(product), **changes
            )


class TestDeleteProduct:
    async def test_soft_delete_then_not_found(
        self, session: AsyncSession, unit: Unit, service: ProductService, team: Team, owner: User
    ) -> None:
        product = await create_product(session, team=team)
        principal = await _member(session, team, Role.MEMBER)

        await service.delete_product(
            session,
            principal,
            product_id=product.id,
            if_match=product_etag(product),
        )

        assert product.deleted_at is not None
        with pytest.raises(NotFound):
            await service.get_product(unit, principal, product_id=product.id)
        with pytest.raises(NotFound):
            await service.delete_product(session, principal, product_id=product.id, if_match="*")

    async def test_preconditions(
        self, session: AsyncSession, service: ProductService, team: Team, owner: User
    ) -> None:
        product = await create_product(session, team=team)
        principal = access_for(owner, team)
        with pytest.raises(PreconditionRequired):
            await service.delete_product(session, principal, product_id=product.id, if_match=None)
        with pytest.raises(PreconditionFailed):
            await service.delete_product(
                session, principal, product_id=product.id, if_match='"old-v0"'
            )
        assert product.deleted_at is None
