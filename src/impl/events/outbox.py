"""Domain events from changes: what the audit recorder hands over, as outbox rows.

`impl.audit.recorder` sees every change to a team, membership, product, stock movement and
order, in the transaction that makes it (from the ORM's flushes, and from the statements
that write without the ORM). For each it calls `event_for`, and writes the row it returns
with the change's audit event: a rolled-back change writes neither. Services do not emit
events themselves, so a new code path cannot forget one.

Each row's `payload` is a CloudEvents 1.0 envelope in the JSON format (structured mode),
made with the `cloudevents` SDK, which checks its attributes:

    {"specversion": "1.0", "id": "<outbox id>", "source": "/teams/<team id>",
     "type": "com.storefront.order.created", "subject": "orders/<order id>",
     "time": "2026-12-08T10:00:00.123456Z", "datacontenttype": "application/json",
     "dataschema": "https://storefront.example/schemas/events/order.created/1.0",
     "actorid": "<user id>", "data": {...}}

`actorid` (an extension attribute) names the user whose request made the change; it is
absent for changes made outside a request (the seed).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from impl.events.catalogue import EVENT_TYPES, EventType
from impl.kit.clock import utcnow
from impl.kit.ids import new_id

CONTENT_TYPE = "application/json"
# Every row a change may bring: the outbox row's columns (all but `sequence`).
Row = dict[str, Any]
Changes = Mapping[str, Mapping[str, Any]]


def json_value(value: Any) -> Any:
    """The JSON form of a column value in an event's data: ids and amounts as strings
    (amounts as the API writes them, `"129.00"`), times in RFC 3339 UTC with `Z`."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return str(value)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(event: CloudEvent) -> dict[str, Any]:
    """The event in the CloudEvents JSON format, as a JSON object: what the SDK's
    `JSONFormat.write` writes (`tests/events` checks they agree), without the round trip
    through text."""
    attributes = dict(event.get_attributes())
    attributes["time"] = rfc3339(attributes["time"])
    return {**attributes, "data": event.get_data()}


@dataclass(frozen=True, slots=True)
class Emitted:
    """An event a change makes, before it has an id and a time."""

    event_type: EventType
    team_id: uuid.UUID
    aggregate_id: str
    subject: str
    data: dict[str, Any]


def outbox_row(
    emitted: Emitted,
    *,
    actor_id: uuid.UUID | None,
    now: datetime,
    event_id: uuid.UUID | None = None,
) -> Row:
    """The outbox row of `emitted`: every column but `sequence`, its envelope in `payload`."""
    event_id = event_id or new_id()
    kind = emitted.event_type
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(event_id),
        "source": f"/teams/{emitted.team_id}",
        "type": kind.type,
        "subject": emitted.subject,
        "time": now,
        "datacontenttype": CONTENT_TYPE,
        "dataschema": kind.dataschema,
    }
    if actor_id is not None:
        attributes["actorid"] = str(actor_id)
    return {
        "id": event_id,
        "aggregatetype": kind.aggregate,
        "aggregateid": emitted.aggregate_id,
        "type": kind.name,
        "team_id": emitted.team_id,
        "actor_id": actor_id,
        "payload": envelope(CloudEvent(attributes, emitted.data)),
        "timestamp": now,
        "published_at": None,
    }


def _deletion(changes: Changes) -> bool | None:
    """True if a soft delete set `deleted_at`, False if a restore cleared it, else None."""
    change = changes.get("deleted_at")
    if change is None:
        return None
    return change.get("before") is None and change.get("after") is not None


def _pick(state: Mapping[str, Any], **names: str) -> dict[str, Any]:
    """`{field: json_value(state[column])}` for each `field=column`."""
    return {field: json_value(state[column]) for field, column in names.items()}


def _team(kind: str, state: Mapping[str, Any], changes: Changes) -> Emitted | None:
    team_id: uuid.UUID = state["id"]
    if kind == "created":
        name, data = (
            "team.created",
            _pick(state, team_id="id", name="name", created_at="created_at"),
        )
    elif kind == "deleted" or _deletion(changes):
        name = "team.deleted"
        data = {**_pick(state, team_id="id", name="name"), "deleted_at": _deleted_at(state)}
    else:
        name = "team.updated"
        data = {
            **_pick(state, team_id="id", name="name", version="version", updated_at="updated_at"),
            "changed": sorted(changes),
        }
    return Emitted(EVENT_TYPES[name], team_id, str(team_id), f"teams/{team_id}", data)


def _membership(kind: str, state: Mapping[str, Any], changes: Changes) -> Emitted | None:
    data = _pick(state, team_id="team_id", user_id="user_id", role="role")
    if kind == "created":
        name, data = "membership.added", {**data, "joined_at": json_value(state["created_at"])}
    elif kind == "deleted":
        name = "membership.removed"
    elif "role" in changes:
        name, data = "membership.role_changed", {**data, "previous_role": changes["role"]["before"]}
    else:
        return None
    team_id: uuid.UUID = state["team_id"]
    return Emitted(EVENT_TYPES[name], team_id, str(team_id), f"members/{state['user_id']}", data)


