"""One reading of an OpenAPI document: JSON pointers, ``$ref``, operations, schema types.

The generator, the linter, the breaking-change gate and the mock all read documents through
this module, so they follow references by one rule and walk the same operations. It needs
nothing but the standard library.

**Pointers** (RFC 6901): :func:`join` appends reference tokens (``~`` is written ``~0``,
``/`` ``~1``), :func:`split` undoes it, :func:`lookup` finds the node a pointer names. A
``$ref`` is a URI: its fragment is percent-decoded first, then read as a pointer (RFC 6901,
section 6: ``#/paths/~1a%25b`` is the path ``/a%b``); :func:`fragment` does that.

**References.** What a ``$ref`` means depends on where it is, as the OpenAPI Specification
says:

- A *Reference Object* (a parameter, response, request body, header, example, link, callback,
  security scheme or path item given by reference) stands for its target. In 3.1 and 3.2 its
  ``summary`` and ``description`` siblings override the target's; any other sibling is
  ignored. In 3.0 every sibling is ignored. :meth:`Document.follow` applies the rule and
  returns the ignored siblings with their pointers, for a caller to report.
- A *Schema Object*'s ``$ref`` (3.1 and 3.2: JSON Schema 2020-12) is an applicator: its
  siblings apply *in addition* to the target, as ``allOf: [target, siblings]`` would.
  :meth:`Document.follow_schema` returns the target and the siblings separately;
  :meth:`Resolved.applied` joins them with :func:`merge`, and a caller with a stricter
  reading of its own (the generator's typing) builds it from the parts. In 3.0 schema
  siblings are ignored (JSON Schema draft 4: ``$ref`` replaces its object).
- A chain of references is followed to its end. A cycle, a reference outside the document
  (``other.yaml#/X``, ``https://…``: bundle first) or one that points nowhere raises
  :class:`RefError`, carrying the pointer of the offending ``$ref`` for the caller's own
  diagnostic.

**Operations.** :meth:`Document.operations` lists every operation: the fixed methods of
each path item (3.2's ``query`` included), then 3.2's ``additionalOperations``, path items
given by ``$ref`` followed; with ``outbound=True`` webhooks and the callbacks of the paths'
operations follow. Pointers are those of the document as written: an operation of a path
item given by reference is at ``/paths/~1a/get``, the path item itself at
:attr:`Operation.item_pointer`.

**Schema types.** :func:`schema_types` is the set of JSON types a schema declares (3.0's
``nullable`` adds ``null``); :func:`merge` reads two schemas that must both hold as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

# A path item's fixed methods, in the order the specification lists them (3.2 adds query).
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "query")
# What a Reference Object's siblings may override in 3.1 and 3.2.
OVERRIDES = ("summary", "description")

# Keywords bounding from below and from above: of two, the stricter holds.
_LOWER_BOUNDS = (
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
    "minContains",
)
_UPPER_BOUNDS = (
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
    "maxContains",
)


# ---------------------------------------------------------------------------- pointers


def escape(token: str | int) -> str:
    """One reference token as a JSON pointer writes it (RFC 6901: ``~0``, ``~1``)."""
    text = str(token)
    if "~" not in text and "/" not in text:
        return text
    return text.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """Undo :func:`escape`."""
    return token.replace("~1", "/").replace("~0", "~")


def join(base: str, *tokens: str | int) -> str:
    """``base`` with reference tokens appended: ``join("/paths", "/a")`` is ``/paths/~1a``."""
    return "/".join((base, *map(escape, tokens))) if tokens else base


def split(pointer: str) -> list[str]:
    """The reference tokens of a JSON pointer (``""`` has none); ValueError if it is none."""
    if not pointer:
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"{pointer!r} is not a JSON pointer (it does not start with '/')")
    return [unescape(token) for token in pointer[1:].split("/")]


def lookup(document: Any, pointer: str) -> Any:
    """The node ``pointer`` names in ``document``; KeyError when there is none."""
    try:
        tokens = split(pointer)
    except ValueError:
        raise KeyError(pointer) from None
    node = document
    for token in tokens:
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise KeyError(pointer)
    return node


def fragment(ref: str) -> str:
    """The JSON pointer of a local reference (``#/a%25b`` -> ``/a%b``); ValueError if the
    reference is not local (a file or URL before the ``#``)."""
    if not ref.startswith("#"):
        raise ValueError(f"{ref!r} is not a reference into the same document")
    return unquote(ref[1:])


def lookup_ref(document: Any, ref: str) -> Any:
    """The node a local reference (``#/...``) names; KeyError when there is none."""
    try:
        pointer = fragment(ref)
    except ValueError:
        raise KeyError(ref) from None
    return lookup(document, pointer)


# ---------------------------------------------------------------------------- references


class RefError(Exception):
    """A ``$ref`` that cannot be followed: a cycle, a non-local reference, or one pointing
    nowhere. ``pointer`` is the pointer of that ``$ref`` member itself."""

    def __init__(self, message: str, pointer: str, ref: str) -> None:
        super().__init__(f"{message} (at {pointer or '/'})")
        self.message = message
        self.pointer = pointer
        self.ref = ref


@dataclass(frozen=True, slots=True)
class Sibling:
    """A keyword written beside a ``$ref``, with its pointer."""

    pointer: str
    name: str


@dataclass(frozen=True, slots=True)
class Siblings:
    """The keywords beside one ``$ref`` of a chain (a Schema Object's: they apply)."""

    pointer: str  # of the object holding the ``$ref``
    keywords: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a chain of references ends, and what its siblings do there."""

    node: Any
    """The target. For a Reference Object, with the ``summary``/``description`` siblings
    applied (a copy then); for a Schema Object, the target itself (see :meth:`applied`)."""
    pointer: str
    """The target's pointer (the start's when ``node`` was no reference)."""
    origin: str
    """The pointer the chain started at."""
    siblings: tuple[Siblings, ...] = ()
    """A schema's siblings that apply in addition, outermost first (none in 3.0)."""
    ignored: tuple[Sibling, ...] = ()
    """Siblings the rule ignores, for the caller to report."""

    def applied(self) -> Any:
        """The schema the chain describes: the target with every sibling applied
        (:func:`merge`, the outermost last, so its annotations win)."""
        result = self.node
        for siblings in reversed(self.siblings):
            result = merge(result, siblings.keywords)
        return result

    def effective(self) -> tuple[Any, str]:
        """:meth:`applied`, and where it is described: the target's pointer, or the chain's
        start when siblings apply there in addition (the target alone is not the schema)."""
        if not self.siblings:
            return self.node, self.pointer
        return self.applied(), self.origin


def is_ref(node: Any) -> bool:
    """Whether ``node`` is an object with a ``$ref`` to follow."""
    return isinstance(node, dict) and isinstance(node.get("$ref"), str)


class Document:
    """An OpenAPI document (a bundled one: references are local), read by one set of rules.

    ``data`` is the parsed document; nothing here changes it.
    """

    __slots__ = ("data", "version")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.version = str(data.get("openapi", ""))

    @property
    def siblings_apply(self) -> bool:
        """Whether ``$ref`` siblings mean anything: in 3.1 and later, not in 3.0."""
        return not self.version.startswith("3.0")

    def at(self, pointer: str) -> Any:
        """The node at ``pointer``; KeyError when there is none."""
        return lookup(self.data, pointer)

    def _chain(self, node: Any, pointer: str) -> tuple[list[tuple[dict[str, Any], str]], Any, str]:
        """The references of a chain (each object holding a ``$ref``, with its pointer), and
        the target at its end with the target's pointer."""
        hops: list[tuple[dict[str, Any], str]] = []
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(ref := node.get("$ref"), str):
            hops.append((node, pointer))
            try:
                pointer = fragment(ref)
            except ValueError:
                message = f"$ref {ref!r} is not in this document (bundle it first)"
                raise RefError(message, join(hops[-1][1], "$ref"), ref) from None
            if pointer in seen:
                raise RefError(f"$ref {ref!r} is circular", join(hops[-1][1], "$ref"), ref)
            seen.add(pointer)
            try:
                node = lookup(self.data, pointer)
            except KeyError:
                raise RefError(
                    f"$ref {ref!r} points nowhere", join(hops[-1][1], "$ref"), ref
                ) from None
        return hops, node, pointer

    def follow(self, node: Any, pointer: str = "") -> Resolved:
        """``node`` (at ``pointer``) as a Reference Object: its chain's target, with the
        ``summary``/``description`` of the nearest reference that has one (3.1 and later)."""
        if not is_ref(node):
            return Resolved(node, pointer, pointer)
        hops, target, at = self._chain(node, pointer)
        overrides: dict[str, Any] = {}
        ignored: list[Sibling] = []
        for holder, holder_at in hops:
            for name, value in holder.items():
                if name == "$ref":
                    continue
                if name in OVERRIDES and self.siblings_apply:
                    overrides.setdefault(name, value)
                else:
                    ignored.append(Sibling(join(holder_at, name), name))
        if overrides and isinstance(target, dict):
            target = {**target, **overrides}
        return Resolved(target, at, pointer, (), tuple(ignored))

    def follow_schema(self, node: Any, pointer: str = "") -> Resolved:
        """``node`` (at ``pointer``) as a Schema Object: its chain's target, and the siblings
        that apply in addition (3.1 and later; ignored in 3.0)."""
        if not is_ref(node):
            return Resolved(node, pointer, pointer)
        hops, target, at = self._chain(node, pointer)
        siblings: list[Siblings] = []
        ignored: list[Sibling] = []
        for holder, holder_at in hops:
            if len(holder) == 1:
                continue
            keywords = {k: v for k, v in holder.items() if k != "$ref"}
            if self.siblings_apply:
                siblings.append(Siblings(holder_at, keywords))
            else:
                ignored.extend(Sibling(join(holder_at, k), k) for k in keywords)
        return Resolved(target, at, pointer, tuple(siblings), tuple(ignored))

    def target(self, node: Any) -> Any:
        """The end of ``node``'s chain of references, siblings left aside (``node`` itself
        when it is no reference); :class:`RefError` when the chain breaks."""
        if not is_ref(node):
            return node
        return self._chain(node, "")[1]

    # -- operations -----------------------------------------------------------------------

    def operations(self, *, outbound: bool = False, strict: bool = True) -> list[Operation]:
        """Every operation of the paths in document order; with ``outbound``, then those of
        the webhooks and of the callbacks of the paths' operations.

        A path item or callback whose reference breaks raises :class:`RefError`, or is left
        out when ``strict`` is false.
        """
        found: list[Operation] = []
        paths = self.data.get("paths")
        for path, item in paths.items() if isinstance(paths, Mapping) else ():
            found += self._item("path", str(path), str(path), item, join("/paths", path), strict)
        if not outbound:
            return found
        outgoing: list[Operation] = []
        webhooks = self.data.get("webhooks")
        for name, item in webhooks.items() if isinstance(webhooks, Mapping) else ():
            pointer = join("/webhooks", name)
            outgoing += self._item("webhook", str(name), str(name), item, pointer, strict)
        for operation in found:
            callbacks = operation.operation.get("callbacks")
            for name, raw in callbacks.items() if isinstance(callbacks, Mapping) else ():
                at = join(operation.pointer, "callbacks", name)
                try:
                    callback = self.follow(raw, at).node
                except RefError:
                    if strict:
                        raise
                    continue
                for expression, item in callback.items() if isinstance(callback, dict) else ():
                    where = join(at, expression)
                    outgoing += self._item(
                        "callback", str(name), str(expression), item, where, strict
                    )
        return found + outgoing

    def path_item_operations(self, item: Any, pointer: str, path: str = "") -> list[Operation]:
        """The operations of one path item (``item``, at ``pointer``), as :meth:`operations`
        lists them; none when its reference breaks."""
        return self._item("path", path, path, item, pointer, strict=False)

    def _item(
        self, kind: str, name: str, path: str, item: Any, pointer: str, strict: bool
    ) -> list[Operation]:
        try:
            resolved = self.follow(item, pointer)
        except RefError:
            if strict:
                raise
            return []
        node = resolved.node
        if not isinstance(node, dict):
            return []
        shared = node.get("parameters") or []
        found = [
            Operation(kind, name, path, method, node[method], shared, pointer, resolved.pointer)
            for method in METHODS
            if isinstance(node.get(method), dict)
        ]
        extra = node.get("additionalOperations")
        for method, operation in extra.items() if isinstance(extra, dict) else ():
            if isinstance(operation, dict):
                found.append(
                    Operation(
                        kind,
                        name,
                        path,
                        str(method),
                        operation,
                        shared,
                        pointer,
                        resolved.pointer,
                        additional=True,
                    )
                )
        return found


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation, where the document has it."""

    kind: str
    """``path``, ``webhook`` or ``callback``."""
    name: str
    """The path template, the webhook's name, or the callback's name."""
    path: str
    """The path template, the webhook's name, or the callback's runtime expression."""
    method: str
    """As written: a fixed field (``get``, ``query``) or an ``additionalOperations`` key."""
    operation: dict[str, Any]
    parameters: list[Any]
    """The path item's own ``parameters``, as written (references not followed)."""
    path_pointer: str
    """The path item as the document names it (``/paths/~1a``), before its ``$ref``."""
    item_pointer: str
    """Where the path item is: the end of its chain of references."""
    additional: bool = False
    """Whether it is one of 3.2's ``additionalOperations``."""

    @property
    def pointer(self) -> str:
        """The operation under :attr:`path_pointer`: ``/paths/~1a/get``."""
        return self._under(self.path_pointer)

    @property
    def resolved_pointer(self) -> str:
        """The operation where it is, under :attr:`item_pointer`."""
        return self._under(self.item_pointer)

    def _under(self, item: str) -> str:
        if self.additional:
            return join(item, "additionalOperations", self.method)
        return join(item, self.method)


# ---------------------------------------------------------------------------- schemas


def schema_types(schema: Any) -> frozenset[str] | None:
    """The JSON types a schema declares (``type``, one or a list; 3.0's ``nullable: true``
    adds ``null``), or None when it declares none."""
    if not isinstance(schema, Mapping):
        return None
    declared = schema.get("type")
    if declared is None:
        return None
    types = {declared} if isinstance(declared, str) else {str(t) for t in declared}
    if schema.get("nullable") is True:
        types.add("null")
    return frozenset(str(t) for t in types)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _common_types(base: Any, extra: Any) -> Any:
    """The types both ``type`` values allow (``integer`` where one says ``number``), in
    ``extra``'s order; ``extra`` itself when either is not a type or they share none."""
    first = [base] if isinstance(base, str) else base
    second = [extra] if isinstance(extra, str) else extra
    if not isinstance(first, list) or not isinstance(second, list):
        return extra
    common = [t for t in second if t in first or (t == "integer" and "number" in first)]
    if "integer" in first and "number" in second and "integer" not in common:
        common.append("integer")
    if not common:
        return extra
    return common[0] if len(common) == 1 else common


def merge(base: Any, extra: Any) -> dict[str, Any]:
    """One schema for two that must both hold (``allOf: [base, extra]``, or a ``$ref``'s
    target and its siblings), as far as their keywords join:

    - bounds (``minimum``, ``maxLength``, ``maxItems``, …): the stricter;
    - ``required``: both lists; ``properties``: both, a property in both is the ``allOf`` of
      its two schemas; ``uniqueItems``: either;
    - ``enum``: the values in both; ``type``: the types both allow;
    - any other keyword: ``extra``'s (a ``$ref``'s sibling over its target's), so of two
      different ``pattern`` or ``format`` values only ``extra``'s is kept: a caller that
      needs both reads them from :class:`Resolved`'s parts.
    """
    if not isinstance(base, dict):
        return dict(extra) if isinstance(extra, dict) else {}
    if not isinstance(extra, dict):
        return dict(base)
    out = {**base, **extra}
    for key in _LOWER_BOUNDS + _UPPER_BOUNDS:
        if _number(base.get(key)) and _number(extra.get(key)):
            out[key] = (max if key in _LOWER_BOUNDS else min)(base[key], extra[key])
    if "required" in base or "required" in extra:
        out["required"] = list(
            dict.fromkeys([*(base.get("required") or []), *(extra.get("required") or [])])
        )
    if isinstance(base.get("properties"), dict) and isinstance(extra.get("properties"), dict):
        properties = dict(base["properties"])
        for name, schema in extra["properties"].items():
            before = properties.get(name)
            if before in (None, {}, True) or before == schema:
                properties[name] = schema
            elif schema not in ({}, True):
                properties[name] = {"allOf": [before, schema]}
        out["properties"] = properties
    if base.get("uniqueItems") is True or extra.get("uniqueItems") is True:
        out["uniqueItems"] = True
    if isinstance(base.get("enum"), list) and isinstance(extra.get("enum"), list):
        out["enum"] = [value for value in extra["enum"] if value in base["enum"]]
    if "type" in base and "type" in extra:
        out["type"] = _common_types(base["type"], extra["type"])
    return out


__all__ = [
    "METHODS",
    "OVERRIDES",
    "Document",
    "Operation",
    "RefError",
    "Resolved",
    "Sibling",
    "Siblings",
    "escape",
    "fragment",
    "is_ref",
    "join",
    "lookup",
    "lookup_ref",
    "merge",
    "schema_types",
    "split",
    "unescape",
]
