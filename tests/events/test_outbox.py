"""Outbox rows are written in the transaction of their change, through the ORM's flushes
and through the statements that write without the ORM alike."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.audit import recorder
from impl.catalog.service import ProductService
from impl.inventory.service import InventoryService
from impl.kit.db import Units
from impl.models import OutboxEvent
from impl.settings import Settings
from impl.teams.access import TeamAccess
from impl.teams.service import TeamService
from tests.factories import create_user, principal_for


class _Failed(Exception):
    """What a request raises after its changes were made."""


async def _changes(settings: Settings, units: Units, *, fail: bool) -> None:
    async with units.open(read_only=False) as unit:
        user = await create_user(unit.session)
        team = await TeamService(settings).create_team(
            unit.session, principal_for(user), name="Shop"
        )
        access = TeamAccess(team_id=team.id, user_id=user.id, role="owner")
        product = await ProductService(settings).create_product(
            unit.session, access, sku="S-1", name="Mug", price=Decimal(1), currency="EUR"
        )
        # Written without the ORM: its event is queued for the commit.
        await InventoryService(settings).adjust_stock(
            unit, access, product_id=product.id, delta=3, reason="receive"
        )
        if fail:
            raise _Failed


async def _types(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        return list(
            (await session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.sequence))).all()
        )


async def test_a_rolled_back_unit_writes_no_event(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    recorder.install()
    units = Units(sessionmaker)
    with pytest.raises(_Failed):
        await _changes(settings, units, fail=True)
    assert await _types(sessionmaker) == []

    await _changes(settings, units, fail=False)
    assert await _types(sessionmaker) == [
        "team.created",
        "membership.added",
        "product.created",
        "stock.moved",
    ]
