from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.accounts.service import AccountService
from impl.auth.repository import CallerRepository
from impl.auth.tokens import TokenService
from impl.catalog.service import ProductService
from impl.kit.db import unit_of_work
from impl.seed import DEMO_PASSWORD, DEMO_PRODUCT_COUNT, seed_demo
from impl.settings import Settings
from impl.teams.access import TeamAccess
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
        subject = TokenService(settings).decode_access_token(issued.access_token)
        found = await CallerRepository(session).load(subject.user_id, credentials.team_id)
        assert found is not None
        principal, role = found
        assert (principal.is_admin, role) == (True, "owner")
        assert role is not None
        teams = await TeamService(settings).list_teams(session, principal, limit=10, cursor=None)
        assert [(team.name, team.role) for team in teams.items] == [("Demo Shop", "owner")]
        access = TeamAccess(team_id=credentials.team_id, user_id=principal.user_id, role=role)
        products = await ProductService(settings).list_products(
            session, access, limit=100, cursor=None, status=None
        )
        assert len(products.items) == DEMO_PRODUCT_COUNT
        assert {product.status for product in products.items} == {"draft", "active", "archived"}

    assert await seed_demo(sessionmaker) is None
