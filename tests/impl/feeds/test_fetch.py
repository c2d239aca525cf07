"""Fetching feeds served over real HTTP on loopback, good ones and every way they go wrong."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from impl.feeds.fetch import FeedFetcher, FeedLimits, FeedState, FetchResult
from impl.kit.egress import EgressGuard
from impl.settings import Settings
from tests.fakes.feeds import Document, FakeFeeds, serve_feeds

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# Generous: a loaded CI machine must not turn an ordinary fetch into a timeout.
LIMITS = FeedLimits(
    timeout_seconds=10.0,
    max_bytes=256 << 10,
    refresh=timedelta(minutes=30),
    backoff_base=timedelta(minutes=1),
    backoff_max=timedelta(minutes=10),
)


@pytest.fixture(scope="module")
def feeds() -> Iterator[FakeFeeds]:
    with serve_feeds() as served:
        yield served


@pytest.fixture
def fetcher(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FeedFetcher:
    # As a deployment configures it: the fake's loopback address allowed by name.
    monkeypatch.setenv("EGRESS_ALLOW_HOSTS", "127.0.0.1")
    return FeedFetcher(EgressGuard.from_settings(Settings(keys_dir=tmp_path)), LIMITS)


@pytest.fixture
def impatient(fetcher: FeedFetcher, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FeedFetcher:
    """The same with a 1 s time limit, for the feeds that never finish."""
    short = replace(LIMITS, timeout_seconds=1.0)
    return FeedFetcher(EgressGuard.from_settings(Settings(keys_dir=tmp_path)), short)


def _failed(result: FetchResult, kind: str) -> str:
    assert result.outcome == "failed", result
    assert result.error is not None
    assert result.error.kind == kind, result.error
    assert result.items == ()
    assert result.state.failures == 1
    assert result.state.last_error == str(result.error)
    assert result.state.next_attempt_at == NOW + LIMITS.backoff_base
    return result.error.message


async def test_rss_items_are_normalised_and_deduplicated(
    feeds: FakeFeeds, fetcher: FeedFetcher
) -> None:
    url = feeds.url("/rss.xml")
    result = await fetcher.fetch(url, now=NOW)
    assert result.outcome == "updated"
    assert result.error is None
    assert result.feed is not None
    assert result.feed.title == "Supplier & Co news"
    assert result.feed.link == "https://supplier.example/"
    assert result.final_url == url
    # Five entries: a repeated guid and one with neither guid nor link are dropped.
    assert [item.key for item in result.items] == [
        "tent-2026",
        "https://supplier.example/news/link-only",
        "script-link",
    ]
    assert result.dropped == 2
    tents, link_only, script = result.items
    assert tents.title == "New tents in stock"
    assert tents.summary == "Our tents are back & cheaper.\nOrder now."  # no script, no tags
    assert tents.link == "https://supplier.example/news/tents"
    assert tents.published_at == datetime(2025, 6, 3, 7, 39, 21, tzinfo=UTC)
    assert tents.source == url
    assert link_only.summary == "Plain words"
    assert link_only.published_at == datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    assert script.link is None  # a javascript: link is no link
    assert result.state == FeedState(
        etag='"rss-v1"',
        failures=0,
        next_attempt_at=NOW + timedelta(minutes=30),
        last_success_at=NOW,
    )


async def test_atom_items(feeds: FakeFeeds, fetcher: FeedFetcher) -> None:
    result = await fetcher.fetch(feeds.url("/atom.xml"), now=NOW)
    assert result.outcome == "updated"
    assert result.feed is not None
    assert result.feed.title == "Market watch"
    prices, plain = result.items
    assert prices.key == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert prices.summary == "Canvas is up 4%.\nSteel is flat."
    assert prices.link == "https://market.example/prices"
    assert prices.published_at == datetime(2025, 6, 3, 8, 0, tzinfo=UTC)
    # Text constructs declared as text keep what looks like markup.
    assert plain.title == "Plain <tags> stay"
    assert plain.summary == "A b < c"
    assert plain.link == feeds.url("/plain")  # resolved against where the feed was found
    assert plain.published_at == datetime(2025, 6, 1, tzinfo=UTC)
    assert result.state.last_modified == "Tue, 03 Jun 2025 10:00:00 GMT"
    assert result.state.etag is None


async def test_conditional_get_answered_304(feeds: FakeFeeds, fetcher: FeedFetcher) -> None:
    first = await fetcher.fetch(feeds.url("/rss.xml"), now=NOW)
    later = NOW + timedelta(hours=1)
    again = await fetcher.fetch(feeds.url("/rss.xml"), first.state, now=later)
    assert again.outcome == "not_modified"
    assert again.items == ()
    assert again.state.etag == '"rss-v1"'
    assert again.state.next_attempt_at == later + timedelta(minutes=30)
    assert feeds.seen("/rss.xml")[-1].headers["if-none-match"] == '"rss-v1"'
    # Last-Modified alone works the same way.
    atom = await fetcher.fetch(feeds.url("/atom.xml"), now=NOW)
    atom_again = await fetcher.fetch(feeds.url("/atom.xml"), atom.state, now=later)
    assert atom_again.outcome == "not_modified"
    assert atom_again.state.last_modified == "Tue, 03 Jun 2025 10:00:00 GMT"
    sent = feeds.seen("/atom.xml")[-1].headers
    assert sent["if-modified-since"] == "Tue, 03 Jun 2025 10:00:00 GMT"
    assert "if-none-match" not in sent
    # A changed feed is fetched whole, with its new validator.
    feeds.documents["/changing.xml"] = Document(feeds.documents["/rss.xml"].body, etag='"a"')
    old = await fetcher.fetch(feeds.url("/changing.xml"), now=NOW)
    feeds.documents["/changing.xml"].etag = '"b"'
    new = await fetcher.fetch(feeds.url("/changing.xml"), old.state, now=later)
    assert new.outcome == "updated"
    assert new.state.etag == '"b"'
    assert len(new.items) == 3


async def test_malformed_xml_is_an_error_of_the_feed(
    feeds: FakeFeeds, fetcher: FeedFetcher
) -> None:
    message = _failed(await fetcher.fetch(feeds.url("/malformed.xml"), now=NOW), "malformed")
    assert message.startswith("not well-formed XML at line 3")
    assert "mismatched tag" in message


async def test_a_page_that_is_not_a_feed(feeds: FakeFeeds, fetcher: FeedFetcher) -> None:
    message = _failed(await fetcher.fetch(feeds.url("/page.html"), now=NOW), "not_a_feed")
    assert message.startswith("no RSS or Atom feed in the response (not well-formed XML")


async def test_external_entities_are_not_read(feeds: FakeFeeds, fetcher: FeedFetcher) -> None:
    result = await fetcher.fetch(feeds.url("/xxe.xml"), now=NOW)
    assert "root:" not in repr(result)


async def test_a_feed_that_hangs_is_abandoned_at_the_time_limit(
    feeds: FakeFeeds, impatient: FeedFetcher
) -> None:
    started = time.monotonic()
    message = _failed(await impatient.fetch(feeds.url("/hang"), now=NOW), "timeout")
    assert message == "the fetch took longer than 1 s"
    assert time.monotonic() - started < 8  # abandoned, not waited out (the feed never answers)


async def test_the_time_limit_is_for_the_whole_fetch(
    feeds: FakeFeeds, impatient: FeedFetcher
) -> None:
    # A byte every 0.2 s: no single read waits long, the whole never ends.
    started = time.monotonic()
    _failed(await impatient.fetch(feeds.url("/drip"), now=NOW), "timeout")
    assert time.monotonic() - started < 8


async def test_a_feed_that_grows_without_end_is_cut_at_the_size_limit(
    feeds: FakeFeeds, fetcher: FeedFetcher
) -> None:
    started = time.monotonic()
    message = _failed(await fetcher.fetch(feeds.url("/endless"), now=NOW), "too_large")
    assert message == f"the feed kept growing, past the limit of {256 << 10} bytes"
    assert time.monotonic() - started < 2.5
    # The connection was dropped: the server stops sending.
    await asyncio.sleep(0.3)
    sent = feeds.endless_sent
    await asyncio.sleep(0.3)
    assert feeds.endless_sent == sent < 64 << 20


async def test_a_declared_size_past_the_limit_is_not_read(
    feeds: FakeFeeds, fetcher: FeedFetcher
) -> None:
    message = _failed(await fetcher.fetch(feeds.url("/large"), now=NOW), "too_large")
    assert message.startswith(f"the feed declares {feeds.large_bytes} bytes")


async def test_the_size_limit_counts_what_compression_hides(
    feeds: FakeFeeds, fetcher: FeedFetcher
) -> None:
    message = _failed(await fetcher.fetch(feeds.url("/gzip-bomb"), now=NOW), "too_large")
    assert "kept growing" in message


@pytest.mark.parametrize(
    "inside",
    [
        "http://10.0.0.1/feed.xml",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "http://localhost:{port}/rss.xml",  # the fake itself, under a name not allowed
    ],
)
async def test_a_redirect_inside_is_refused_though_the_first_hop_is_allowed(
    feeds: FakeFeeds, fetcher: FeedFetcher, inside: str
) -> None:
    target = inside.format(port=feeds.base_url.rsplit(":", 1)[1])
    result = await fetcher.fetch(feeds.url(f"/redirect?to={target}"), now=NOW)
    message = _failed(result, "refused")
    assert "is not permitted" in message or "(RFC" in message


async def test_redirects_are_followed_and_a_permanent_move_reported(
    feeds: FakeFeeds, fetcher: FeedFetcher
) -> None:
    moved = await fetcher.fetch(feeds.url("/redirect?status=301&to=/atom.xml"), now=NOW)
    assert moved.outcome == "updated"
    assert moved.final_url == feeds.url("/atom.xml")
    assert moved.moved_permanently
    found = await fetcher.fetch(feeds.url("/redirect?status=302&to=/atom.xml"), now=NOW)
    assert found.final_url == feeds.url("/atom.xml")
    assert not found.moved_permanently


async def test_a_feed_refused_outright(fetcher: FeedFetcher) -> None:
    message = _failed(await fetcher.fetch("http://192.168.0.10/rss", now=NOW), "refused")
    assert "Private-Use" in message


async def test_http_errors_and_unreachable_servers(feeds: FakeFeeds, fetcher: FeedFetcher) -> None:
    assert _failed(await fetcher.fetch(feeds.url("/gone.xml"), now=NOW), "http") == (
        "HTTP 404 Not Found"
    )
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _failed(await fetcher.fetch(f"http://127.0.0.1:{port}/rss.xml", now=NOW), "network")


async def test_backoff_grows_to_its_cap_and_resets_on_success(
    feeds: FakeFeeds, fetcher: FeedFetcher
) -> None:
    state = FeedState()
    now = NOW
    waits = []
    for _ in range(6):
        assert state.is_due(now)
        result = await fetcher.fetch(feeds.url("/status/500"), state, now=now)
        state = result.state
        assert state.next_attempt_at is not None
        waits.append(state.next_attempt_at - now)
        assert not state.is_due(now)
        now = state.next_attempt_at
    assert [wait.total_seconds() / 60 for wait in waits] == [1, 2, 4, 8, 10, 10]
    assert state.failures == 6
    assert state.last_error == "http: HTTP 500 Internal Server Error"
    recovered = await fetcher.fetch(feeds.url("/rss.xml"), state, now=now)
    assert recovered.outcome == "updated"
    assert recovered.state.failures == 0
    assert recovered.state.last_error is None
    assert recovered.state.next_attempt_at == now + timedelta(minutes=30)
    # The next failure starts again from the base.
    again = await fetcher.fetch(feeds.url("/status/500"), recovered.state, now=now)
    assert again.state.failures == 1
    assert again.state.next_attempt_at == now + timedelta(minutes=1)


async def test_retry_after_is_honoured_up_to_the_cap(
    feeds: FakeFeeds, fetcher: FeedFetcher
) -> None:
    result = await fetcher.fetch(feeds.url("/status/429?retry_after=300"), now=NOW)
    assert result.state.next_attempt_at == NOW + timedelta(seconds=300)
    result = await fetcher.fetch(feeds.url("/status/503?retry_after=86400"), now=NOW)
    assert result.state.next_attempt_at == NOW + LIMITS.backoff_max
    # A failed fetch keeps the validators it had.
    kept = FeedState(etag='"x"', last_modified="Mon, 01 Jun 2026 00:00:00 GMT")
    result = await fetcher.fetch(feeds.url("/status/500"), kept, now=NOW)
    assert (result.state.etag, result.state.last_modified) == (kept.etag, kept.last_modified)


async def test_the_item_limit(feeds: FakeFeeds, tmp_path: Path) -> None:
    guard = EgressGuard(allow_hosts=["127.0.0.1"])
    fetcher = FeedFetcher(guard, FeedLimits(max_items=1))
    result = await fetcher.fetch(feeds.url("/rss.xml"), now=NOW)
    assert [item.key for item in result.items] == ["tent-2026"]
    assert result.dropped == 4


def test_limits_come_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        keys_dir=tmp_path,
        feed_fetch_timeout_seconds=3,
        feed_max_bytes=4096,
        feed_max_items=7,
        feed_refresh_minutes=5,
        feed_backoff_base_seconds=10,
        feed_backoff_max_seconds=100,
    )
    limits = FeedLimits.from_settings(settings)
    assert limits == FeedLimits(
        timeout_seconds=3,
        max_bytes=4096,
        max_items=7,
        refresh=timedelta(minutes=5),
        backoff_base=timedelta(seconds=10),
        backoff_max=timedelta(seconds=100),
    )
    assert [limits.backoff(n).total_seconds() for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]
    assert limits.backoff(10_000) == timedelta(seconds=100)
