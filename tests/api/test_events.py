"""The event log, seen from the API: every flow's events, each checked against the catalogue.

The flows below emit every event type of asyncapi/events.yaml at least once; each outbox
row written is read back through the `cloudevents` SDK (which checks the envelope's
attributes) and validated, envelope and `data`, against its message in the catalogue. The
in-process relay hands the same events to a subscriber, in log order.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import nats
import orjson
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from impl.app import create_app
from impl.events.catalogue import EVENT_TYPES
from impl.models import OutboxEvent, StockLevel
from impl.settings import Settings
from spectools import events as catalogue
from tests.api.conftest import sign_up
from tests.conftest import Stream
from tests.polling import until

DOCUMENT = catalogue.load()
VALIDATORS = {
    event.type: (event, catalogue.envelope_validator(DOCUMENT, event))
    for event in catalogue.events(DOCUMENT)
}


async def _outbox(sessionmaker: async_sessionmaker[AsyncSession]) -> list[OutboxEvent]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(OutboxEvent).order_by(OutboxEvent.sequence))
        return list(rows.all())


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json() if response.content else {}


async def _etag(client: httpx.AsyncClient, auth: dict[str, str], url: str) -> str:
    return (await client.get(url, headers=auth)).headers["etag"]


async def _every_flow(client: httpx.AsyncClient, auth: dict[str, str], team_id: str) -> None:
    """Rename the team; add, promote and remove a member; create, change, stock, sell
    (paid, fulfilled, refunded; paid, cancelled), delete and restore products; delete a
    team."""
    team = f"/v1/teams/{team_id}"
    await _ok(await client.patch(team, json={"name": "Renamed"}, headers=auth))
    await sign_up(client, name="eve")
    member = await _ok(
        await client.post(
            f"{team}/members", json={"email": "eve@example.com", "role": "viewer"}, headers=auth
        ),
        201,
    )
    member_url = f"{team}/members/{member['user_id']}"
    await _ok(await client.patch(member_url, json={"role": "member"}, headers=auth))
    await _ok(await client.delete(member_url, headers=auth), 204)

    product = await _ok(
        await client.post(
            f"{team}/products",
            json={
                "sku": "EV-1",
                "name": "Lamp",
                "price": "20.00",
                "currency": "EUR",
                "status": "active",
                "tags": ["light"],
            },
            headers=auth,
        ),
        201,
    )
    url = f"{team}/products/{product['id']}"
    etag = await _etag(client, auth, url)
    await _ok(await client.patch(url, json={"price": "25.00"}, headers={**auth, "If-Match": etag}))
    await _ok(
        await client.post(
            f"{url}/stock/movements", json={"delta": 10, "reason": "receive"}, headers=auth
        ),
        201,
    )
    for key, actions in (("ev-1", ("pay", "fulfill", "refund")), ("ev-2", ("pay", "cancel"))):
        order = await _ok(
            await client.post(
                f"{team}/orders",
                json={
                    "customer_email": "buyer@example.com",
                    "lines": [{"product_id": product["id"], "quantity": 2}],
                },
                headers={**auth, "Idempotency-Key": key},
            ),
            201,
        )
        for action in actions:
            await _ok(await client.post(f"{team}/orders/{order['id']}/{action}", headers=auth))

    spare = await _ok(
        await client.post(
            f"{team}/products",
            json={"sku": "EV-2", "name": "Shade", "price": "5.00", "currency": "EUR"},
            headers=auth,
        ),
        201,
    )
    spare_url = f"{team}/products/{spare['id']}"
    etag = await _etag(client, auth, spare_url)
    await _ok(await client.delete(spare_url, headers={**auth, "If-Match": etag}), 204)
    await _ok(await client.post(f"{spare_url}/restore", headers=auth))

    other = await _ok(await client.post("/v1/teams", json={"name": "Gone"}, headers=auth), 201)
    await _ok(await client.delete(f"/v1/teams/{other['id']}", headers=auth), 204)


def _checked(row: OutboxEvent) -> CloudEvent:
    """The row's envelope, read by the SDK and validated against the catalogue."""
    event = JSONFormat().read(None, orjson.dumps(row.payload))
    assert isinstance(event, CloudEvent)
    documented, validator = VALIDATORS[event.get_type()]
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(row.payload)]
    assert not errors, (row.type, errors)
    assert event.get_id() == str(row.id)
    assert event.get_dataschema() == documented.dataschema
    assert row.type == documented.name
    assert row.aggregatetype == EVENT_TYPES[row.type].aggregate
    assert event.get_source() == f"/teams/{row.team_id}"
    assert event.get_time() == row.timestamp
    return event


