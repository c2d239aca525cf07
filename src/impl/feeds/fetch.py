"""Fetching one RSS or Atom feed: conditional, bounded in time and size, through the egress guard.

`FeedFetcher.fetch(url, state)` never raises for what a feed or its server does: every outcome
is a `FetchResult` (updated, not modified, or failed with a `FeedError`) carrying the feed's
next `FeedState`, which the caller stores and hands back next time. The state holds the
validators of the conditional GET (`ETag`, `Last-Modified`) and the backoff: after `n`
failures in a row the next attempt waits `base * 2**(n-1)`, at most `max` (longer if the server
asked, by `Retry-After`, still at most `max`); a success resets it.
"""

from __future__ import annotations

import asyncio
import io
import xml.sax
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

import feedparser
import httpx

from impl.feeds.items import (
    MAX_TITLE,
    FeedItem,
    is_html,
    normalised_items,
    plain_text,
    web_link,
)
from impl.kit.clock import utcnow
from impl.kit.egress import EgressGuard, EgressRefused

if TYPE_CHECKING:
    from impl.settings import Settings

ErrorKind = Literal["refused", "timeout", "too_large", "http", "network", "malformed", "not_a_feed"]
Outcome = Literal["updated", "not_modified", "failed"]

USER_AGENT = "Storefront-FeedFetcher/1.0"
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
# What feedparser flags but parses correctly all the same: a feed served as text/html, or in
# another encoding than it declares. Anything else it flags (SAX errors: not well-formed XML)
# is a malformed feed, however much its lenient parser recovered.
_HARMLESS = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_MAX_MESSAGE = 300
_MAX_VALIDATOR = 512


@dataclass(frozen=True)
class FeedError:
    kind: ErrorKind
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class FeedState:
    """What the caller keeps per feed between fetches (all of it plain data)."""

    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0  # in a row; 0 after a success
    next_attempt_at: datetime | None = None  # None: due now
    last_error: str | None = None
    last_success_at: datetime | None = None

    def is_due(self, now: datetime) -> bool:
        return self.next_attempt_at is None or now >= self.next_attempt_at


@dataclass(frozen=True)
class FeedLimits:
    timeout_seconds: float = 15.0  # the whole fetch: resolving, connecting, every hop, the body
    max_bytes: int = 5 << 20  # the body, decompressed; past it the download is abandoned
    max_items: int = 200
    refresh: timedelta = timedelta(minutes=30)
    backoff_base: timedelta = timedelta(minutes=1)
    backoff_max: timedelta = timedelta(hours=6)

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedLimits:
        return cls(
            timeout_seconds=settings.feed_fetch_timeout_seconds,
            max_bytes=settings.feed_max_bytes,
            max_items=settings.feed_max_items,
            refresh=timedelta(minutes=settings.feed_refresh_minutes),
            backoff_base=timedelta(seconds=settings.feed_backoff_base_seconds),
            backoff_max=timedelta(seconds=settings.feed_backoff_max_seconds),
        )

    def backoff(self, failures: int, retry_after: timedelta | None = None) -> timedelta:
        """How long to wait after the `failures`-th failure in a row."""
        exponent = min(max(failures, 1) - 1, 40)  # 2**40 times any base is past any cap
        delay = min(self.backoff_base * float(2**exponent), self.backoff_max)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay


@dataclass(frozen=True)
class FeedInfo:
    title: str
    link: str | None


@dataclass(frozen=True)
class FetchResult:
    url: str
    outcome: Outcome
    state: FeedState  # store this: it is the feed's next state
    final_url: str | None = None  # where the feed was found, after redirects
    moved_permanently: bool = False  # every redirect was 301/308: `final_url` may replace `url`
    feed: FeedInfo | None = None
    items: tuple[FeedItem, ...] = ()  # deduplicated by key, first kept
    dropped: int = 0  # entries without a key, repeated keys, past the item limit
    error: FeedError | None = None


