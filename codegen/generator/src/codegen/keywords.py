"""Validation keywords that do not apply to a schema's type are left out of the code.

JSON Schema applies ``minimum`` only to numbers and ``minLength`` only to strings: on a value
of another type such a keyword says nothing. Real documents put them on the wrong type
(spacetraders.io: ``{type: string, format: date-time, minimum: 0}``), and the model
generator turns them into constraints that fail on every value (``Field(ge=0)`` on a
datetime), so they are dropped from the generator's working copy, each with a warning. The
served document keeps them.
"""

from __future__ import annotations

import copy
from typing import Any

from codegen.errors import escape_pointer_token

NUMERIC = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
TEXTUAL = ("minLength", "maxLength", "pattern")
_ONLY = {"string": NUMERIC, "integer": TEXTUAL, "number": TEXTUAL, "boolean": NUMERIC + TEXTUAL}


def _inapplicable(node: dict[str, Any]) -> list[str]:
    kind = node.get("type")
    if isinstance(kind, list):  # 3.1: `[string, "null"]` is still one type with null
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if not isinstance(kind, str) or kind not in _ONLY:
        return []
    return [key for key in _ONLY[kind] if key in node and not isinstance(node[key], dict)]


def _walk(node: Any, pointer: str, found: list[tuple[str, str]], drop: bool) -> None:
    if isinstance(node, dict):
        for key in _inapplicable(node):
            found.append((f"{pointer}/{key}", key))
            if drop:
                del node[key]
        for key, value in node.items():
            if key not in ("example", "examples", "default", "enum", "const"):
                _walk(value, f"{pointer}/{escape_pointer_token(key)}", found, drop)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, f"{pointer}/{index}", found, drop)


def drop_inapplicable(document: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A copy without the keywords that cannot apply to their schema's type, and the pointer
    and name of each one dropped."""
    found: list[tuple[str, str]] = []
    _walk(document, "", found, drop=False)
    if not found:
        return document, []
    result = copy.deepcopy(document)
    _walk(result, "", [], drop=True)
    return result, found
