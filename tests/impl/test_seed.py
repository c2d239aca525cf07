from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.accounts.service import AccountService
from impl.auth.principal import TokenSubject
from impl.auth.repository import CallerRepository
from impl.auth.tokens import TokenService
from impl.catalog.service import ProductService
from impl.fake_data import seed_fake
from impl.kit.db import Unit, unit_of_work
from impl.models import Order, StockLevel, StockMovement
from impl.seed import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_PRODUCT_COUNT,
    NotDevelopmentError,
    find_demo_account,
    seed_demo,
)
from impl.settings import Settings
from impl.teams.access import TeamAccess
from impl.teams.service import TeamService


async def test_seeds_once(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    credentials = await seed_demo(sessionmaker, settings)

    assert credentials is not None
    assert (credentials.email, credentials.password) == ("demo@storefront.example", DEMO_PASSWORD)
    assert DEMO_PASSWORD == "storefront-demo"
    async with unit_of_work(sessionmaker) as session:
        accounts = AccountService(settings)
        issued = await accounts.issue_tokens(
            session, email=credentials.email, password=credentials.password
        )
        subject = TokenService(settings).decode_access_token(issued.access_token)
        found = await CallerRepository(await Unit.of_session(session)).load(
            TokenSubject(user_id=subject.user_id, sign_in_id=subject.sign_in_id),
            credentials.team_id,
        )
        assert found is not None
        principal, role = found
        assert (principal.is_admin, role) == (True, "owner")
        assert role is not None
        teams = await TeamService(settings).list_teams(session, principal, limit=10, cursor=None)
        assert [(team.name, team.role) for team in teams.items] == [("Demo Shop", "owner")]
        access = TeamAccess(team_id=credentials.team_id, user_id=principal.user_id, role=role)
        products = await ProductService(settings).list_products(
            await Unit.of_session(session), access, limit=100, cursor=None, status=None
        )
        assert len(products.items) == DEMO_PRODUCT_COUNT
        assert {product.status for product in products.items} == {"draft", "active", "archived"}

    assert await seed_demo(sessionmaker, settings) is None


async def test_the_demo_account_as_a_start_finds_it(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    assert await find_demo_account(sessionmaker, settings) is None
    credentials = await seed_demo(sessionmaker, settings)
    assert credentials is not None

    found = await find_demo_account(sessionmaker, settings)

    assert found is not None
    assert (found.email, found.password, found.team_id) == (
        DEMO_EMAIL,
        DEMO_PASSWORD,
        credentials.team_id,
    )
    assert (found.active, found.is_admin) == (True, True)
    production = settings.model_copy(update={"environment": "production"})
    with pytest.raises(NotDevelopmentError):
        await find_demo_account(sessionmaker, production)


async def test_fake_data_keeps_every_invariant(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    made = await seed_fake(sessionmaker, settings, teams=2, products=6, orders=8, seed=7)

    assert (made.users, made.teams, made.products) == (6, 2, 12)
    assert 0 < made.orders <= 16
    async with unit_of_work(sessionmaker) as session:
        levels = {row.product_id: row.on_hand for row in await session.scalars(select(StockLevel))}
        sums = select(StockMovement.product_id, func.sum(StockMovement.delta)).group_by(
            StockMovement.product_id
        )
        ledger = {row.product_id: row[1] for row in await session.execute(sums)}
        orders = await session.scalar(select(func.count()).select_from(Order))
    assert levels == ledger
    assert orders == made.orders

    # The same arguments on a database that already has them add more, without collisions.
    again = await seed_fake(sessionmaker, settings, teams=1, products=2, orders=1, seed=7)
    assert again.teams == 1
