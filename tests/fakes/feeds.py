"""A fake feed server over real HTTP on loopback: good feeds and every way a feed goes wrong.

Documents are served from `FakeFeeds.documents` (with their `ETag` / `Last-Modified`, and a
304 to a request that presents them); besides those:

- `/hang`: never answers (until the client goes away);
- `/drip`: answers 200, then sends a byte of a feed every `drip_seconds`, forever;
- `/endless`: answers 200 and streams a feed that never ends (counting what it sent);
- `/large`: declares (and sends) a body of `large_bytes`;
- `/gzip-bomb`: a small gzip body that inflates to `large_bytes`;
- `/redirect?to=URL&status=302`: a redirect to `URL`;
- `/status/{code}?retry_after=S`: that status (with `Retry-After: S`);
- `/echo.xml`: an RSS feed whose title is the request's `Host` and whose item summaries are
  the request's headers.

Every request is recorded (path and headers) in `requests`.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.serving import serve

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
  <channel>
    <title>Supplier &amp; Co news</title>
    <link>https://supplier.example/</link>
    <description>What the supplier says</description>
    <item>
      <guid isPermaLink="false">tent-2026</guid>
      <title>New tents &lt;b&gt;in stock&lt;/b&gt;</title>
      <link>https://supplier.example/news/tents</link>
      <description>&lt;p&gt;Our &lt;a href="/tents"&gt;tents&lt;/a&gt; are back
        &amp;amp; cheaper.&lt;/p&gt;&lt;script&gt;steal()&lt;/script&gt;&lt;p&gt;Order
        now.&lt;/p&gt;</description>
      <pubDate>Tue, 03 Jun 2025 09:39:21 +0200</pubDate>
    </item>
    <item>
      <title>Only a link</title>
      <link>https://supplier.example/news/link-only</link>
      <description>Plain words</description>
      <pubDate>Mon, 02 Jun 2025 08:00:00 GMT</pubDate>
    </item>
    <item>
      <guid isPermaLink="false">tent-2026</guid>
      <title>The same tents again</title>
    </item>
    <item>
      <title>Neither guid nor link</title>
      <description>Nothing to tell it apart by</description>
    </item>
    <item>
      <guid isPermaLink="false">script-link</guid>
      <title>A link that is a script</title>
      <link>javascript:alert(1)</link>
    </item>
  </channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">Market &lt;em&gt;watch&lt;/em&gt;</title>
  <link href="https://market.example/"/>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2025-06-03T10:00:00Z</updated>
  <entry>
    <title>Prices rise</title>
    <link href="https://market.example/prices"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2025-06-03T10:00:00+02:00</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"
      ><p>Canvas is <strong>up</strong> 4%.</p><p>Steel is flat.</p></div></content>
  </entry>
  <entry>
    <title type="text">Plain &lt;tags&gt; stay</title>
    <link href="/plain"/>
    <id>tag:market.example,2025:2</id>
    <published>2025-06-01T00:00:00Z</published>
    <summary>A b &lt; c</summary>
  </entry>
</feed>
"""

MALFORMED = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Broken</title>
<item><title>Unclosed</item></channel></rss>
"""

HTML_PAGE = b"<!doctype html><html><head><title>Not a feed</title></head><body>hi</body></html>"

# An external entity naming a local file: the parser must not read it into the feed.
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>XXE</title>
<item><guid>x</guid><title>&secret;</title></item></channel></rss>
"""


@dataclass
class Document:
    body: bytes
    content_type: str = "application/rss+xml"
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FakeFeeds:
    base_url: str = ""
    documents: dict[str, Document] = field(
        default_factory=lambda: {
            "/rss.xml": Document(RSS, etag='"rss-v1"'),
            "/atom.xml": Document(
                ATOM, "application/atom+xml", last_modified="Tue, 03 Jun 2025 10:00:00 GMT"
            ),
            "/malformed.xml": Document(MALFORMED),
            "/page.html": Document(HTML_PAGE, "text/html"),
            "/xxe.xml": Document(XXE),
        }
    )
    requests: list[Seen] = field(default_factory=list)
    drip_seconds: float = 0.2
    large_bytes: int = 2 << 20
    endless_sent: int = 0

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def seen(self, path: str) -> list[Seen]:
        return [request for request in self.requests if request.path == path]


