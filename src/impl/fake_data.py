"""Realistic fake data for a development database, through the real services.

`python -m impl seed --teams N --products N --orders N` (`just seed`). Values come from Faker
through factory_boy factories, reseeded so that the same arguments give the same data. Rows
are written by the services a request would use (stock through the ledger, orders through
the order workflow), so every invariant and the audit trail hold as for real traffic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import factory
import factory.random
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.accounts.repository import UserRepository
from impl.auth.passwords import hash_password_async
from impl.catalog.repository import ProductRepository
from impl.catalog.service import ProductService
from impl.inventory.errors import InsufficientStockError
from impl.inventory.service import InventoryService
from impl.kit.db import Unit, Units
from impl.models import Product, ProductStatus, Role, User
from impl.orders.service import LineRequest, OrderService
from impl.settings import Settings
from impl.teams.access import TeamAccess
from impl.teams.repository import TeamRepository

# Public on purpose: every fake account signs in with it (printed by `just seed`).
FAKE_PASSWORD = "fake-password-1"  # noqa: S105 # nosemgrep: hardcoded-secret
_TAGS = ["new", "sale", "eco", "gift", "outdoor", "kitchen", "kids", "premium"]
# Fake data, not secrets: a seeded generator, so the same arguments give the same data.
_rng = random.Random(1)  # noqa: S311


class UserFactory(factory.DictFactory):  # type: ignore[misc]
    username = factory.Faker("user_name")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")


class TeamFactory(factory.DictFactory):  # type: ignore[misc]
    name = factory.Faker("company")


class ProductFactory(factory.DictFactory):  # type: ignore[misc]
    sku = "FAKE-00000"
    name = factory.Faker("catch_phrase")
    description = factory.Faker("sentence", nb_words=10)
    price = factory.Faker(
        "pydecimal", left_digits=3, right_digits=2, positive=True, min_value=1, max_value=500
    )
    currency = "EUR"
    status = factory.Iterator(
        [ProductStatus.ACTIVE] * 8 + [ProductStatus.DRAFT, ProductStatus.ARCHIVED]
    )
    tags = factory.LazyFunction(lambda: _rng.sample(_TAGS, k=_rng.randint(0, 3)))


class CustomerFactory(factory.DictFactory):  # type: ignore[misc]
    email = factory.Faker("email")


@dataclass(frozen=True, slots=True)
class FakeCounts:
    users: int
    teams: int
    products: int
    orders: int


async def seed_fake(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    teams: int,
    products: int,
    orders: int,
    seed: int = 1,
) -> FakeCounts:
    """Add `teams` teams (each with an owner and two members), `products` stocked products
    and about `orders` orders per team, in one transaction."""
    factory.random.reseed_random(seed)
    _rng.seed(seed)
    catalog, inventory, sales = (
        ProductService(settings),
        InventoryService(settings),
        OrderService(settings),
    )
    password_hash = await hash_password_async(FAKE_PASSWORD)
    made = FakeCounts(0, 0, 0, 0)
    async with Units(sessionmaker).open(read_only=False) as unit:
        session = unit.session
        users = UserRepository(session)
        # Numbered after what is there, so a second run adds rather than collides.
        next_user, next_sku = await users.count(), await ProductRepository(session).count()
        for _ in range(teams):
            people = []
            for _ in range(3):
                fields = UserFactory(username=f"fake{next_user:05d}")
                people.append(await users.create(password_hash=password_hash, **fields))
                next_user += 1
            access = await _team(session, people)
            stocked = []
            for _ in range(products):
                fields = ProductFactory(sku=f"FAKE-{next_sku:05d}")
                stocked.append(await _product(unit, catalog, inventory, access, fields))
                next_sku += 1
            on_sale = [p for p in stocked if p.status == ProductStatus.ACTIVE]
            placed = 0
            for _ in range(orders if on_sale else 0):
                picks = _rng.sample(on_sale, k=min(len(on_sale), _rng.randint(1, 3)))
                lines = [LineRequest(p.id, _rng.randint(1, 3)) for p in picks]
                try:
                    await sales.create_order(
                        unit,
                        access,
                        idempotency_key=f"seed-{_rng.getrandbits(64):x}",
                        customer_email=CustomerFactory()["email"],
                        lines=lines,
                    )
                    placed += 1
                except InsufficientStockError:
                    continue  # sold out: a real shop turns such orders away too
            made = FakeCounts(
                made.users + len(people),
                made.teams + 1,
                made.products + len(stocked),
                made.orders + placed,
            )
    return made


async def _team(session: AsyncSession, people: list[User]) -> TeamAccess:
    teams = TeamRepository(session)
    team = await teams.create(**TeamFactory())
    for person, role in zip(people, (Role.OWNER, Role.ADMIN, Role.MEMBER), strict=True):
        await teams.add_member(team_id=team.id, user_id=person.id, role=role)
    return TeamAccess(team_id=team.id, user_id=people[0].id, role=Role.OWNER)


async def _product(
    unit: Unit,
    catalog: ProductService,
    inventory: InventoryService,
    access: TeamAccess,
    fields: dict[str, Any],
) -> Product:
    fields["price"] = Decimal(fields["price"]).quantize(Decimal("0.01"))
    product = await catalog.create_product(unit.session, access, **fields)
    await inventory.adjust_stock(
        unit, access, product_id=product.id, delta=_rng.randint(5, 50), reason="receive"
    )
    return product
