"""In OpenAPI 3.0 nothing beside a ``$ref`` is read: the generator's working copy drops it.

A 3.0 Reference Object "cannot be extended with additional properties and any properties
added SHALL be ignored", and a 3.0 Schema Object's ``$ref`` is draft 4's, which stands for its
target (the rule :mod:`specfirst.document` applies for every tool). The model generator reads
the siblings as 3.1 does, so they are dropped from the generator's working copy of a 3.0
document first, and each that would have changed the code (``nullable``, ``maxLength``,
``default``, ``required``, …, not ``description`` and other annotations) is a warning naming
it. The served document keeps them.
"""

from __future__ import annotations

import copy
from typing import Any

from codegen.errors import join_pointer, unescape_pointer_token
from specfirst.document import is_ref

# Annotations: dropping them changes no code, so they go without a warning.
_QUIET = frozenset(
    {"description", "summary", "title", "example", "examples", "deprecated", "externalDocs"}
)
# Keywords whose values are data, not schemas or references.
_DATA = frozenset({"example", "examples", "default", "enum", "const"})


def _walk(node: Any, pointer: str, found: list[str], drop: bool) -> None:
    if isinstance(node, dict):
        if is_ref(node) and len(node) > 1:
            found.extend(join_pointer(pointer, key) for key in node if key != "$ref")
            if drop:
                for key in [key for key in node if key != "$ref"]:
                    del node[key]
            return
        for key, value in node.items():
            if key not in _DATA:
                _walk(value, join_pointer(pointer, key), found, drop)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, join_pointer(pointer, index), found, drop)


def drop_ignored_siblings(document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """For a 3.0 document, a copy without the keywords beside its ``$ref``s, and the pointer
    of each dropped one that is not an annotation; any other document as it is."""
    if not str(document.get("openapi", "")).startswith("3.0"):
        return document, []
    found: list[str] = []
    _walk(document, "", found, drop=False)
    if not found:
        return document, []
    result = copy.deepcopy(document)
    _walk(result, "", [], drop=True)
    names = [(pointer, unescape_pointer_token(pointer.rsplit("/", 1)[1])) for pointer in found]
    return result, [p for p, name in names if name not in _QUIET and not name.startswith("x-")]
