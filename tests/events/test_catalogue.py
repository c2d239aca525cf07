"""The event catalogue (asyncapi/events.yaml): valid AsyncAPI 3.0, rendered, and the same
events at the same versions as the code's (`impl.events.catalogue`)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from impl.events.catalogue import EVENT_TYPES
from impl.events.outbox import envelope
from spectools import events as catalogue

DOCUMENT = catalogue.load()


def test_the_catalogue_is_valid_asyncapi_3() -> None:
    assert catalogue.check(DOCUMENT) == []
    assert DOCUMENT["asyncapi"] == "3.0.0"


def test_the_checks_catch_what_they_are_for() -> None:
    broken = copy.deepcopy(DOCUMENT)
    broken["channels"]["order.paid"]["address"] = 42  # AsyncAPI: an address is a string
    message = broken["components"]["messages"]["order.paid"]
    message["payload"]["allOf"][1]["properties"]["type"] = {"const": "com.storefront.paid"}
    broken["components"]["schemas"]["order.refunded"]["type"] = "no-such-type"

    problems = catalogue.check(broken)

    assert any(p.startswith("$.channels['order.paid']:") for p in problems), problems
    assert any("order.paid: the envelope's type" in p for p in problems), problems
    assert any("order.refunded: not a valid JSON Schema" in p for p in problems), problems


def test_the_rendering_readers_see_is_current() -> None:
    assert catalogue.RENDERED.read_text(encoding="utf-8") == catalogue.render(DOCUMENT), (
        "docs/events.md is stale: run `uv run just events-doc`"
    )


def test_the_code_and_the_catalogue_name_the_same_events() -> None:
    documented = {
        event.name: (event.type, event.version, event.dataschema)
        for event in catalogue.events(DOCUMENT)
    }
    emitted = {
        name: (kind.type, kind.version, kind.dataschema) for name, kind in EVENT_TYPES.items()
    }
    assert documented == emitted


def test_channels_are_the_default_nats_subjects() -> None:
    for event in catalogue.events(DOCUMENT):
        assert event.address == f"storefront.events.{event.name}"


def test_the_stored_envelope_is_the_sdks_json_format() -> None:
    event = CloudEvent(
        {
            "id": "0193e3a0-0000-7000-8000-000000000001",
            "source": "/teams/0193e3a0-0000-7000-8000-000000000002",
            "type": "com.storefront.team.created",
            "subject": "teams/0193e3a0-0000-7000-8000-000000000002",
            "time": datetime(2026, 12, 8, 10, 0, 0, 123456, tzinfo=UTC),
            "datacontenttype": "application/json",
            "dataschema": "https://storefront.example/schemas/events/team.created/1.0",
            "actorid": "0193e3a0-0000-7000-8000-000000000003",
        },
        {"team_id": "0193e3a0-0000-7000-8000-000000000002", "name": "Acme"},
    )

    stored = envelope(event)

    assert stored == json.loads(JSONFormat().write(event))
    assert stored["time"] == "2026-12-08T10:00:00.123456Z"
