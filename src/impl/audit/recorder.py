"""Every change to an audited row becomes an AuditEvent, in the same transaction, and each
change of a team's domain (team, membership, product, stock movement, order) its domain
event too: a row of the outbox (`impl.events.outbox`), written with the audit event.

Recorded from the ORM's flush, not by each service: a new service or field cannot forget to
audit. What a request changes is attributed to the request's caller and operation (set by
the request context); changes made outside a request (the seed) have no actor.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from impl.audit.repository import AuditWriter
from impl.events import outbox
from impl.events.repository import OutboxWriter
from impl.kit.clock import utcnow
from impl.kit.db import UNIT, Unit
from impl.kit.ids import new_id
from impl.models import (
    AuditEvent,
    Membership,
    Order,
    OutboxEvent,
    Product,
    StockMovement,
    Team,
    User,
    UserPreferences,
)


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: uuid.UUID | None
    action: str
    request_id: str | None


_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)

SYSTEM = Actor(user_id=None, action="system", request_id=None)

# Entity name per audited class, and fields whose values never enter the trail.
AUDITED: dict[type[Any], str] = {
    Team: "team",
    Membership: "membership",
    Product: "product",
    StockMovement: "stock_movement",
    Order: "order",
    User: "user",
    UserPreferences: "preferences",
}
REDACTED = frozenset({"password_hash"})
# Bookkeeping that changes with every write and says nothing on its own.
IGNORED = frozenset({"version", "updated_at", "created_at"})
_PENDING = "audit_pending"
_OUTBOX = "audit_outbox_pending"
_WAKES = "audit_wakes_relays"


def set_actor(actor: Actor) -> contextvars.Token[Actor | None]:
    """Attribute the changes of the current task (a request) to `actor`."""
    return _actor.set(actor)


def reset_actor(token: contextvars.Token[Actor | None]) -> None:
    _actor.reset(token)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    # JSON columns (product tags, notification settings) stay JSON, not their Python repr.
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    return str(value)


def _value(name: str, value: Any) -> Any:
    return "[redacted]" if name in REDACTED else _json(value)


def _team_id(entity: Any) -> uuid.UUID | None:
    if isinstance(entity, Team):
        return entity.id
    team_id = getattr(entity, "team_id", None)
    return team_id if isinstance(team_id, uuid.UUID) else None


def _entity_id(entity: Any) -> str:
    # Read from the attributes: a row inserted by this flush has no identity key yet.
    return "/".join(str(part) for part in inspect(entity).mapper.primary_key_from_instance(entity))


def _changes(entity: Any, kind: str) -> dict[str, Any]:
    state = inspect(entity)
    found: dict[str, Any] = {}
    for attribute in state.mapper.column_attrs:
        name = attribute.key
        if name in IGNORED:
            continue
        history = state.attrs[name].history
        if kind == "created":
            found[name] = {"after": _value(name, getattr(entity, name))}
        elif kind == "deleted":
            found[name] = {"before": _value(name, getattr(entity, name))}
        elif history.has_changes():
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if before != after:
                found[name] = {"before": _value(name, before), "after": _value(name, after)}
    return found


def _state(entity: Any) -> dict[str, Any]:
    return {a.key: getattr(entity, a.key) for a in inspect(entity).mapper.column_attrs}


def _collect(session: Session, flush_context: UOWTransaction) -> None:
    actor = _actor.get() or SYSTEM
    events = session.info.setdefault(_PENDING, [])
    now = utcnow()
    for kind, entities in (
        ("created", session.new),
        ("updated", session.dirty),
        ("deleted", session.deleted),
    ):
        for entity in entities:
            entity_type = AUDITED.get(type(entity))
            if entity_type is None:
                continue
            changes = _changes(entity, kind)
            if kind == "updated" and not changes:
                continue
            events.append(
                AuditEvent(
                    team_id=_team_id(entity),
                    actor_id=actor.user_id,
                    action=actor.action,
                    entity_type=entity_type,
                    entity_id=_entity_id(entity),
                    change=kind,
                    changes=changes,
                    request_id=actor.request_id,
                    created_at=now,
                )
            )
            if not outbox.emits(entity_type):
                continue
            emitted = outbox.event_for(entity_type, kind, _state(entity), changes)
            if emitted is not None:
                row = outbox.outbox_row(emitted, actor_id=actor.user_id, now=now)
                events.append(OutboxEvent(**row))


def _queue(session: Session, flush_context: UOWTransaction) -> None:
    # Events are collected while the flush's history is still there, and queued after it:
    # the commit (or the next flush) writes them.
    events: list[AuditEvent | OutboxEvent] = session.info.pop(_PENDING, [])
    session.add_all(events)
    unit = session.info.get(UNIT)
    if isinstance(unit, Unit) and any(isinstance(e, OutboxEvent) for e in events):
        wake_relays(unit)


def wake_relays(unit: Unit) -> None:
    """Once `unit` commits, wake this process's outbox relays (once per unit)."""
    if unit.commits and not unit.info.get(_WAKES):
        unit.info[_WAKES] = True
        unit.after_commit(_wake)


