"""The relay: in order, at least once, resumable; one lease holder; deduplicated on NATS.

The NATS tests run against the JetStream server on 127.0.0.1:4222 (TEST_NATS_URL), each on
a stream and subject prefix of its own, deleted after; under CI=true a missing server fails.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import nats
import orjson
import pytest
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.audit import recorder
from impl.events.relay import (
    EventBus,
    JetStreamFeed,
    JetStreamPublisher,
    Relay,
    build_feed,
    build_relay,
)
from impl.kit.db import Units
from impl.models import OutboxEvent, OutboxRelay
from impl.settings import Settings
from tests.conftest import Stream
from tests.factories import create_team
from tests.polling import until


@pytest.fixture(autouse=True)
def _recording() -> None:
    recorder.install()


async def _teams(sessionmaker: async_sessionmaker[AsyncSession], count: int) -> list[str]:
    """Make `count` teams (one `team.created` each); their events' ids, in log order."""
    async with sessionmaker() as session:
        for _ in range(count):
            await create_team(session)
        await session.commit()
    return [str(row.id) for row in await _log(sessionmaker)][-count:]


async def _log(sessionmaker: async_sessionmaker[AsyncSession]) -> list[OutboxEvent]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(OutboxEvent).order_by(OutboxEvent.sequence))
        return list(rows.all())


class _Collector:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, event: CloudEvent) -> None:
        self.ids.append(event.get_id())


