"""Reset, migrate and seed the benchmark database; write what the load generator needs.

A team owned by one user, `--products` active products with ample stock (recorded through
the inventory ledger, as the API would), and a long-lived access token for that user. The
schema is dropped first, so every `just bench` run starts from the same data, analysed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from impl.accounts.repository import SignInRepository, UserRepository
from impl.auth.passwords import hash_password_async
from impl.auth.tokens import TokenService
from impl.catalog.repository import ProductRepository
from impl.inventory.service import Inventory, Movement
from impl.kit.clock import utcnow
from impl.kit.db import Units, create_engine, create_sessionmaker
from impl.kit.migrate import ensure_database, migrate
from impl.models import ProductStatus, Role, StockReason
from impl.settings import Settings
from impl.teams.access import TeamAccess
from impl.teams.repository import TeamRepository

STOCK_PER_PRODUCT = 1_000_000
TOKEN_TTL_SECONDS = 6 * 3600


async def setup(database_url: str, products: int) -> dict[str, object]:
    settings = Settings(database_url=database_url, access_token_ttl_seconds=TOKEN_TTL_SECONDS)
    await ensure_database(settings.database_url)  # a fresh machine has only `test`
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await migrate(settings.database_url)
        async with Units(create_sessionmaker(engine)).open(read_only=False) as unit:
            session = unit.session
            user = await UserRepository(session).create(
                email="bench@storefront.example",
                username="bench",
                password_hash=await hash_password_async("bench-password-not-secret"),
            )
            sign_in_id = await SignInRepository(session).create(
                user_id=user.id, expires_at=utcnow() + timedelta(seconds=TOKEN_TTL_SECONDS)
            )
            teams = TeamRepository(session)
            team = await teams.create(name="Bench Shop")
            await teams.add_member(team_id=team.id, user_id=user.id, role=Role.OWNER)
            repository = ProductRepository(session)
            product_ids = []
            for index in range(products):
                product = await repository.create(
                    team_id=team.id,
                    sku=f"BENCH-{index:05d}",
                    name=f"Bench product {index}",
                    description="A product for the benchmark",
                    price=Decimal(10 + index % 90) + Decimal("0.50"),
                    currency="EUR",
                    status=ProductStatus.ACTIVE,
                )
                product_ids.append(product.id)
            access = TeamAccess(team_id=team.id, user_id=user.id, role=Role.OWNER)
            await Inventory(unit).move(
                access,
                [Movement(product_id, STOCK_PER_PRODUCT) for product_id in product_ids],
                reason=StockReason.RECEIVE,
            )
        # Planner statistics, as autovacuum would gather them on a live database (it may be
        # off: it is on this machine's PostgreSQL). Without them list products scans badly.
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
        token, _ = TokenService(settings).issue_access_token(user.id, sign_in_id)
    finally:
        await engine.dispose()
    return {
        "token": token,
        "team_id": str(team.id),
        "product_ids": [str(product_id) for product_id in product_ids],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("build/bench/data.json"))
    args = parser.parse_args()
    data = asyncio.run(setup(args.database_url, args.products))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data))


if __name__ == "__main__":
    main()