async def _wake() -> None:
    outbox.written()


@dataclass(frozen=True, slots=True)
class _Shape:
    """What an audit event of a created row takes from its class's mapping."""

    entity_type: str
    primary_key: tuple[str, ...]
    fields: tuple[str, ...]


_SHAPES: dict[type[Any], _Shape] = {}


def _shape(entity_type: type[Any]) -> _Shape:
    shape = _SHAPES.get(entity_type)
    if shape is None:
        mapper = inspect(entity_type)
        shape = _SHAPES[entity_type] = _Shape(
            AUDITED[entity_type],
            tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key),
            tuple(a.key for a in mapper.column_attrs if a.key not in IGNORED),
        )
    return shape


def created_event(entity_type: type[Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The audit event of a row of `entity_type` inserted without the ORM (every column's
    value in `row`), as the flush listener would have recorded it: same fields, same
    `changes`, attributed to the current actor."""
    actor = _actor.get() or SYSTEM
    shape = _shape(entity_type)
    team_id = row["id"] if entity_type is Team else row.get("team_id")
    return {
        "id": new_id(),
        "team_id": team_id if isinstance(team_id, uuid.UUID) else None,
        "actor_id": actor.user_id,
        "action": actor.action,
        "entity_type": shape.entity_type,
        "entity_id": "/".join(str(row[key]) for key in shape.primary_key),
        "change": "created",
        "changes": {name: {"after": _value(name, row[name])} for name in shape.fields},
        "request_id": actor.request_id,
        "created_at": utcnow(),
    }


def created_outbox(
    entity_type: type[Any], row: Mapping[str, Any], *, event_id: uuid.UUID | None = None
) -> dict[str, Any] | None:
    """The outbox row of the domain event of a row of `entity_type` inserted without the
    ORM (every column's value in `row`; a created order's `lines` too), if it has one, as
    the flush listener would have made it, attributed to the current actor."""
    emitted = outbox.event_for(_shape(entity_type).entity_type, "created", row, {})
    if emitted is None:
        return None
    actor = _actor.get() or SYSTEM
    return outbox.outbox_row(emitted, actor_id=actor.user_id, now=utcnow(), event_id=event_id)


def queue(
    unit: Unit,
    events: Sequence[Mapping[str, Any]],
    outbox_rows: Sequence[Mapping[str, Any] | None] = (),
) -> None:
    """Write events made by `created_event`, and outbox rows made by `created_outbox`, when
    the unit commits, all in one round trip each (as the ORM writes the events of its
    flushes with the commit)."""
    pending: list[Mapping[str, Any]] | None = unit.info.get(_PENDING)
    if pending is None:
        pending = unit.info[_PENDING] = []
        unit.before_commit(lambda: AuditWriter(unit).insert(pending))
    pending.extend(events)
    rows = [row for row in outbox_rows if row is not None]
    if not rows:
        return
    queued: list[Mapping[str, Any]] | None = unit.info.get(_OUTBOX)
    if queued is None:
        queued = unit.info[_OUTBOX] = []
        unit.before_commit(lambda: OutboxWriter(unit).insert(queued))
    queued.extend(rows)
    wake_relays(unit)


def install() -> None:
    """Listen on every ORM session; idempotent."""
    if not event.contains(Session, "after_flush", _collect):
        event.listen(Session, "after_flush", _collect)
        event.listen(Session, "after_flush_postexec", _queue)
