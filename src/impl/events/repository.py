from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from impl.kit.db import Unit
from impl.kit.query import Query
from impl.models import OutboxEvent, OutboxRelay

_events = cast(Table, OutboxEvent.__table__)
# Every column but `sequence`, which the database numbers. (Parameters are not named after
# columns: SQLAlchemy keeps those names for VALUES.)
_COLUMNS = tuple(c.name for c in _events.c if c.name != "sequence")
_INSERT = Query(
    insert(OutboxEvent).values(
        {name: bindparam(f"e_{name}", type_=_events.c[name].type) for name in _COLUMNS}
    )
)


class OutboxWriter:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert outbox rows (every column but `sequence` in each), in one round trip."""
        await _INSERT.execute_many(
            self.unit, [{f"e_{name}": row[name] for name in _COLUMNS} for row in rows]
        )


@dataclass(frozen=True, slots=True)
class Pending:
    """An event the relay has yet to hand on."""

    sequence: int
    type: str
    payload: dict[str, Any]


class OutboxRepository:
    """The relay's reads and writes of the log and of its lease."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def unpublished(self, *, limit: int) -> list[Pending]:
        """The oldest unpublished events, in log order, at most `limit`."""
        rows = await self.session.execute(
            select(OutboxEvent.sequence, OutboxEvent.type, OutboxEvent.payload)
            .where(OutboxEvent.published_at.is_(None))
            .order_by(OutboxEvent.sequence)
            .limit(limit)
        )
        return [Pending(sequence, type_, payload) for sequence, type_, payload in rows]

    async def mark_published(self, sequences: Sequence[int], *, at: datetime) -> None:
        if sequences:
            await self.session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.sequence.in_(sequences), OutboxEvent.published_at.is_(None))
                .values(published_at=at)
                .execution_options(synchronize_session=False)
            )

    async def take_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        """Hold (or renew) the lease `name` for `holder` until `until`, unless another holder
        has it and it has not expired at `now`. True if `holder` holds it now."""
        bind = self.session.get_bind()
        insert_ = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
        await self.session.execute(
            insert_(OutboxRelay)
            .values(name=name, holder=None, expires_at=None)
            .on_conflict_do_nothing()
        )
        result = await self.session.execute(
            update(OutboxRelay)
            .where(
                OutboxRelay.name == name,
                or_(
                    OutboxRelay.holder == holder,
                    OutboxRelay.holder.is_(None),
                    OutboxRelay.expires_at < now,
                ),
            )
            .values(holder=holder, expires_at=until)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release_lease(self, name: str, holder: str) -> None:
        await self.session.execute(
            update(OutboxRelay)
            .where(OutboxRelay.name == name, OutboxRelay.holder == holder)
            .values(holder=None, expires_at=None)
            .execution_options(synchronize_session=False)
        )
