"""Required properties that a schema names but does not declare get a schema of their own.

``required: [group]`` with no ``properties.group`` still means an instance must have a
``group`` member, of any value (JSON Schema). The model generator leaves such names out, so
the models would accept an instance without them and the mock would answer one. In the
generator's working copy each gets an empty schema (any value), so the field is required;
the served document is not touched.
"""

from __future__ import annotations

import copy
from typing import Any

_COMPOSED = ("$ref", "allOf", "anyOf", "oneOf")


def _undeclared(node: dict[str, Any]) -> list[str]:
    required = node.get("required")
    # Composition may declare the name elsewhere (`allOf: [{$ref: Base}, {required: [id]}]`
    # makes a property of Base required): only a schema that stands alone is completed.
    if not isinstance(required, list) or any(key in node for key in _COMPOSED):
        return []
    properties = node.get("properties")
    declared = properties if isinstance(properties, dict) else {}
    return [name for name in required if isinstance(name, str) and name not in declared]


def _walk(node: Any, found: list[dict[str, Any]], member: bool = False) -> None:
    if isinstance(node, dict):
        if not member and _undeclared(node):
            found.append(node)
        for key, value in node.items():
            if key in _COMPOSED[1:] and isinstance(value, list):
                for item in value:
                    _walk(item, found, member=True)
            else:
                _walk(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, found)


def declare_required(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` where every required property name has a schema (``{}``)."""
    found: list[dict[str, Any]] = []
    _walk(document, found)
    if not found:
        return document
    result = copy.deepcopy(document)
    found = []
    _walk(result, found)
    for node in found:
        properties = node.get("properties")
        if not isinstance(properties, dict):
            properties = node["properties"] = {}
        for name in _undeclared(node):
            properties[name] = {}
    return result
