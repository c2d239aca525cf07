"""Feed entries as Storefront keeps them: plain text, UTC times, one item per dedup key."""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

# Bounds on what one item keeps: what a news list shows, and what a row may hold.
MAX_KEY = 1024
MAX_TITLE = 500
MAX_LINK = 2048
MAX_SUMMARY = 2000

# Elements that end a line of text when their markup is dropped.
_BLOCKS = frozenset(
    (
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr"),
        "ul",
    )
)
# Elements whose content is not text a reader sees.
_HIDDEN = frozenset({"script", "style", "template", "noscript", "head", "title", "svg", "math"})
_SPACES = re.compile(r"[^\S\n]+")
_HTML_SPACES = re.compile(r"\s+")
# Characters no text column stores (NUL) or a reader wants (other C0/C1 controls).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed.

    `key` is the entry's guid (RSS) or id (Atom), else its link: what deduplicates it within
    a feed and across fetches. Text is plain (markup dropped, entities decoded), times UTC.
    """

    key: str
    title: str
    link: str | None
    summary: str
    published_at: datetime | None
    source: str


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        # In HTML a line break is a space: lines come from the elements around the text.
        if not self._hidden:
            self.parts.append(_HTML_SPACES.sub(" ", data))


def plain_text(value: str, limit: int, *, html: bool = True) -> str:
    """The text a reader sees in `value` (HTML, or text if not `html`): no tags, entities
    decoded, spaces collapsed, one line per block, at most `limit` characters (cut with an
    ellipsis)."""
    if html:
        parser = _TextOf()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    text = _CONTROLS.sub("", value)
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = "\n".join(line for line in lines if line)
    if len(text) > limit:
        cut = text[: limit - 1]
        if not text[limit - 1].isspace() and (space := cut.rfind(" ")) > limit // 2:
            cut = cut[:space]  # at a word's end when there is one not far back
        text = cut.rstrip() + "…"
    return text


def web_link(value: object) -> str | None:
    """`value` if it is an absolute http(s) URL of bounded length (never `javascript:`)."""
    if not isinstance(value, str):
        return None
    link = value.strip()
    if len(link) > MAX_LINK or _CONTROLS.search(link) or " " in link:
        return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    return link if parts.scheme in ("http", "https") and parts.netloc else None


def _key(entry: Mapping[str, Any], link: str | None) -> str | None:
    raw = entry.get("id") or entry.get("guid") or link
    if not isinstance(raw, str) or not raw.strip():
        return None
    key = _CONTROLS.sub("", raw.strip())
    if len(key) > MAX_KEY or not key:
        return "sha256:" + hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()
    return key


def _published(entry: Mapping[str, Any]) -> datetime | None:
    # feedparser parses RFC 822, ISO 8601 and friends into UTC struct_time values.
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(field)
        if isinstance(parsed, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def is_html(detail: object) -> bool:
    # feedparser says what a text construct holds: text/plain, text/html or xhtml.
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    return kind != "text/plain"


def _summary(entry: Mapping[str, Any]) -> str:
    summary = entry.get("summary")
    if isinstance(summary, str) and summary.strip():
        return plain_text(summary, MAX_SUMMARY, html=is_html(entry.get("summary_detail")))
    for content in entry.get("content") or ():
        value = content.get("value") if isinstance(content, Mapping) else None
        if isinstance(value, str) and value.strip():
            return plain_text(value, MAX_SUMMARY, html=is_html(content))
    return ""


def normalise(entry: Mapping[str, Any], source: str) -> FeedItem | None:
    """A feedparser entry as a `FeedItem`, or None if it has neither guid/id nor link."""
    link = web_link(entry.get("link"))
    key = _key(entry, link)
    if key is None:
        return None
    title = entry.get("title")
    return FeedItem(
        key=key,
        title=(
            plain_text(title, MAX_TITLE, html=is_html(entry.get("title_detail")))
            if isinstance(title, str)
            else ""
        ),
        link=link,
        summary=_summary(entry),
        published_at=_published(entry),
        source=source,
    )


def normalised_items(
    entries: Iterable[Mapping[str, Any]], source: str, limit: int
) -> tuple[tuple[FeedItem, ...], int]:
    """The feed's items, first of each key kept, at most `limit`; and how many were dropped
    (no key, a repeated key, or past the limit)."""
    kept: dict[str, FeedItem] = {}
    dropped = 0
    for entry in entries:
        item = normalise(entry, source)
        if item is None or item.key in kept or len(kept) >= limit:
            dropped += 1
            continue
        kept[item.key] = item
    return tuple(kept.values()), dropped
