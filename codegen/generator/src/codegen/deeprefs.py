"""Schemas referenced from inside another schema, or from outside ``components/schemas``,
become component schemas of their own.

Bundlers (APIs.guru's, for one) write references into the middle of a component:
``#/components/schemas/Server/properties/ipConfiguration/allOf/0``. They are valid, but the
model generator builds names and pointers from them (its readOnly/writeOnly variants append
``Request`` to the last token: ``allOf/0Request``, an invalid pointer), and a class for a
schema that has no name of its own is named after nothing. A schema may also reference one
elsewhere in the document (``#/paths/~1orders/post/responses/202/content/application~1json/
schema/properties/id``, ``#/components/parameters/Limit/schema``), which the model generator,
given the component schemas only, cannot resolve: it typed such a property ``Any``. So,
before models are made, each such target moves to ``components/schemas`` under a name made
of its path, its old place becomes a reference to it, and every reference into it follows.
The served document is not touched: this is the generator's working copy.
"""

from __future__ import annotations

import copy
from typing import Any

from codegen.naming import NameTable, pascal
from specfirst.document import escape, fragment, join, lookup, split

PREFIX = "#/components/schemas/"
# Keywords of a schema's path that say nothing about what the schema is.
_STRUCTURAL = {"properties", "items", "additionalProperties", "schema", "content"}
# ... nor, in a pointer from the document's root, these.
_ROOTS = {"paths", "webhooks", "components"}
# Where a schema starts outside components/schemas (parameters, headers, media types).
_SCHEMA_KEYS = {"schema", "itemSchema", "x-item-schema"}
# Keywords of a schema whose members are named schemas, and those whose values are data.
_NAMED_SCHEMAS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
_DATA = {"default", "example", "examples", "enum", "const"}


def _tokens(ref: str) -> list[str]:
    """The pointer's tokens from the document's root (percent-decoded, unescaped)."""
    return split(fragment(ref))


def _deep(ref: str) -> bool:
    return ref.startswith(PREFIX) and "/" in ref[len(PREFIX) :]


def _foreign(ref: str) -> bool:
    """A local reference to a schema that is not among the component schemas."""
    return ref.startswith("#/") and not ref.startswith(PREFIX)


def _schema_refs(schema: Any, found: set[str]) -> None:
    """The foreign references of ``schema`` and its subschemas (not of the data in it)."""
    if isinstance(schema, list):
        for value in schema:
            _schema_refs(value, found)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and _foreign(ref):
        found.add(ref)
    for key, value in schema.items():
        if key in _NAMED_SCHEMAS and isinstance(value, dict):
            for member in value.values():
                _schema_refs(member, found)
        elif key not in _DATA:
            _schema_refs(value, found)


def _foreign_refs(node: Any, found: set[str]) -> None:
    """The foreign references of the schemas in ``node``, a part of the document outside
    schemas: those under ``schema`` keys (parameters, headers, media types)."""
    if isinstance(node, list):
        for value in node:
            _foreign_refs(value, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in _SCHEMA_KEYS:
                _schema_refs(value, found)
            elif key not in _DATA:
                _foreign_refs(value, found)


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and _deep(ref):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _rewrite(node: Any, old: str, new: str) -> None:
    """Point references at ``old`` or inside it at ``new`` instead."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and (ref == old or ref.startswith(old + "/")):
            node["$ref"] = new + ref[len(old) :]
        for value in node.values():
            _rewrite(value, old, new)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value, old, new)


def _locate(document: dict[str, Any], tokens: list[str]) -> tuple[Any, str | int] | None:
    """The container holding the target and its key, or None when the pointer is broken."""
    try:
        node = lookup(document, join("", *tokens[:-1]))
    except KeyError:
        return None
    last = tokens[-1]
    if isinstance(node, dict) and last in node:
        return node, last
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        return node, int(last)
    return None


def hoist_deep_refs(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A copy of ``document`` whose schema references all name a component schema.

    Returns the copy and, for each moved schema, its new name -> its old JSON pointer.
    """
    found: set[str] = set()
    _refs(document, found)
    _foreign_refs({k: v for k, v in document.items() if k != "components"}, found)
    components = document.get("components") or {}
    _foreign_refs({k: v for k, v in components.items() if k != "schemas"}, found)
    for schema in (components.get("schemas") or {}).values():
        _schema_refs(schema, found)
    if not found:
        return document, {}
    result = copy.deepcopy(document)
    schemas: dict[str, Any] = result.setdefault("components", {}).setdefault("schemas", {})
    names = NameTable(set(schemas))
    moved: dict[str, str] = {}
    while found:
        # The shallowest first: a target inside another one moves with it, then on its own.
        ref = min(found, key=lambda r: (r.count("/"), r))
        found.discard(ref)
        tokens = _tokens(ref)
        place = _locate(result, tokens)
        if place is None or not isinstance(place[0][place[1]], dict):
            continue  # a broken pointer, or one through a $ref: the validator's to report
        container, key = place
        if _deep(ref):
            words = [tokens[2], *(t for t in tokens[3:] if t not in _STRUCTURAL)]
        else:
            words = [t for t in tokens if t not in _STRUCTURAL | _ROOTS]
        name = names.claim(pascal(" ".join(words)))
        new = PREFIX + escape(name)
        schemas[name] = container[key]
        container[key] = {"$ref": new}
        moved[name] = join("", *tokens)
        _rewrite(result, ref, new)
        found = {new + r[len(ref) :] if r.startswith(ref + "/") else r for r in found}
        found = {r for r in found if _deep(r) or _foreign(r)}
    return result, moved
