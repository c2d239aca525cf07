"""The relay: hands the outbox's events on, in log order, at least once.

A small asyncio task of the app (`Relay.start`), woken when this process commits events
(`impl.events.outbox.on_written`) and polling every `OUTBOX_POLL_INTERVAL_SECONDS` for
those other processes wrote. Each round it reads the oldest unpublished events, takes the
relay lease, hands each event to its publisher in order, and marks those handed on as
published. A crash (or a failed publish) before the mark leaves them unpublished: the next
round, in this process or another, hands them on again. So delivery is at least once, and
resumes where the log's unpublished rows begin (`published_at` is the relay's cursor).

- In-process (the default): the publisher is the process's `EventBus`; its subscribers
  (`EventBus.subscribe`) are called with each event, one after another.
- NATS JetStream (`NATS_URL` set): each event is published to the stream `NATS_STREAM`, on
  the subject `NATS_SUBJECT_PREFIX.<event name>` (`storefront.events.order.created`), as a
  structured CloudEvent with the header `Nats-Msg-Id: <event id>`: JetStream drops a
  message whose id it has seen within the stream's duplicate window, so an event handed on
  twice (after a crash between publishing and marking) is stored once.

Several app instances: every instance runs a relay, but only the holder of the lease (a
row of `outbox_relays`, renewed each round, `OUTBOX_RELAY_LEASE_SECONDS`) publishes; the
others wait, and one takes over once the lease has expired (its holder died). Should two
ever publish at once (a holder paused past its lease), JetStream's deduplication still
stores each event once; in-process subscribers are per process, so a deployment of several
instances whose consumers must see every event sets `NATS_URL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.events import outbox
from impl.events.repository import OutboxRepository, Pending
from impl.kit.clock import utcnow
from impl.kit.db import read_only_sessionmaker, unit_of_work
from impl.settings import Settings

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

logger = logging.getLogger("storefront.events")

Handler = Callable[[CloudEvent], Awaitable[None]]
_FORMAT = JSONFormat()
LEASE = "outbox"
# How long JetStream remembers a message id, when the relay makes the stream itself: a
# relay restarted within it republishes nothing twice.
DUPLICATE_WINDOW_SECONDS = 600.0
CONNECT_TIMEOUT_SECONDS = 5
RECONNECT_ATTEMPTS = 5
# The longest wait between rounds after failures (doubling from the poll interval).
MAX_BACKOFF_SECONDS = 30.0


def cloud_event(payload: dict[str, Any]) -> CloudEvent:
    """An outbox row's envelope read back by the `cloudevents` SDK (which checks it)."""
    event = _FORMAT.read(None, orjson.dumps(payload))
    assert isinstance(event, CloudEvent)
    return event


class Publisher(Protocol):
    async def publish(self, name: str, event: CloudEvent) -> bool:
        """Hand one event on (`name`: the catalogue's, `order.created`); True if the far end
        already had it (a duplicate it dropped)."""
        ...

    async def close(self) -> None: ...


class EventBus:
    """In-process consumers of the log: `subscribe(handler)`, and the relay calls each
    handler with each event, in log order, at least once (a handler dedups by `event.get_id()`
    if it must). A handler that raises is logged with the event's id and type, and the
    event counts as delivered to it: one failing consumer does not hold up the others, nor
    the log."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Call `handler` with every event from now on; returns a function that stops it."""
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler)

    async def publish(self, name: str, event: CloudEvent) -> bool:
        for handler in list(self._handlers):
            try:
                await handler(event)
            except Exception:
                logger.exception(
                    "event handler %r failed on %s %s",
                    getattr(handler, "__qualname__", handler),
                    event.get_type(),
                    event.get_id(),
                )
        return False

    async def close(self) -> None:
        return None


async def _connect(url: str, **options: Any) -> NatsClient:
    import nats  # only with NATS_URL: nothing of it is loaded otherwise

    # A few quick attempts, then the caller fails and backs off (nats-py would otherwise
    # retry a server 60 times, 2 s apart, before giving up).
    return await nats.connect(
        url,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        max_reconnect_attempts=RECONNECT_ATTEMPTS,
        reconnect_time_wait=1,
        **options,
    )