async def test_in_process_subscribers_get_every_event_in_order(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _teams(sessionmaker, 5)
    bus = EventBus()
    first, second = _Collector(), _Collector()
    bus.subscribe(first)
    stop = bus.subscribe(second)
    relay = Relay(sessionmaker, bus, batch_size=2)

    assert await relay.drain() == 5
    stop()
    more = await _teams(sessionmaker, 1)
    assert await relay.drain() == 1

    assert first.ids == [*ids, *more]
    assert second.ids == ids
    assert all(row.published_at is not None for row in await _log(sessionmaker))
    assert await relay.drain() == 0


async def test_a_failing_subscriber_is_logged_and_holds_nothing_up(
    sessionmaker: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    ids = await _teams(sessionmaker, 2)
    bus = EventBus()
    after = _Collector()

    async def broken(event: CloudEvent) -> None:
        raise RuntimeError("a bug in a consumer")

    bus.subscribe(broken)
    bus.subscribe(after)

    with caplog.at_level(logging.ERROR, logger="storefront.events"):
        assert await Relay(sessionmaker, bus).drain() == 2

    assert after.ids == ids
    assert f"com.storefront.team.created {ids[0]}" in caplog.text


async def test_the_running_relay_is_woken_by_commits(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    bus = EventBus()
    seen = _Collector()
    bus.subscribe(seen)
    # A poll interval far longer than the test: only the wake-up can deliver in time.
    relay = build_relay(
        settings.model_copy(update={"outbox_poll_interval_seconds": 60.0}), sessionmaker, bus
    )
    relay.start()
    try:
        await asyncio.sleep(0.1)  # its first round, on an empty log, is done
        async with Units(sessionmaker).open(read_only=False) as unit:
            await create_team(unit.session)
        await until(lambda: len(seen.ids) == 1, within=5)
    finally:
        await relay.stop()


async def test_one_relay_at_a_time_holds_the_lease(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await _teams(sessionmaker, 3)
    bus = EventBus()
    seen = _Collector()
    bus.subscribe(seen)
    holder = Relay(sessionmaker, bus, batch_size=1, holder="a")
    other = Relay(sessionmaker, bus, holder="b")

    assert await holder.run_once() == 1
    assert await other.run_once() == 0  # the lease is a's
    await holder.stop()  # gives it up
    assert await other.drain() == 2

    assert len(seen.ids) == len(set(seen.ids)) == 3
    async with sessionmaker() as session:
        lease = await session.get(OutboxRelay, "outbox")
        assert lease is not None
        assert lease.holder == "b"


async def test_an_expired_lease_is_taken_over(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await _teams(sessionmaker, 2)
    bus = EventBus()
    dead = Relay(sessionmaker, bus, batch_size=1, holder="dead", lease_seconds=60)
    assert await dead.run_once() == 1  # then it "dies" holding the lease
    heir = Relay(sessionmaker, bus, holder="heir")
    assert await heir.run_once() == 0
    async with sessionmaker() as session:  # a minute later
        lease = await session.get(OutboxRelay, "outbox")
        assert lease is not None
        assert lease.expires_at is not None
        lease.expires_at -= timedelta(seconds=61)
        await session.commit()
    assert await heir.run_once() == 1


# --- NATS JetStream ----------------------------------------------------------------------


async def _stored(stream: Stream) -> list[tuple[str | None, str, Any]]:
    """Every message of the stream: (subject, Nats-Msg-Id, body)."""
    client = await nats.connect(stream.url)
    try:
        js = client.jetstream()
        info = await js.stream_info(stream.name)
        messages = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream.name, sequence)
            headers = message.headers or {}
            body = orjson.loads(message.data or b"null")
            messages.append((message.subject, headers["Nats-Msg-Id"], body))
        return messages
    finally:
        await client.close()


async def test_events_are_published_to_jetstream_one_subject_per_type(
    sessionmaker: async_sessionmaker[AsyncSession], stream: Stream
) -> None:
    ids = await _teams(sessionmaker, 3)
    relay = Relay(sessionmaker, stream.publisher())
    try:
        assert await relay.drain() == 3
    finally:
        await relay.stop()

    stored = await _stored(stream)
    rows = {str(row.id): row for row in await _log(sessionmaker)}
    assert [message_id for _, message_id, _ in stored] == ids
    for subject, message_id, body in stored:
        assert subject == f"{stream.prefix}.team.created"
        assert body == rows[message_id].payload  # the structured CloudEvent, as logged
    assert relay.duplicates == 0


class _CrashingPublisher:
    """Publishes for real, then hangs after `after` events: the relay is killed there,
    between publishing and marking."""

    def __init__(self, inner: JetStreamPublisher, after: int) -> None:
        self.inner, self.after = inner, after
        self.published = 0
        self.hung = asyncio.Event()

    async def publish(self, name: str, event: CloudEvent) -> bool:
        if self.published == self.after:
            self.hung.set()
            await asyncio.Event().wait()  # never returns
        self.published += 1
        return await self.inner.publish(name, event)

    async def close(self) -> None:
        await self.inner.close()


async def test_a_relay_killed_mid_batch_resumes_and_publishes_nothing_twice(
    sessionmaker: async_sessionmaker[AsyncSession], stream: Stream
) -> None:
    ids = await _teams(sessionmaker, 6)
    crashing = _CrashingPublisher(stream.publisher(), after=4)
    first = Relay(sessionmaker, crashing)
    round_ = asyncio.create_task(first.run_once())
    await asyncio.wait_for(crashing.hung.wait(), 10)
    round_.cancel()  # killed: 4 published, none marked
    with pytest.raises(asyncio.CancelledError):
        await round_
    await crashing.close()
    assert all(row.published_at is None for row in await _log(sessionmaker))

    # Restarted (another instance, once the dead one's lease has expired).
    async with sessionmaker() as session:
        await session.execute(update(OutboxRelay).values(expires_at=None, holder=None))
        await session.commit()
    restarted = Relay(sessionmaker, stream.publisher())
    try:
        assert await restarted.drain() == 6
        assert restarted.duplicates == 4  # JetStream dropped what it had
        later = await _teams(sessionmaker, 2)
        assert await restarted.drain() == 2
    finally:
        await restarted.stop()

    stored = [message_id for _, message_id, _ in await _stored(stream)]
    assert stored == [*ids, *later]  # each once, none lost, in order


async def test_two_relays_publishing_at_once_store_each_event_once(
    sessionmaker: async_sessionmaker[AsyncSession], stream: Stream
) -> None:
    # A lease shorter than a round: both relays believe they hold it (a paused holder whose
    # lease ran out), the worst case the lease exists to make rare.
    ids = await _teams(sessionmaker, 20)
    relays = [
        Relay(sessionmaker, stream.publisher(), batch_size=5, holder=name, lease_seconds=1e-6)
        for name in ("a", "b")
    ]
    try:
        await asyncio.gather(*(relay.drain() for relay in relays))
    finally:
        for relay in relays:
            await relay.stop()

    stored = [message_id for _, message_id, _ in await _stored(stream)]
    assert sorted(stored) == sorted(ids)
    assert len(stored) == len(set(stored))
    assert sum(relay.published for relay in relays) >= len(ids)


async def test_the_relay_makes_its_stream_with_a_duplicate_window(
    sessionmaker: async_sessionmaker[AsyncSession], stream: Stream
) -> None:
    await _teams(sessionmaker, 1)
    relay = Relay(sessionmaker, stream.publisher())
    try:
        await relay.drain()
    finally:
        await relay.stop()
    client = await nats.connect(stream.url)
    try:
        info = await client.jetstream().stream_info(stream.name)
    finally:
        await client.close()
    assert info.config.subjects == [f"{stream.prefix}.>"]
    assert info.config.duplicate_window == 600.0


async def test_with_nats_every_instance_is_fed_every_event_from_the_stream(
    sessionmaker: async_sessionmaker[AsyncSession], stream: Stream
) -> None:
    # Two instances' buses: one relays, both are fed.
    buses, seen = [EventBus(), EventBus()], [_Collector(), _Collector()]
    feeds = []
    for bus, collector in zip(buses, seen, strict=True):
        bus.subscribe(collector)
        feed = JetStreamFeed(stream.url, bus, stream=stream.name, subject_prefix=stream.prefix)
        feed.start()
        feeds.append(feed)
    relay = Relay(sessionmaker, stream.publisher())
    try:
        for feed in feeds:
            await asyncio.wait_for(feed.subscribed.wait(), 10)
        ids = await _teams(sessionmaker, 3)
        assert await relay.drain() == 3
        await until(lambda: all(len(c.ids) == 3 for c in seen), within=10)
    finally:
        await relay.stop()
        for feed in feeds:
            await feed.stop()
    assert [c.ids for c in seen] == [ids, ids]


async def test_settings_choose_the_publisher(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert isinstance(build_relay(settings, sessionmaker, EventBus()).publisher, EventBus)
    with_nats = settings.model_copy(update={"nats_url": "nats://127.0.0.1:4222"})
    publisher = build_relay(with_nats, sessionmaker, EventBus()).publisher
    assert isinstance(publisher, JetStreamPublisher)
    assert (publisher.stream, publisher.subject_prefix) == (
        "STOREFRONT_EVENTS",
        "storefront.events",
    )
    assert build_feed(settings, EventBus()) is None
    assert isinstance(build_feed(with_nats, EventBus()), JetStreamFeed)
