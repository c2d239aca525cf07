"""The domain events Storefront emits: their names, versions and what each one's data holds.

The catalogue readers see is `asyncapi/events.yaml` (AsyncAPI 3.0, with one JSON Schema per
event's `data`); `tests/events` checks that it and this module name the same events at the
same versions, and that every event the API's flows write validates against it.

Names: the catalogue's name is `<aggregate>.<what happened>` (`order.created`); the
CloudEvents `type` prefixes it with `com.storefront.` (reverse DNS, as CloudEvents
recommends, so it stays unambiguous beside other producers' events on a shared broker).
Versions: `MAJOR.MINOR` of the data schema. A minor version only adds optional fields (a
consumer of 1.0 reads 1.1 as it is); a major version changes the meaning or removes a field
and is emitted beside the old one until consumers have moved. `dataschema` names the
version: `https://storefront.example/schemas/events/order.created/1.0`, the `$id` of that
schema in the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_PREFIX = "com.storefront."
SCHEMA_BASE = "https://storefront.example/schemas/events/"


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    version: str
    # Debezium's outbox router routes (and Kafka keys) by aggregate: events of one aggregate
    # stay in order. A membership belongs to its team, a stock movement to its product.
    aggregate: str

    @property
    def type(self) -> str:
        """The CloudEvents `type`."""
        return TYPE_PREFIX + self.name

    @property
    def dataschema(self) -> str:
        """The CloudEvents `dataschema`: the URI (`$id`) of this version of the data schema."""
        return f"{SCHEMA_BASE}{self.name}/{self.version}"


def _types(aggregate: str, *names: str) -> dict[str, EventType]:
    return {
        f"{prefix}.{name}": EventType(f"{prefix}.{name}", "1.0", aggregate)
        for prefix, name in (full.split(".") for full in names)
    }


EVENT_TYPES: dict[str, EventType] = {
    **_types("team", "team.created", "team.updated", "team.deleted"),
    **_types("team", "membership.added", "membership.role_changed", "membership.removed"),
    **_types(
        "product", "product.created", "product.updated", "product.deleted", "product.restored"
    ),
    **_types("product", "stock.moved"),
    **_types(
        "order",
        "order.created",
        "order.paid",
        "order.fulfilled",
        "order.cancelled",
        "order.refunded",
    ),
}