async def ensure_stream(js: Any, stream: str, subject_prefix: str) -> None:
    """Make the stream (capturing `<subject_prefix>.>`) unless it exists; an existing one is
    the operator's, used as it is."""
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=stream,
                subjects=[f"{subject_prefix}.>"],
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
        )


class JetStreamPublisher:
    """Publishes to a JetStream stream, made (subjects `<prefix>.>`) if it does not exist."""

    def __init__(self, url: str, *, stream: str, subject_prefix: str) -> None:
        self._url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self._client: NatsClient | None = None
        self._js: Any = None

    async def _jetstream(self) -> Any:
        if self._client is not None and self._client.is_closed:
            self._client, self._js = None, None  # it gave up reconnecting: connect anew
        if self._js is None:
            client = await _connect(self._url)
            js = client.jetstream()
            await ensure_stream(js, self.stream, self.subject_prefix)
            self._client, self._js = client, js
        return self._js

    async def publish(self, name: str, event: CloudEvent) -> bool:
        js = await self._jetstream()
        ack = await js.publish(
            f"{self.subject_prefix}.{name}",
            _FORMAT.write(event),
            stream=self.stream,
            headers={"Nats-Msg-Id": event.get_id(), "Content-Type": JSONFormat.CONTENT_TYPE},
        )
        return bool(ack.duplicate)

    async def close(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None:
            await client.drain()


class JetStreamFeed:
    """With NATS, what feeds this instance's `EventBus`: every event of the stream, whichever
    instance relayed it, from when the app started (an ordered, ephemeral consumer: a
    consumer that must not miss events while its instance is down uses a durable consumer
    of its own instead). Reconnects by itself, backing off, while NATS is away."""

    def __init__(self, url: str, bus: EventBus, *, stream: str, subject_prefix: str) -> None:
        self._url = url
        self._bus = bus
        self.stream = stream
        self.subject_prefix = subject_prefix
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self, message: Any) -> None:
        event = _FORMAT.read(None, message.data)
        assert isinstance(event, CloudEvent)
        await self._bus.publish(message.subject.removeprefix(f"{self.subject_prefix}."), event)

    async def _run(self) -> None:
        failures = 0
        while True:
            client = None
            closed = asyncio.Event()
            try:
                from nats.js.api import DeliverPolicy

                client = await _connect(self._url, closed_cb=_setter(closed))
                js = client.jetstream()
                await ensure_stream(js, self.stream, self.subject_prefix)
                await js.subscribe(
                    f"{self.subject_prefix}.>",
                    stream=self.stream,
                    cb=self._deliver,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.NEW,
                )
                failures = 0
                self.subscribed.set()
                await closed.wait()  # it gave up reconnecting: subscribe anew
            except Exception:
                failures += 1
                logger.exception("event feed from NATS failed (%d in a row)", failures)
            finally:
                self.subscribed.clear()
                if client is not None and not client.is_closed:
                    with contextlib.suppress(Exception):
                        await client.close()
            await asyncio.sleep(min(2.0**failures, MAX_BACKOFF_SECONDS))