class _Failed(Exception):
    def __init__(self, error: FeedError, retry_after: timedelta | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass
class _Download:
    status: int
    headers: httpx.Headers
    final_url: str
    moved_permanently: bool
    body: bytes = field(default=b"", repr=False)


class FeedFetcher:
    def __init__(
        self,
        guard: EgressGuard,
        limits: FeedLimits | None = None,
        *,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.guard = guard
        self.limits = limits or FeedLimits()
        self.user_agent = user_agent

    async def fetch(
        self, url: str, state: FeedState | None = None, *, now: datetime | None = None
    ) -> FetchResult:
        """Fetch `url` once (whether or not it is due: `state.is_due` says that)."""
        state = state or FeedState()
        now = now or utcnow()
        try:
            download = await self._download(url, state)
        except _Failed as failed:
            return self._failed(url, state, now, failed.error, failed.retry_after)
        if download.status == 304:
            return self._fetched(url, "not_modified", state, download, now)
        try:
            parsed = await asyncio.to_thread(_parse, download)
            items, dropped = normalised_items(parsed.entries, url, self.limits.max_items)
            feed = _feed_info(parsed.get("feed") or {})
        except _Failed as failed:
            return self._failed(url, state, now, failed.error, None)
        except Exception as error:  # feedparser's own failure is the feed's, not the caller's
            return self._failed(url, state, now, FeedError("malformed", _describe(error)), None)
        return self._fetched(url, "updated", state, download, now, feed, items, dropped)

    def _fetched(
        self,
        url: str,
        outcome: Outcome,
        state: FeedState,
        download: _Download,
        now: datetime,
        feed: FeedInfo | None = None,
        items: tuple[FeedItem, ...] = (),
        dropped: int = 0,
    ) -> FetchResult:
        next_state = self._succeeded(state, download, now)
        return FetchResult(
            url,
            outcome,
            next_state,
            download.final_url,
            download.moved_permanently,
            feed,
            items,
            dropped,
        )

    async def _download(self, url: str, state: FeedState) -> _Download:
        limits = self.limits
        try:
            async with asyncio.timeout(limits.timeout_seconds):
                return await self._exchange(url, state)
        except TimeoutError:
            message = f"the fetch took longer than {limits.timeout_seconds:g} s"
            raise _Failed(FeedError("timeout", message)) from None
        except EgressRefused as refused:
            raise _Failed(FeedError("refused", _bounded(refused.reason))) from None
        except httpx.TimeoutException as error:
            raise _Failed(FeedError("timeout", _describe(error))) from None
        except httpx.HTTPError as error:
            raise _Failed(FeedError("network", _describe(error))) from None

    async def _exchange(self, url: str, state: FeedState) -> _Download:
        headers = {
            "Accept": _ACCEPT,
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": self.user_agent,
        }
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        max_bytes = self.limits.max_bytes
        timeout = self.limits.timeout_seconds
        async with self.guard.stream("GET", url, headers=headers, http_timeout=timeout) as response:
            download = _Download(
                response.status_code,
                response.headers,
                str(response.url),
                bool(response.history)
                and all(hop.status_code in (301, 308) for hop in response.history),
            )
            if response.status_code == 304:
                return download
            if not 200 <= response.status_code < 300 or response.status_code == 204:
                message = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                raise _Failed(FeedError("http", message), _retry_after(response))
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _Failed(_too_large(max_bytes, f"declares {declared} bytes"))
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise _Failed(_too_large(max_bytes, "kept growing"))
            download.body = bytes(body)
            return download

    def _succeeded(self, state: FeedState, download: _Download, now: datetime) -> FeedState:
        def validator(name: str, old: str | None) -> str | None:
            # A 304 need not repeat the validators; a 200 without them has none any more.
            new = _validator(download.headers.get(name))
            return old if new is None and download.status == 304 else new

        return FeedState(
            etag=validator("etag", state.etag),
            last_modified=validator("last-modified", state.last_modified),
            failures=0,
            next_attempt_at=now + self.limits.refresh,
            last_error=None,
            last_success_at=now,
        )

    def _failed(
        self,
        url: str,
        state: FeedState,
        now: datetime,
        error: FeedError,
        retry_after: timedelta | None,
    ) -> FetchResult:
        failures = state.failures + 1
        next_state = replace(
            state,
            failures=failures,
            next_attempt_at=now + self.limits.backoff(failures, retry_after),
            last_error=str(error),
        )
        return FetchResult(url, "failed", next_state, error=error)


def _parse(download: _Download) -> Any:
    """The feed in `download.body`, parsed by feedparser; `_Failed` if it is not a good feed."""
    if not download.body.strip():
        raise _Failed(FeedError("not_a_feed", "the response is empty"))
    parsed = feedparser.parse(
        io.BytesIO(download.body),
        response_headers={
            "content-type": download.headers.get("content-type", "application/xml"),
            "content-location": download.final_url,  # relative links resolve against it
        },
    )
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if problem is not None and isinstance(problem, _HARMLESS):
        problem = None
    if not parsed.get("version"):
        why = f" ({_problem(problem)})" if problem is not None else ""
        raise _Failed(
            FeedError("not_a_feed", _bounded(f"no RSS or Atom feed in the response{why}"))
        )
    if problem is not None:
        raise _Failed(FeedError("malformed", _bounded(_problem(problem))))
    return parsed


def _problem(problem: BaseException) -> str:
    if isinstance(problem, xml.sax.SAXParseException):
        where = f"line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
        return f"not well-formed XML at {where}: {problem.getMessage()}"
    return _describe(problem)


def _feed_info(info: Any) -> FeedInfo:
    title = info.get("title")
    return FeedInfo(
        plain_text(title, MAX_TITLE, html=is_html(info.get("title_detail")))
        if isinstance(title, str)
        else "",
        web_link(info.get("link")),
    )


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("retry-after", "").strip()
    if response.status_code not in (429, 503) or not value:
        return None
    if value.isdigit():
        return timedelta(seconds=min(int(value), 10**9))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - utcnow(), timedelta(0))


def _too_large(max_bytes: int, how: str) -> FeedError:
    return FeedError("too_large", f"the feed {how}, past the limit of {max_bytes} bytes")


def _validator(value: str | None) -> str | None:
    # A validator is echoed back in a request header: keep it printable and short.
    if value is None or len(value) > _MAX_VALIDATOR or not value.isprintable():
        return None
    return value


def _describe(error: BaseException) -> str:
    return _bounded(str(error) or type(error).__name__)


def _bounded(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"