def _app(feeds: FakeFeeds) -> Starlette:
    async def until_gone(request: Request) -> None:
        # The request's body is read: the next message is the client going away.
        while (await request.receive())["type"] != "http.disconnect":
            pass

    async def document(request: Request) -> Response:
        found = feeds.documents.get(request.url.path)
        if found is None:
            return Response("no such feed", status_code=404)
        headers = {}
        if found.etag:
            headers["ETag"] = found.etag
        if found.last_modified:
            headers["Last-Modified"] = found.last_modified
        fresh = (found.etag and request.headers.get("if-none-match") == found.etag) or (
            found.last_modified and request.headers.get("if-modified-since") == found.last_modified
        )
        if fresh:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.content_type, headers=headers)

    async def hang(request: Request) -> Response:
        await until_gone(request)
        return Response(status_code=204)

    async def drip(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>'
            while True:
                await asyncio.sleep(feeds.drip_seconds)
                yield b"z"

        return StreamingResponse(body(), media_type="application/rss+xml")

    async def endless(request: Request) -> Response:
        chunk = b"<item><title>more</title></item>" * 512

        async def body() -> AsyncIterator[bytes]:
            yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>Endless</title>'
            # Until the client goes away (uvicorn drops what is sent after that, silently),
            # and at most 1 GiB, so a broken client cannot keep it running.
            while feeds.endless_sent < 1 << 30 and not await request.is_disconnected():
                feeds.endless_sent += len(chunk)
                yield chunk

        return StreamingResponse(body(), media_type="application/rss+xml")

    async def large(request: Request) -> Response:
        return Response(b" " * feeds.large_bytes, media_type="application/rss+xml")

    async def gzip_bomb(request: Request) -> Response:
        body = gzip.compress(b"<!-- " + b" " * feeds.large_bytes + b" -->", compresslevel=9)
        return Response(
            body, media_type="application/rss+xml", headers={"Content-Encoding": "gzip"}
        )

    async def redirect(request: Request) -> Response:
        status = int(request.query_params.get("status", "302"))
        return RedirectResponse(request.query_params["to"], status_code=status)

    async def status(request: Request) -> Response:
        headers = {}
        if retry_after := request.query_params.get("retry_after"):
            headers["Retry-After"] = retry_after
        return Response("no", status_code=int(request.path_params["code"]), headers=headers)

    async def echo(request: Request) -> Response:
        items = "".join(
            f"<item><guid>{escape(name)}</guid><title>{escape(name)}</title>"
            f"<description>{escape(value)}</description></item>"
            for name, value in request.headers.items()
        )
        body = (
            f'<?xml version="1.0"?><rss version="2.0"><channel>'
            f"<title>{escape(request.headers.get('host', ''))}</title>{items}</channel></rss>"
        )
        return Response(body, media_type="application/rss+xml")

    return Starlette(
        routes=[
            Route("/hang", hang),
            Route("/drip", drip),
            Route("/endless", endless),
            Route("/large", large),
            Route("/gzip-bomb", gzip_bomb),
            Route("/redirect", redirect, methods=["GET", "POST"]),
            Route("/status/{code:int}", status),
            Route("/echo.xml", echo),
            Route("/{path:path}", document),
        ],
        middleware=[Middleware(_Recorder, feeds=feeds)],
    )


class _Recorder:
    """Records every request's path and headers before the app sees it."""

    def __init__(self, app: ASGIApp, feeds: FakeFeeds) -> None:
        self.app = app
        self.feeds = feeds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self.feeds.requests.append(Seen(scope["path"], headers))
        await self.app(scope, receive, send)


@contextmanager
def serve_feeds(
    *, certfile: Path | None = None, keyfile: Path | None = None
) -> Iterator[FakeFeeds]:
    """The fake feed server on a free loopback port (HTTPS with `certfile` and `keyfile`)."""
    feeds = FakeFeeds()
    with serve(_app(feeds), certfile=certfile, keyfile=keyfile) as served:
        feeds.base_url = served.base_url
        yield feeds
