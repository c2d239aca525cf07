from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from impl.auth.principal import Principal, TokenSubject
from impl.auth.repository import CallerRepository, caller_and
from impl.kit.db import Unit
from impl.models import Product, Role
from tests.factories import add_member, create_product, create_sign_in, create_team, create_user


class TestLoad:
    async def test_active_user_without_team(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session, is_admin=True)
        found = await CallerRepository(unit).load(await create_sign_in(session, user=user), None)
        assert found == (Principal(user_id=user.id, email=user.email, is_admin=True), None)

    async def test_deactivated_or_unknown_user(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session, is_active=False)
        assert (
            await CallerRepository(unit).load(await create_sign_in(session, user=user), None)
            is None
        )
        assert (
            await CallerRepository(unit).load(
                TokenSubject(user_id=uuid.uuid4(), sign_in_id=uuid.uuid4()), None
            )
            is None
        )

    async def test_role_in_team(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=await create_user(session))
        await add_member(session, team=team, user=user, role=Role.VIEWER)
        found = await CallerRepository(unit).load(await create_sign_in(session, user=user), team.id)
        assert found is not None
        assert found[1] == "viewer"

    async def test_not_a_member_or_deleted_team(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session)
        other = await create_team(session, owner=await create_user(session))
        deleted = await create_team(session, owner=user)
        deleted.deleted_at = datetime.now(UTC)
        await session.flush()
        for team_id in (other.id, deleted.id, uuid.uuid4()):
            found = await CallerRepository(unit).load(
                await create_sign_in(session, user=user), team_id
            )
            assert found is not None
            assert found[1] is None


_PRODUCTS = caller_and(
    select(Product.__table__.c.sku)
    .where(Product.__table__.c.team_id == bindparam("team_id", type_=Product.team_id.type))
    .where(Product.__table__.c.price >= bindparam("at_least", type_=Product.price.type))
)


class TestLoadWith:
    async def test_the_caller_and_the_statements_rows_in_one_query(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=user)
        for sku, price in (("B", "5"), ("A", "9"), ("C", "1")):
            await create_product(session, team=team, sku=sku, price=Decimal(price))
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, await create_sign_in(session, user=user), team.id, {"at_least": Decimal(5)}
        )
        assert found is not None
        principal, role, rows = found
        assert (principal.user_id, role) == (user.id, "owner")
        # Subquery order is not kept: in no particular order.
        assert sorted(tuple(row) for row in rows) == [("A",), ("B",)]

    async def test_no_rows_is_an_empty_list_not_a_missing_caller(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=user)
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, await create_sign_in(session, user=user), team.id, {"at_least": Decimal(0)}
        )
        assert found is not None
        assert found[1:] == ("owner", [])

    async def test_a_deactivated_caller_gets_nothing(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user = await create_user(session, is_active=False)
        team = await create_team(session, owner=await create_user(session))
        await create_product(session, team=team)
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, await create_sign_in(session, user=user), team.id, {"at_least": Decimal(0)}
        )
        assert found is None

    async def test_rows_of_a_team_the_caller_is_not_in_come_with_no_role(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        # The context refuses such a caller before a handler sees the rows (test_products).
        user = await create_user(session)
        team = await create_team(session, owner=await create_user(session))
        await create_product(session, team=team, sku="X")
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, await create_sign_in(session, user=user), team.id, {"at_least": Decimal(0)}
        )
        assert found is not None
        assert found[1] is None


class TestSignIn:
    async def test_a_revoked_sign_in_is_no_caller(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=user)
        revoked = await create_sign_in(session, user=user, revoked_at=datetime.now(UTC))
        live = await create_sign_in(session, user=user)
        assert await CallerRepository(unit).load(revoked, team.id) is None
        assert await CallerRepository(unit).load(live, team.id) is not None
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, revoked, team.id, {"at_least": Decimal(0)}
        )
        assert found is None

    async def test_a_sign_in_vouches_for_its_own_account_only(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user, other = await create_user(session), await create_user(session)
        theirs = await create_sign_in(session, user=other)
        forged = TokenSubject(user_id=user.id, sign_in_id=theirs.sign_in_id)
        assert await CallerRepository(unit).load(forged, None) is None
