"""Entity tags and the If-Match precondition (RFC 9110 §8.8.3, §13.1.1)."""

from __future__ import annotations

import re

# opaque-tag = DQUOTE *etagc DQUOTE; etagc excludes DQUOTE, controls, space and DEL.
_ENTITY_TAG = re.compile(r'(W/)?"([^"\x00-\x20\x7f]*)"')
_LIST_SEPARATORS = " \t,"


def strong_etag(opaque: str) -> str:
    """Quote `opaque` as a strong entity tag: `abc` -> `"abc"`."""
    return f'"{opaque}"'


def parse_entity_tags(header: str) -> list[str] | None:
    """Opaque parts of a comma-separated entity-tag list, `W/` dropped; None if malformed.

    Quoted tags may contain commas, so this scans tags rather than splitting on ",".
    """
    tags: list[str] = []
    position = 0
    while position < len(header):
        if header[position] in _LIST_SEPARATORS:
            position += 1
            continue
        match = _ENTITY_TAG.match(header, position)
        if match is None:
            return None
        position = match.end()
        if position < len(header) and header[position] not in _LIST_SEPARATORS:
            return None
        tags.append(match.group(2))
    return tags


def if_match_satisfied(if_match: str, current_etag: str) -> bool:
    """Whether an If-Match header value lets a change to a resource tagged `current_etag` go on.

    `*` matches any existing resource. RFC 9110 asks for strong comparison here; weak tags
    are accepted on purpose, because compressing proxies weaken the ETags they forward and
    our tags are versions, which are exact either way. A malformed header matches nothing.
    """
    if if_match.strip() == "*":
        return True
    current = parse_entity_tags(current_etag)
    wanted = parse_entity_tags(if_match)
    if not current or not wanted:
        return False
    return current[0] in wanted
