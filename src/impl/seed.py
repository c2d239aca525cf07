"""Demo data for a fresh development database, so `just serve` is usable straight away; and
the first platform admin of a real deployment, made by a command instead of a default login."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.accounts.errors import EmailTakenError, UsernameTakenError
from impl.accounts.repository import UserRepository
from impl.accounts.service import AccountService, normalise_email
from impl.auth.passwords import hash_password_async, verify_password_async
from impl.catalog.repository import ProductRepository
from impl.kit.db import unit_of_work
from impl.models import ProductStatus, Role
from impl.settings import Settings
from impl.teams.repository import TeamRepository

DEMO_EMAIL = "demo@storefront.example"
DEMO_USERNAME = "demo"
# Public on purpose: printed at start-up and documented in the README. Development only:
# `seed_demo` refuses any other environment.
DEMO_PASSWORD = "storefront-demo"  # noqa: S105 # nosemgrep: hardcoded-secret
DEMO_TEAM_NAME = "Demo Shop"
DEMO_PRODUCT_COUNT = 25

_ITEMS = ["Mug", "T-shirt", "Notebook", "Sticker pack", "Tote bag"]
_COLOURS = ["Red", "Blue", "Green", "Black", "White"]


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    email: str
    username: str
    password: str
    team_id: uuid.UUID


class NotDevelopmentError(Exception):
    """Demo and fake data, whose passwords are public, exist in development only."""

    def __init__(self, environment: str) -> None:
        super().__init__(
            f"ENVIRONMENT={environment}: no demo or fake data (their passwords are public). "
            "Create the first platform admin with `just create-admin EMAIL USERNAME`."
        )


def require_development(settings: Settings) -> None:
    """Raise `NotDevelopmentError` unless `settings` are a development environment's."""
    if settings.environment != "development":
        raise NotDevelopmentError(settings.environment)


async def seed_demo(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> DemoCredentials | None:
    """Create the demo user, team and products if the database has no users yet.

    Returns the credentials to print, or None when there was already someone (including
    when another process seeded concurrently: its insert wins on the unique email).
    Outside development it raises `NotDevelopmentError` and writes nothing.
    """
    require_development(settings)
    try:
        async with unit_of_work(sessionmaker) as session:
            users = UserRepository(session)
            if await users.any_exist():
                return None
            user = await users.create(
                email=DEMO_EMAIL,
                username=DEMO_USERNAME,
                password_hash=await hash_password_async(DEMO_PASSWORD),
            )
            # The demo account is also a platform admin, so the admin API can be tried too.
            await users.set_admin(user, is_admin=True)
            teams = TeamRepository(session)
            team = await teams.create(name=DEMO_TEAM_NAME)
            await teams.add_member(team_id=team.id, user_id=user.id, role=Role.OWNER)
            products = ProductRepository(session)
            for index in range(DEMO_PRODUCT_COUNT):
                await products.create(
                    team_id=team.id,
                    sku=f"DEMO-{index + 1:03d}",
                    name=f"{_COLOURS[index % 5]} {_ITEMS[index // 5 % 5]}",
                    description="Demo product",
                    price=Decimal(5 + index) + Decimal("0.99"),
                    currency="EUR",
                    status=_demo_status(index),
                )
    except (EmailTakenError, UsernameTakenError):
        return None
    return DemoCredentials(
        email=DEMO_EMAIL, username=DEMO_USERNAME, password=DEMO_PASSWORD, team_id=team.id
    )


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """What a development start says about the demo account: whether and how to sign in."""

    email: str
    # The published password, or None when the account's password is no longer it.
    password: str | None
    active: bool
    is_admin: bool
    # The demo team, while the demo account is still one of its members.
    team_id: uuid.UUID | None


async def find_demo_account(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> DemoAccount | None:
    """The demo account as it stands (None when this database has none).

    Development only, like the account itself: raises `NotDevelopmentError` otherwise.
    """
    require_development(settings)
    async with unit_of_work(sessionmaker) as session:
        user = await UserRepository(session).get_by_email(DEMO_EMAIL)
        if user is None:
            return None
        teams = await TeamRepository(session).list_for_member(user.id, limit=100)
        team_id = next((team.id for team, _ in teams if team.name == DEMO_TEAM_NAME), None)
        unchanged = await verify_password_async(user.password_hash, DEMO_PASSWORD)
        return DemoAccount(
            email=user.email,
            password=DEMO_PASSWORD if unchanged else None,
            active=user.is_active,
            is_admin=user.is_admin,
            team_id=team_id,
        )


def _demo_status(index: int) -> ProductStatus:
    if index % 10 == 8:
        return ProductStatus.DRAFT
    if index % 10 == 9:
        return ProductStatus.ARCHIVED
    return ProductStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class AdminAccount:
    user_id: uuid.UUID
    email: str
    created: bool


async def create_admin(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    email: str,
    username: str,
    password: str,
) -> AdminAccount:
    """Make `email` a platform admin: a new account with `password`, or, if the email is
    taken, that account promoted (its password left as it is)."""
    accounts = AccountService(settings)
    async with unit_of_work(sessionmaker) as session:
        users = UserRepository(session)
        try:
            user = await accounts.sign_up(
                session, email=email, username=username, password=password
            )
            created = True
        except EmailTakenError:
            found = await users.get_by_email(normalise_email(email))
            if found is None:  # deleted in between: let the operator run it again
                raise
            user, created = found, False
        await users.set_admin(user, is_admin=True)
        return AdminAccount(user_id=user.id, email=user.email, created=created)
