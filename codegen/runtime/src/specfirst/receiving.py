"""The receiving side's document: webhooks and callbacks as ordinary path operations.

A webhook or callback has no path in its document (the consumer chooses where to receive it),
so tools that read only ``paths`` (schemathesis, Swagger UI, client generators) do not see
it. :func:`as_paths` derives the document a receiver serves: each webhook or callback it
mounts, as an ordinary operation at the path it is mounted at. A generated ``receiver``
package calls it with its own document and operations (``receiver.as_paths(paths)``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .document import METHODS, Document, RefError, split, unescape

# The Path Item Object's fixed fields for methods (3.2's ``query`` among them); any other
# method is one of its ``additionalOperations``.
_FIXED = frozenset(METHODS)
# Where the sender's own paths and webhooks are kept when a reference points into them.
SENDER_KEY = "x-specfirst-sender"
_MOVED = ("paths", "webhooks")


def _follow(document: Mapping[str, Any], node: Any) -> Any:
    """``node`` with its local ``$ref`` chain followed (a Reference, a referenced path item)."""
    try:
        return Document(document).target(node)
    except RefError as error:
        raise ValueError(str(error)) from None


def _at(document: Mapping[str, Any], pointer: str) -> Any:
    """The node at a JSON pointer, following the references on the way."""
    node: Any = document
    for key in split(pointer):
        node = _follow(document, node)
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise ValueError(f"the document has nothing at {pointer}")
    return _follow(document, node)


def _operation(document: Mapping[str, Any], pointer: str) -> tuple[str, dict[str, Any]]:
    """The method and a copy of the operation at ``pointer``, its path item's parameters
    merged into its own (its own win, by name and location), and without ``servers``."""
    parent, _, method = pointer.rpartition("/")
    method = unescape(method)
    item_pointer, _, extra = parent.rpartition("/")
    if extra != "additionalOperations":
        item_pointer = parent
    item = _at(document, item_pointer)
    operation = copy.deepcopy(dict(_at(document, pointer)))
    own = operation.get("parameters") or []
    taken = {(p.get("name"), p.get("in")) for p in (_follow(document, q) for q in own)}
    shared = [
        copy.deepcopy(p)
        for p in item.get("parameters") or []
        if (_follow(document, p).get("name"), _follow(document, p).get("in")) not in taken
    ]
    if shared:
        operation["parameters"] = [*shared, *own]
    operation.pop("servers", None)
    return method, operation


def _point_into_sender(node: Any) -> bool:
    """Rewrite references into the sender's paths or webhooks to their kept copy; whether
    there were any."""
    found = False
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and any(
            ref == f"#/{key}" or ref.startswith(f"#/{key}/") for key in _MOVED
        ):
            node["$ref"] = f"#/{SENDER_KEY}{ref.partition('#')[2]}"  # rewritten, not followed
            found = True
        for value in node.values():
            found = _point_into_sender(value) or found
    elif isinstance(node, list):
        for value in node:
            found = _point_into_sender(value) or found
    return found


def as_paths(
    document: Mapping[str, Any], sources: Mapping[str, str], paths: Mapping[str, str]
) -> dict[str, Any]:
    """``document`` with the webhooks and callbacks named in ``paths`` as path operations.

    ``sources`` gives each webhook or callback, by name, as the JSON pointer of its operation
    in ``document`` (``/webhooks/newPet/post``; the generated receiver's ``SOURCES``);
    ``paths`` mounts each named one at a path, as ``build_receiver`` takes them. The result
    has those operations only, each with its path item's parameters; it has no ``webhooks``
    and no ``servers`` (the sender's, not the receiver's). Components, security, tags and the
    rest stay; references into the sender's paths or webhooks stay valid: those are kept
    under ``x-specfirst-sender``, where such references now point. ``document`` is not
    changed. Unknown names and two operations on one method and path are refused
    (``ValueError``), as the receiver refuses them.
    """
    unknown = sorted(set(paths) - set(sources))
    if unknown:
        raise ValueError("no webhook or callback named " + ", ".join(unknown))
    derived = {
        key: copy.deepcopy(value)
        for key, value in document.items()
        if key not in (*_MOVED, "servers", SENDER_KEY)
    }
    items: dict[str, dict[str, Any]] = {}
    for name, path in paths.items():
        method, operation = _operation(document, sources[name])
        item = items.setdefault(path, {})
        slot = item if method in _FIXED else item.setdefault("additionalOperations", {})
        if method in slot:
            raise ValueError(f"two receivers share {method.upper()} {path}")
        slot[method] = operation
    derived["paths"] = items
    if _point_into_sender(derived):
        kept = {key: copy.deepcopy(document[key]) for key in _MOVED if key in document}
        _point_into_sender(kept)
        derived[SENDER_KEY] = kept
    return derived


__all__ = ["SENDER_KEY", "as_paths"]