_PRODUCT = {
    "product_id": "id",
    "team_id": "team_id",
    "sku": "sku",
    "name": "name",
    "description": "description",
    "price": "price",
    "currency": "currency",
    "status": "status",
    "tags": "tags",
    "version": "version",
    "created_at": "created_at",
    "updated_at": "updated_at",
}


def _product(kind: str, state: Mapping[str, Any], changes: Changes) -> Emitted | None:
    deletion = True if kind == "deleted" else _deletion(changes)
    if deletion:
        name = "product.deleted"
        data = {
            **_pick(state, product_id="id", team_id="team_id", sku="sku"),
            "deleted_at": _deleted_at(state),
        }
    else:
        data = _pick(state, **_PRODUCT)
        if kind == "created":
            name = "product.created"
        elif deletion is False:
            name = "product.restored"
        else:
            name, data = "product.updated", {**data, "changed": sorted(changes)}
    product_id: uuid.UUID = state["id"]
    return Emitted(
        EVENT_TYPES[name], state["team_id"], str(product_id), f"products/{product_id}", data
    )


def _stock_movement(kind: str, state: Mapping[str, Any], changes: Changes) -> Emitted | None:
    if kind != "created":
        return None  # the ledger is append-only
    data = _pick(
        state,
        movement_id="id",
        team_id="team_id",
        product_id="product_id",
        delta="delta",
        on_hand_after="on_hand_after",
        reason="reason",
        note="note",
        order_id="order_id",
        created_at="created_at",
    )
    product_id = state["product_id"]
    subject = f"products/{product_id}/stock/movements/{state['id']}"
    return Emitted(EVENT_TYPES["stock.moved"], state["team_id"], str(product_id), subject, data)


_TRANSITIONS = {
    "paid": "order.paid",
    "fulfilled": "order.fulfilled",
    "cancelled": "order.cancelled",
    "refunded": "order.refunded",
}
_LINE = {
    "product_id": "product_id",
    "sku": "sku",
    "name": "name",
    "unit_price": "unit_price",
    "quantity": "quantity",
    "line_total": "line_total",
}


def _order(kind: str, state: Mapping[str, Any], changes: Changes) -> Emitted | None:
    common = _pick(state, order_id="id", team_id="team_id", status="status")
    common |= _pick(state, currency="currency", total="total")
    if kind == "created":
        lines: Sequence[Mapping[str, Any]] = state.get("lines", ())
        name = "order.created"
        data = {
            **common,
            **_pick(state, customer_email="customer_email", note="note", created_at="created_at"),
            "lines": [_pick(line, **_LINE) for line in lines],
        }
    elif "status" in changes and state["status"] in _TRANSITIONS:
        name = _TRANSITIONS[state["status"]]
        data = {
            **common,
            "previous_status": changes["status"]["before"],
            **_pick(state, version="version", updated_at="updated_at"),
        }
    else:
        return None
    order_id: uuid.UUID = state["id"]
    return Emitted(EVENT_TYPES[name], state["team_id"], str(order_id), f"orders/{order_id}", data)


def _deleted_at(state: Mapping[str, Any]) -> str:
    deleted_at = state.get("deleted_at")
    return json_value(deleted_at) if deleted_at is not None else rfc3339(utcnow())


# Per audited entity (the recorder's names), what its changes emit; other entities (users,
# preferences) are not domain events of a team.
_DERIVE: dict[str, Callable[[str, Mapping[str, Any], Changes], Emitted | None]] = {
    "team": _team,
    "membership": _membership,
    "product": _product,
    "stock_movement": _stock_movement,
    "order": _order,
}


def emits(entity: str) -> bool:
    """Whether changes of the recorder's `entity` may emit domain events."""
    return entity in _DERIVE


def event_for(entity: str, kind: str, state: Mapping[str, Any], changes: Changes) -> Emitted | None:
    """The event a change emits, if any.

    `entity` is the recorder's name of the changed row's class, `kind` created, updated or
    deleted; `state` its column values after the change (before it, for a deletion), with
    `lines` for a created order; `changes` the fields that changed, each `{"before": …,
    "after": …}` (JSON values), as the audit event records them.
    """
    derive = _DERIVE.get(entity)
    return None if derive is None else derive(kind, state, changes)


# Called with no argument after a unit of work that wrote events commits: the relays of
# this process wake up at once instead of at their next poll (`impl.events.relay`).
_written: list[Callable[[], None]] = []


def on_written(callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` whenever events have been committed in this process; returns a
    function that stops it."""
    _written.append(callback)
    return lambda: _written.remove(callback)


def written() -> None:
    for callback in list(_written):
        callback()