async def test_every_event_the_flows_emit_follows_the_catalogue(
    app: Starlette,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    team_id: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    delivered: list[CloudEvent] = []

    async def collect(event: CloudEvent) -> None:
        delivered.append(event)

    app.state.events.subscribe(collect)
    await _every_flow(client, auth, team_id)
    me = (await client.get("/v1/me", headers=auth)).json()["id"]

    rows = await _outbox(sessionmaker)
    events = [_checked(row) for row in rows]

    assert {row.type for row in rows} == set(EVENT_TYPES), "every type emitted, none unknown"
    assert all(event.get_extension("actorid") == me for event in events)
    assert [r.sequence for r in rows] == sorted({r.sequence for r in rows})
    # One aggregate's events are in the order of its changes.
    first_order = rows[[r.type for r in rows].index("order.created")].aggregateid
    assert [r.type for r in rows if r.aggregateid == first_order] == [
        "order.created",
        "order.paid",
        "order.fulfilled",
        "order.refunded",
    ]
    stock = [r.payload["data"] for r in rows if r.type == "stock.moved"]
    assert [(s["delta"], s["on_hand_after"], s["reason"]) for s in stock] == [
        (10, 10, "receive"),
        (-2, 8, "order"),
        (-2, 6, "order"),
        (2, 8, "order_cancelled"),
    ]
    by_type = {row.type: row.payload["data"] for row in rows}
    assert by_type["product.updated"]["changed"] == ["price"]
    assert by_type["product.updated"]["price"] == "25.00"
    assert by_type["membership.role_changed"]["previous_role"] == "viewer"
    assert by_type["order.created"]["lines"][0]["line_total"] == "50.00"
    assert by_type["order.cancelled"]["previous_status"] == "paid"

    # The relay hands every event on, once, in log order (the first may have gone out
    # before the subscription).
    async def all_published() -> bool:
        return all(row.published_at for row in await _outbox(sessionmaker))

    await until(all_published)
    ids = [str(row.id) for row in rows]
    assert len(delivered) >= len(ids) - 2
    assert [event.get_id() for event in delivered] == ids[len(ids) - len(delivered) :]


async def test_a_request_that_fails_after_its_change_writes_no_event(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    team_id: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    team = f"/v1/teams/{team_id}"
    products = []
    for sku, stocked in (("RB-1", 5), ("RB-2", 0)):
        product = await _ok(
            await client.post(
                f"{team}/products",
                json={
                    "sku": sku,
                    "name": sku,
                    "price": "1.00",
                    "currency": "EUR",
                    "status": "active",
                },
                headers=auth,
            ),
            201,
        )
        if stocked:
            await _ok(
                await client.post(
                    f"{team}/products/{product['id']}/stock/movements",
                    json={"delta": stocked, "reason": "receive"},
                    headers=auth,
                ),
                201,
            )
        products.append(uuid.UUID(product["id"]))
    before = await _outbox(sessionmaker)

    # The first line's stock is reserved (and, on SQLite, the key claimed) before the
    # second line is found short: the whole request is rolled back.
    refused = await client.post(
        f"{team}/orders",
        json={
            "customer_email": "buyer@example.com",
            "lines": [{"product_id": str(p), "quantity": 1} for p in products],
        },
        headers={**auth, "Idempotency-Key": "rolled-back"},
    )

    assert refused.status_code == 409, refused.text
    assert [row.id for row in await _outbox(sessionmaker)] == [row.id for row in before]
    async with sessionmaker() as session:
        levels = await session.scalars(
            select(StockLevel.on_hand).where(StockLevel.product_id.in_(products))
        )
        assert sorted(levels.all()) == [0, 5]


async def test_with_the_relay_off_the_log_waits_for_a_cdc_connector(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings.model_copy(update={"outbox_relay_enabled": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            auth = await sign_up(client)
            await _ok(await client.post("/v1/teams", json={"name": "CDC"}, headers=auth), 201)
            await asyncio.sleep(0.2)
    assert app.state.relay is None
    rows = await _outbox(sessionmaker)
    assert [row.type for row in rows] == ["team.created", "membership.added"]
    assert all(row.published_at is None for row in rows)


async def test_with_nats_the_app_publishes_its_log_and_is_fed_from_the_stream(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], stream: Stream
) -> None:
    app = create_app(
        settings.model_copy(
            update={
                "nats_url": stream.url,
                "nats_stream": stream.name,
                "nats_subject_prefix": stream.prefix,
            }
        )
    )
    fed = []

    async def collect(event: CloudEvent) -> None:
        fed.append(event.get_id())

    async with app.router.lifespan_context(app):
        app.state.events.subscribe(collect)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            auth = await sign_up(client)
            await _ok(await client.post("/v1/teams", json={"name": "Jet"}, headers=auth), 201)
            ids = [str(row.id) for row in await _outbox(sessionmaker)]
            await until(lambda: fed == ids)

    nc = await nats.connect(stream.url)
    try:
        info = await nc.jetstream().stream_info(stream.name)
    finally:
        await nc.close()
    assert info.state.messages == 2