def _setter(event: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def set_it() -> None:
        event.set()

    return set_it


class Relay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        *,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        lease_seconds: float = 15.0,
        holder: str | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        # Reads take no write lock (SQLite) and no transaction (PostgreSQL).
        self._reader = read_only_sessionmaker(sessionmaker)
        self.publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._lease = timedelta(seconds=lease_seconds)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stop_listening: Callable[[], None] | None = None
        # What this relay has handed on, and how much of it the far end had already.
        self.published = 0
        self.duplicates = 0

    async def run_once(self) -> int:
        """One round: hand on the oldest unpublished events (a batch) if this relay holds
        the lease; the number handed on. Raises what a publish raised, once the events
        before it are marked."""
        async with unit_of_work(self._reader) as session:
            batch = await OutboxRepository(session).unpublished(limit=self._batch_size)
        if not batch:
            return 0
        now = utcnow()
        async with unit_of_work(self._sessionmaker) as session:
            held = await OutboxRepository(session).take_lease(
                LEASE, self.holder, now=now, until=now + self._lease
            )
        if not held:
            return 0
        done: list[int] = []
        try:
            for pending in batch:
                await self._publish(pending)
                done.append(pending.sequence)
        finally:
            # Not after a cancellation: the task is being torn down (or the process is), and
            # what it did not mark is published again, deduplicated, by the next round.
            if done and not _cancelling():
                async with unit_of_work(self._sessionmaker) as session:
                    await OutboxRepository(session).mark_published(done, at=utcnow())
        return len(done)

    async def _publish(self, pending: Pending) -> None:
        if await self.publisher.publish(pending.type, cloud_event(pending.payload)):
            self.duplicates += 1
        self.published += 1

    async def drain(self) -> int:
        """Rounds until nothing is left to hand on (or the lease is another's); how many."""
        total = 0
        while handed := await self.run_once():
            total += handed
        return total

    def start(self) -> None:
        """Run rounds in a background task until `stop`."""
        if self._task is None:
            self._stop_listening = outbox.on_written(self._wake.set)
            self._task = asyncio.create_task(self._loop(), name="outbox-relay")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Stop the task once its round is done (cancelled after `grace` seconds), give the
        lease up, close the publisher."""
        task, self._task = self._task, None
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if task is not None:
            self._stopped.set()
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            async with unit_of_work(self._sessionmaker) as session:
                await OutboxRepository(session).release_lease(LEASE, self.holder)
        except Exception:
            # It expires by itself: another instance takes over a little later.
            logger.warning("outbox relay could not give its lease up", exc_info=True)
        await self.publisher.close()

    async def _loop(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            # Cleared before the round: a commit during it makes the next one start at once.
            self._wake.clear()
            try:
                # A poll a second is no one's request: its statements make no traces (a
                # trace per idle round would bury the requests' own).
                with _untraced():
                    handed = await self.run_once()
                failures = 0
            except Exception:
                failures += 1
                logger.exception("outbox relay round failed (%d in a row)", failures)
                # Backing off: only stopping cuts the wait short, not new events.
                delay = min(self._poll_interval * 2**failures, MAX_BACKOFF_SECONDS)
                await _wait(self._stopped, delay)
                continue
            if handed < self._batch_size:  # else more may be waiting: no pause
                await _wait(self._wake, self._poll_interval)


def _untraced() -> contextlib.AbstractContextManager[object]:
    """Statements that make no spans; with tracing off (OpenTelemetry's instrumentation not
    loaded) there is nothing to keep out, and nothing is imported for it."""
    if "opentelemetry.instrumentation.utils" not in sys.modules:
        return contextlib.nullcontext()
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def build_feed(settings: Settings, bus: EventBus) -> JetStreamFeed | None:
    """With `NATS_URL`, the feed of `bus` from the stream; else None (the relay feeds it)."""
    if not settings.nats_url:
        return None
    return JetStreamFeed(
        settings.nats_url,
        bus,
        stream=settings.nats_stream,
        subject_prefix=settings.nats_subject_prefix,
    )


def build_relay(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], bus: EventBus
) -> Relay:
    """The relay the settings ask for: to JetStream with `NATS_URL`, else to `bus`."""
    publisher: Publisher = bus
    if settings.nats_url:
        publisher = JetStreamPublisher(
            settings.nats_url,
            stream=settings.nats_stream,
            subject_prefix=settings.nats_subject_prefix,
        )
    return Relay(
        sessionmaker,
        publisher,
        batch_size=settings.outbox_batch_size,
        poll_interval=settings.outbox_poll_interval_seconds,
        lease_seconds=settings.outbox_relay_lease_seconds,
    )
