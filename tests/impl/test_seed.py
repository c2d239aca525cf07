from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.accounts.service import AccountService
from impl.catalog.service import ProductService
from impl.kit.db import unit_of_work
from impl.seed import DEMO_PASSWORD, DEMO_PRODUCT_COUNT, seed_demo
from impl.settings import Settings
from impl.teams.service import TeamService


async def test_seeds_once(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    credentials = await seed_demo(sessionmaker)

    assert credentials is not None
    assert (credentials.email, credentials.password) == ("demo@storefront.example", DEMO_PASSWORD)
    assert DEMO_PASSWORD == "storefront-demo"
    async with unit_of_work(sessionmaker) as session:
        accounts = AccountService(settings)
        issued = await accounts.issue_tokens(
            session, email=credentials.email, password=credentials.password
        )
        principal = await accounts.authenticate(session, issued.access_token)
        teams = await TeamService(settings).list_teams(session, principal, limit=10, cursor=None)
        assert [(team.name, team.role) for team in teams.items] == [("Demo Shop", "owner")]
        products = await ProductService(settings).list_products(
            session, principal, team_id=credentials.team_id, limit=100, cursor=None, status=None
        )
        assert len(products.items) == DEMO_PRODUCT_COUNT
        assert {product.status for product in products.items} == {"draft", "active", "archived"}

    assert await seed_demo(sessionmaker) is None
