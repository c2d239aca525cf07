"""Async factories: keyword-only arguments, defaults that make a valid row, flush not commit."""

from __future__ import annotations

import functools
import itertools
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from impl.auth.passwords import hash_password, hash_password_async
from impl.auth.principal import Principal, TokenSubject
from impl.kit.clock import utcnow
from impl.kit.ids import new_id
from impl.models import (
    DeadLetter,
    IdempotencyKey,
    Membership,
    Product,
    ProductStatus,
    RefreshToken,
    Role,
    SignIn,
    StockLevel,
    Team,
    User,
)
from impl.teams.access import TeamAccess

DEFAULT_PASSWORD = "correct horse battery staple"

_sequence = itertools.count(1)


@functools.cache
def _default_password_hash() -> str:
    # argon2 is slow on purpose; hash the common password once per test session.
    return hash_password(DEFAULT_PASSWORD)


async def create_user(
    session: AsyncSession,
    *,
    email: str | None = None,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    is_active: bool = True,
    is_admin: bool = False,
) -> User:
    n = next(_sequence)
    password_hash = (
        _default_password_hash()
        if password == DEFAULT_PASSWORD
        else await hash_password_async(password)
    )
    user = User(
        email=email or f"user{n}@example.com",
        username=username or f"user{n}",
        password_hash=password_hash,
        is_active=is_active,
        is_admin=is_admin,
    )
    session.add(user)
    await session.flush()
    return user


def principal_for(user: User) -> Principal:
    return Principal(user_id=user.id, email=user.email, is_admin=user.is_admin)


def access_for(user: User, team: Team, role: str = Role.OWNER) -> TeamAccess:
    """What the request context hands a team-scoped service after checking the membership."""
    return TeamAccess(team_id=team.id, user_id=user.id, role=role)


async def create_team(
    session: AsyncSession,
    *,
    owner: User | None = None,
    name: str | None = None,
    created_at: datetime | None = None,
) -> Team:
    now = created_at or utcnow()
    team = Team(name=name or f"Team {next(_sequence)}", created_at=now, updated_at=now)
    session.add(team)
    await session.flush()
    if owner is not None:
        await add_member(session, team=team, user=owner, role=Role.OWNER)
    return team


async def add_member(
    session: AsyncSession, *, team: Team, user: User, role: str = Role.MEMBER
) -> Membership:
    membership = Membership(team_id=team.id, user_id=user.id, role=role)
    session.add(membership)
    await session.flush()
    return membership


async def create_product(
    session: AsyncSession,
    *,
    team: Team,
    sku: str | None = None,
    name: str = "Widget",
    description: str | None = None,
    price: Decimal = Decimal("9.99"),
    currency: str = "EUR",
    status: str = ProductStatus.ACTIVE,
    created_at: datetime | None = None,
) -> Product:
    now = created_at or utcnow()
    product = Product(
        team_id=team.id,
        sku=sku or f"SKU-{next(_sequence):05d}",
        name=name,
        description=description,
        price=price,
        currency=currency,
        status=status,
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    await session.flush()
    session.add(StockLevel(product_id=product.id, team_id=team.id, on_hand=0, version=1))
    await session.flush()
    return product


async def create_idempotency_key(
    session: AsyncSession, *, team: Team, created_at: datetime, key: str | None = None
) -> IdempotencyKey:
    row = IdempotencyKey(
        team_id=team.id,
        operation="create_order",
        key=key or f"key-{next(_sequence)}",
        request_hash="0" * 64,
        created_at=created_at,
    )
    session.add(row)
    await session.flush()
    return row


async def create_sign_in(
    session: AsyncSession, *, user: User, revoked_at: datetime | None = None
) -> TokenSubject:
    """A sign-in of `user`: what an access token of theirs names."""
    sign_in = SignIn(
        id=new_id(),
        user_id=user.id,
        expires_at=utcnow() + timedelta(days=1),
        revoked_at=revoked_at,
    )
    session.add(sign_in)
    await session.flush()
    return TokenSubject(user_id=user.id, sign_in_id=sign_in.id)


async def create_refresh_token(
    session: AsyncSession,
    *,
    user: User,
    expires_at: datetime,
    revoked_at: datetime | None = None,
) -> RefreshToken:
    token = RefreshToken(
        user_id=user.id,
        family_id=new_id(),
        token_hash=f"{next(_sequence):064d}",
        expires_at=expires_at,
        revoked_at=revoked_at,
    )
    session.add(token)
    await session.flush()
    return token


async def create_dead_letter(
    session: AsyncSession,
    *,
    task: str = "housekeeping",
    kwargs: dict[str, Any] | None = None,
    failed_at: datetime | None = None,
    retried: bool = False,
) -> DeadLetter:
    """A job that failed every attempt, as a worker files it (`impl.jobs.dead_letters`)."""
    failed_at = failed_at or utcnow()
    row = DeadLetter(
        job_id=uuid.uuid4().hex,
        task=task,
        args=[],
        kwargs=kwargs or {},
        attempts=5,
        error="RuntimeError: always fails",
        failed_at=failed_at,
        retried_at=failed_at if retried else None,
        retry_job_id=uuid.uuid4().hex if retried else None,
    )
    session.add(row)
    await session.flush()
    return row
