"""Feed entries normalised: keys, plain text, links and times."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from impl.feeds.items import MAX_KEY, normalise, normalised_items, plain_text, web_link


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>One</p><p>Two <b>bold</b>, <a href='x'>linked</a>.</p>", "One\nTwo bold, linked."),
        ("Fish &amp; chips &lt;3 &eacute;t&#233;", "Fish & chips <3 été"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<style>p{}</style><script>x()</script><template>t</template>seen", "seen"),
        ("  lots\n\n of \t space  ", "lots of space"),
        ("nul\x00 and \x1b[31mescapes\x7f", "nul and [31mescapes"),
        ("lone \ud800 surrogate", "lone ? surrogate"),
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
    ],
)
def test_plain_text(markup: str, text: str) -> None:
    assert plain_text(markup, 100) == text


def test_plain_text_is_cut_with_an_ellipsis() -> None:
    assert plain_text("word " * 10, 12) == "word word…"
    assert len(plain_text("x" * 50, 12)) == 12


def test_text_constructs_are_not_parsed_as_html() -> None:
    assert plain_text("a <b> c\n d", 100, html=False) == "a <b> c\nd"


@pytest.mark.parametrize(
    ("value", "link"),
    [
        ("https://supplier.example/a?b=c", "https://supplier.example/a?b=c"),
        (" http://supplier.example/ ", "http://supplier.example/"),
        ("javascript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("/relative", None),
        ("https://", None),
        ("https://a.example/with space", None),
        ("https://a.example/" + "x" * 3000, None),
        (None, None),
        (42, None),
    ],
)
def test_web_link(value: object, link: str | None) -> None:
    assert web_link(value) == link


def test_keys_and_times() -> None:
    entry = {
        "id": " urn:x:1 ",
        "title": "T",
        "content": [{"type": "text/html", "value": "<p>From content</p>"}],
        "updated_parsed": time.struct_time((2025, 1, 2, 3, 4, 5, 3, 2, 0)),
    }
    item = normalise(entry, "https://feed.example/rss")
    assert item is not None
    assert (item.key, item.summary) == ("urn:x:1", "From content")
    assert item.published_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert item.source == "https://feed.example/rss"
    long = normalise({"id": "k" * (MAX_KEY + 1)}, "s")
    assert long is not None
    assert long.key.startswith("sha256:")
    assert len(long.key) == len("sha256:") + 64
    assert normalise({"title": "no key", "link": "javascript:x"}, "s") is None


def test_dedup_keeps_the_first_of_each_key() -> None:
    entries = [
        {"id": "a", "title": "first"},
        {"link": "https://x.example/b", "title": "by link"},
        {"id": "a", "title": "again"},
        {"title": "no key"},
    ]
    items, dropped = normalised_items(entries, "s", limit=10)
    assert [(i.key, i.title) for i in items] == [("a", "first"), ("https://x.example/b", "by link")]
    assert dropped == 2
