"""Classify every difference between two bundled OpenAPI documents for existing clients.

One principle decides most rules: what a client *sends* (parameters, request bodies) may
only be accepted more widely, and what it *receives* (responses) may only become narrower.
So a lowered ``maxLength`` breaks a request and not a response, and a new enum value breaks
a response and not a request. Schemas are compared through ``$ref``: a change inside a
component is reported under every operation that reaches it, with the component's pointer.
References are read by :mod:`specfirst.document`'s rule: a schema's ``$ref`` siblings apply
in addition to its target, as ``allOf`` (3.1; a looser ``maxLength`` beside it changes
nothing, a ``properties`` sibling adds properties), and a Reference Object's siblings other
than ``summary``/``description`` are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from codegen.errors import join_pointer
from specfirst.document import Document, RefError, merge, schema_types

Direction = Literal["request", "response"]

# Every rule, and whether it breaks existing clients. Rules whose verdict depends on who
# sends the data are named per direction.
RULES: dict[str, bool] = {
    "path-removed": True,
    "operation-removed": True,
    "operation-added": False,
    "operation-id-changed": True,  # generated clients rename the method
    "operation-deprecated": False,
    "parameter-removed": True,
    "parameter-added": False,
    "parameter-added-required": True,
    "parameter-became-required": True,
    "parameter-became-optional": False,
    "parameter-serialisation-changed": True,
    "request-body-removed": True,
    "request-body-added": False,
    "request-body-added-required": True,
    "request-body-became-required": True,
    "request-body-became-optional": False,
    "request-media-type-removed": True,
    "request-media-type-added": False,
    "request-property-removed": True,
    "request-property-added": False,
    "request-property-added-required": True,
    "request-property-became-required": True,
    "request-property-became-optional": False,
    "response-status-removed": True,
    "response-status-added": False,
    "response-media-type-removed": True,
    "response-media-type-added": False,
    "response-header-removed": True,
    "response-header-added": False,
    "response-header-became-optional": True,
    "response-header-became-required": False,
    "response-property-removed": True,
    "response-property-added": False,
    "response-property-became-optional": True,
    "response-property-became-required": False,
    "type-changed": True,
    "request-type-widened": False,
    "response-type-narrowed": False,
    "request-became-nullable": False,
    "request-nullable-removed": True,
    "response-became-nullable": True,
    "response-nullable-removed": False,
    "format-changed": True,
    "request-format-added": True,
    "request-format-removed": False,
    "response-format-added": False,
    "response-format-removed": True,
    "constraint-changed": True,
    "request-constraint-narrowed": True,
    "request-constraint-widened": False,
    "response-constraint-narrowed": False,
    "response-constraint-widened": True,
    "request-enum-value-removed": True,
    "request-enum-value-added": False,
    "response-enum-value-added": True,
    "response-enum-value-removed": False,
    "request-variant-removed": True,
    "request-variant-added": False,
    "response-variant-added": True,
    "response-variant-removed": False,
    "security-added": True,
    "security-scheme-removed": True,
    "security-scopes-added": True,
    "security-tightened": True,
    "security-removed": False,
    "security-relaxed": False,
}

# Keywords whose value bounds from above or below; (keyword, True when it is an upper bound).
_BOUNDS = (
    ("maxLength", True),
    ("maximum", True),
    ("exclusiveMaximum", True),
    ("maxItems", True),
    ("maxProperties", True),
    ("minLength", False),
    ("minimum", False),
    ("exclusiveMinimum", False),
    ("minItems", False),
    ("minProperties", False),
)
# Keywords that restrict by being present: adding one narrows, removing it widens.
_RESTRICTIONS = ("pattern", "multipleOf")
_PATH_PARAM = re.compile(r"\{[^}]*\}")


@dataclass(frozen=True, slots=True)
class Change:
    """One difference, as an existing client sees it.

    ``pointer`` is a JSON pointer into the head document, or into the base one when
    ``in_base`` is set (the node no longer exists in head).
    """

    rule: str
    message: str
    pointer: str
    in_base: bool = False

    @property
    def breaking(self) -> bool:
        return RULES[self.rule]


@dataclass(frozen=True, slots=True)
class OperationDiff:
    """The changes of one operation, named as in head (or in base when it was removed)."""

    method: str
    path: str
    operation_id: str
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class DocumentDiff:
    """Every operation that changed, in document order, and the versions compared."""

    operations: tuple[OperationDiff, ...]
    base_version: str
    head_version: str

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for op in self.operations for c in op.changes)

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.breaking)


def operation_key(method: str, path: str) -> tuple[str, str]:
    """Identity of an operation across versions: renaming a path parameter changes no URL."""
    return method.lower(), _PATH_PARAM.sub("{}", path)


@dataclass(frozen=True, slots=True)
class _Operation:
    method: str
    path: str
    operation: dict[str, Any]
    shared_parameters: tuple[tuple[Any, str], ...]  # path-level parameters, with pointers
    pointer: str
    path_pointer: str

    @property
    def operation_id(self) -> str:
        value = self.operation.get("operationId")
        return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class _Pair:
    """The same node in base and head, with where each was found."""

    old: Any
    new: Any
    old_at: str
    new_at: str

    def get(self, *tokens: str | int) -> _Pair:
        return _Pair(
            _child(self.old, tokens),
            _child(self.new, tokens),
            join_pointer(self.old_at, *tokens),
            join_pointer(self.new_at, *tokens),
        )


def _child(node: Any, tokens: tuple[str | int, ...]) -> Any:
    for token in tokens:
        node = node.get(token) if isinstance(node, dict) else None
    return node


def _resolve(document: dict[str, Any], node: Any, pointer: str) -> tuple[Any, str]:
    """A Reference Object's target (``summary``/``description`` siblings applied, others
    ignored); the pointer becomes the target's. A broken reference compares as written."""
    try:
        resolved = Document(document).follow(node, pointer)
    except RefError:
        return node, pointer  # a validated bundle has none
    return resolved.node, resolved.pointer


def _schema(document: dict[str, Any], node: Any, pointer: str) -> tuple[Any, str, str]:
    """The schema ``node`` describes, with its pointer and an identity for recursion: its
    ``$ref`` target, with the siblings applied in addition as ``allOf`` would (OpenAPI 3.1;
    ignored in 3.0). The pointer is the target's, or the ``$ref``'s when siblings apply
    there (a change they make is theirs); a broken reference compares as written."""
    try:
        resolved = Document(document).follow_schema(node, pointer)
    except RefError:
        return node, pointer, pointer
    schema, where = resolved.effective()
    # With siblings, the same pair recurs at ever deeper pointers through a recursive
    # schema: the target and the object holding the siblings name it.
    identity = where if not resolved.siblings else f"{resolved.pointer} {id(node)}"
    return schema, where, identity


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], _Operation]:
    found: dict[tuple[str, str], _Operation] = {}
    for walked in Document(document).operations(strict=False):
        shared = tuple(
            (p, join_pointer(walked.item_pointer, "parameters", i))
            for i, p in enumerate(walked.parameters)
        )
        found[operation_key(walked.method, walked.path)] = _Operation(
            walked.method.upper(),
            walked.path,
            walked.operation,
            shared,
            walked.resolved_pointer,
            walked.path_pointer,
        )
    return found


def _accepts(types: frozenset[str], kind: str) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def _show(value: Any) -> str:
    if isinstance(value, frozenset | set):
        return " | ".join(sorted(value)) or "nothing"
    return f"`{value}`"


def _required(node: Any, location: str = "") -> bool:
    return isinstance(node, dict) and (bool(node.get("required")) or location == "path")


def _parameter_schema(param: dict[str, Any]) -> tuple[str, ...]:
    """Where a parameter's schema is: ``schema``, or its one ``content`` media type's."""
    content = param.get("content")
    if "schema" not in param and isinstance(content, dict) and content:
        return ("content", next(iter(content)), "schema")
    return ("schema",)


def _merge_all_of(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """An ``allOf`` read as one schema (:func:`specfirst.document.merge`: the stricter bound,
    both properties and required lists), so refactoring into ``allOf`` alone reports
    nothing."""
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged: dict[str, Any] = {}
    for raw in parts:
        part, _, _ = _schema(document, raw, "")
        if isinstance(part, dict):
            merged = merge(merged, _merge_all_of(document, part))
    return merge(merged, {k: v for k, v in schema.items() if k != "allOf"})


class _OperationDiffer:
    """Compares one operation of base with the same operation of head."""

    def __init__(self, base: dict[str, Any], head: dict[str, Any]) -> None:
        self.base = base
        self.head = head
        self.changes: list[Change] = []
        self._seen: set[tuple[str, str, bool]] = set()
        self._visiting: set[tuple[str, str, Direction]] = set()

    def emit(self, rule: str, message: str, pointer: str, *, in_base: bool = False) -> None:
        # A component reached twice (Problem under every error status) is reported once.
        if (rule, pointer, in_base) not in self._seen:
            self._seen.add((rule, pointer, in_base))
            self.changes.append(Change(rule, message, pointer, in_base))

    def removed(self, rule: str, gone: Iterable[tuple[str, str]]) -> None:
        """Report each (message, pointer into base) of a node head no longer has."""
        for message, pointer in gone:
            self.emit(rule, message, pointer, in_base=True)

    def requiredness(self, prefix: str, label: str, was: bool, now: bool, pointer: str) -> None:
        if was != now:
            state = "required" if now else "optional"
            self.emit(f"{prefix}-became-{state}", f"{label} became {state}", pointer)

    def resolved(self, pair: _Pair) -> _Pair:
        old, old_at = _resolve(self.base, pair.old, pair.old_at)
        new, new_at = _resolve(self.head, pair.new, pair.new_at)
        return _Pair(old, new, old_at, new_at)

    # -- operation --------------------------------------------------------------------

    def operation(self, old: _Operation, new: _Operation) -> None:
        if old.operation_id != new.operation_id:
            self.emit(
                "operation-id-changed",
                f"operationId changed from `{old.operation_id}` to `{new.operation_id}` "
                "(generated client methods are renamed)",
                join_pointer(new.pointer, "operationId"),
            )
        if new.operation.get("deprecated") and not old.operation.get("deprecated"):
            pointer = join_pointer(new.pointer, "deprecated")
            self.emit("operation-deprecated", "operation deprecated", pointer)
        self.parameters(old, new)
        op = _Pair(old.operation, new.operation, old.pointer, new.pointer)
        self.request_body(self.resolved(op.get("requestBody")))
        self.responses(op.get("responses"))
        self.security(old, new)

    def _parameters(
        self, document: dict[str, Any], op: _Operation
    ) -> dict[tuple[str, str], tuple[dict[str, Any], str]]:
        merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        own = (
            (p, join_pointer(op.pointer, "parameters", i))
            for i, p in enumerate(op.operation.get("parameters") or [])
        )
        for raw, raw_pointer in (*op.shared_parameters, *own):
            param, pointer = _resolve(document, raw, raw_pointer)
            if isinstance(param, dict):
                location, name = str(param.get("in")), str(param.get("name"))
                key = (location, name.lower() if location == "header" else name)
                merged[key] = (param, pointer)
        return merged

    def parameters(self, old: _Operation, new: _Operation) -> None:
        before = self._parameters(self.base, old)
        after = self._parameters(self.head, new)
        self.removed(
            "parameter-removed",
            (
                (f"{key[0]} parameter `{param.get('name')}` removed", pointer)
                for key, (param, pointer) in before.items()
                if key not in after
            ),
        )
        for key, (param, pointer) in after.items():
            label = f"{key[0]} parameter `{param.get('name')}`"
            if key not in before:
                if _required(param, key[0]):
                    self.emit("parameter-added-required", f"new required {label}", pointer)
                else:
                    self.emit("parameter-added", f"new optional {label}", pointer)
                continue
            pair = _Pair(before[key][0], param, before[key][1], pointer)
            self.requiredness(
                "parameter",
                label,
                _required(pair.old, key[0]),
                _required(param, key[0]),
                join_pointer(pointer, "required"),
            )
            for keyword in ("style", "explode"):
                was, now = pair.old.get(keyword), param.get(keyword)
                if was != now:
                    message = f"{label}: {keyword} changed from {_show(was)} to {_show(now)}"
                    self.emit("parameter-serialisation-changed", message, pointer)
            old_at, new_at = _parameter_schema(pair.old), _parameter_schema(param)
            schema = _Pair(
                _child(pair.old, old_at),
                _child(param, new_at),
                join_pointer(pair.old_at, *old_at),
                join_pointer(pointer, *new_at),
            )
            self.schema(schema, "request", label)

    def request_body(self, body: _Pair) -> None:
        if not isinstance(body.new, dict):
            if isinstance(body.old, dict):
                self.removed("request-body-removed", [("request body removed", body.old_at)])
            return
        if not isinstance(body.old, dict):
            if _required(body.new):
                self.emit("request-body-added-required", "new required request body", body.new_at)
            else:
                self.emit("request-body-added", "new optional request body", body.new_at)
            return
        self.requiredness(
            "request-body",
            "request body",
            _required(body.old),
            _required(body.new),
            join_pointer(body.new_at, "required"),
        )
        self.content(body, "request", "request body")

    def content(self, pair: _Pair, direction: Direction, label: str) -> None:
        """Compare the media types of a request body or a response, and their schemas."""
        before = pair.old.get("content") or {}
        after = pair.new.get("content") or {}
        self.removed(
            f"{direction}-media-type-removed",
            (
                (
                    f"{label}: media type `{media}` removed",
                    join_pointer(pair.old_at, "content", media),
                )
                for media in before
                if media not in after
            ),
        )
        for media in after:
            media_pair = pair.get("content", media)
            if media not in before:
                message = f"{label}: new media type `{media}`"
                self.emit(f"{direction}-media-type-added", message, media_pair.new_at)
            else:
                self.schema(media_pair.get("schema"), direction, f"{label} (`{media}`)")

    def responses(self, pair: _Pair) -> None:
        before = {str(k).upper(): k for k in pair.old or {}}
        after = {str(k).upper(): k for k in pair.new or {}}
        self.removed(
            "response-status-removed",
            (
                (f"response `{status}` removed", join_pointer(pair.old_at, key))
                for status, key in before.items()
                if status not in after
            ),
        )
        for status, key in after.items():
            if status not in before:
                _, pointer = _resolve(self.head, pair.new[key], join_pointer(pair.new_at, key))
                self.emit("response-status-added", f"new response `{status}`", pointer)
                continue
            response = self.resolved(
                _Pair(
                    pair.old[before[status]],
                    pair.new[key],
                    join_pointer(pair.old_at, before[status]),
                    join_pointer(pair.new_at, key),
                )
            )
            if isinstance(response.old, dict) and isinstance(response.new, dict):
                label = f"response `{status}`"
                self.content(response, "response", label)
                self.response_headers(response, label)

    def response_headers(self, response: _Pair, label: str) -> None:
        before = {str(k).lower(): str(k) for k in response.old.get("headers") or {}}
        after = {str(k).lower(): str(k) for k in response.new.get("headers") or {}}
        self.removed(
            "response-header-removed",
            (
                (
                    f"{label}: header `{name}` removed",
                    join_pointer(response.old_at, "headers", name),
                )
                for key, name in before.items()
                if key not in after
            ),
        )
        for key, name in after.items():
            if key not in before:
                pointer = join_pointer(response.new_at, "headers", name)
                self.emit("response-header-added", f"{label}: new header `{name}`", pointer)
                continue
            header = self.resolved(
                _Pair(
                    response.old["headers"][before[key]],
                    response.new["headers"][name],
                    join_pointer(response.old_at, "headers", before[key]),
                    join_pointer(response.new_at, "headers", name),
                )
            )
            where = f"{label} header `{name}`"
            self.requiredness(
                "response-header",
                where,
                _required(header.old),
                _required(header.new),
                header.new_at,
            )
            self.schema(header.get("schema"), "response", where)

    def security(self, old: _Operation, new: _Operation) -> None:
        before = _security(self.base, old.operation)
        after = _security(self.head, new.operation)
        if before == after:
            return
        pointer = (
            join_pointer(new.pointer, "security") if "security" in new.operation else "/security"
        )
        if {} in after:
            if {} in before:
                self.emit(
                    "security-relaxed", "security alternatives changed (still public)", pointer
                )
            else:
                self.emit("security-removed", "operation no longer requires auth", pointer)
            return
        if {} in before:
            schemes = ", ".join(sorted({f"`{name}`" for alt in after for name in alt}))
            self.emit("security-added", f"operation now requires auth ({schemes})", pointer)
            return
        accepted = {name for alt in after for name in alt}
        tightened = False
        for alt in before:
            if any(_satisfied_by(alt, new_alt) for new_alt in after):
                continue
            tightened = True
            gone = sorted(f"`{name}`" for name in alt if name not in accepted)
            added = sorted(
                {f"`{s}`" for new_alt in after for n, ss in new_alt.items() if n in alt for s in ss}
                - {f"`{s}`" for scopes in alt.values() for s in scopes}
            )
            if gone:
                message = f"security scheme {', '.join(gone)} no longer accepted"
                self.emit("security-scheme-removed", message, pointer)
            elif added:
                self.emit("security-scopes-added", f"scopes required: {', '.join(added)}", pointer)
            else:
                self.emit("security-tightened", "an authorised client may no longer be", pointer)
        if not tightened:
            self.emit("security-relaxed", "more security alternatives accepted", pointer)

    # -- schemas ----------------------------------------------------------------------

    def schema(self, pair: _Pair, direction: Direction, context: str, path: str = "") -> None:
        """Compare two schemas a client sends (``request``) or receives (``response``)."""
        old, old_at, old_id = _schema(self.base, pair.old, pair.old_at)
        new, new_at, new_id = _schema(self.head, pair.new, pair.new_at)
        if not isinstance(old, dict) or not isinstance(new, dict):
            return
        visit = (old_id, new_id, direction)
        if visit in self._visiting:
            return  # a recursive schema: this pair is already being compared further up
        self._visiting.add(visit)
        try:
            merged = _Pair(
                _merge_all_of(self.base, old), _merge_all_of(self.head, new), old_at, new_at
            )
            _SchemaDiffer(self, merged, direction, context, path).run()
        finally:
            self._visiting.discard(visit)


@dataclass
class _SchemaDiffer:
    """The keywords of one schema pair; nested schemas go back through the operation's."""

    owner: _OperationDiffer
    pair: _Pair
    direction: Direction
    context: str
    path: str

    @property
    def where(self) -> str:
        return f"{self.context} property `{self.path}`" if self.path else self.context

    def emit(self, rule: str, message: str, keyword: str | None = None) -> None:
        pointer = join_pointer(self.pair.new_at, keyword) if keyword else self.pair.new_at
        self.owner.emit(rule, f"{self.where}: {message}", pointer)

    def directed(self, stem: str, message: str, keyword: str | None = None) -> None:
        self.emit(f"{self.direction}-{stem}", message, keyword)

    def run(self) -> None:
        old, new = self.pair.old, self.pair.new
        composed = _composition(old), _composition(new)
        if composed[0] != composed[1]:
            # `X` became `anyOf: [X, null]` (or back): only the alternatives are comparable.
            self.variants()
            return
        if not self.types():
            return  # another type: its keywords are not comparable
        self.format()
        self.bounds()
        self.enum()
        self.properties()
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            items = self.pair.get("items")
            self.owner.schema(items, self.direction, self.context, f"{self.path}[]")
        if composed[0] is not None:
            self.variants()

    def types(self) -> bool:
        """Report type changes; False when the types no longer have a kind in common."""
        was, now = schema_types(self.pair.old), schema_types(self.pair.new)
        if was is None or now is None or was == now:
            return True  # an untyped side (composition, any) is compared by its keywords
        if ("null" in now) != ("null" in was):
            nullable = "null" in now
            stem = "became-nullable" if nullable else "nullable-removed"
            self.directed(stem, "became nullable" if nullable else "no longer nullable", "type")
        was_kinds, now_kinds = was - {"null"}, now - {"null"}
        if was_kinds == now_kinds:
            return True
        request = self.direction == "request"
        sender, receiver = (was_kinds, now_kinds) if request else (now_kinds, was_kinds)
        message = f"type changed from {_show(was_kinds)} to {_show(now_kinds)}"
        if all(_accepts(receiver, kind) for kind in sender):
            self.directed("type-widened" if request else "type-narrowed", message, "type")
            return True
        self.emit("type-changed", message, "type")
        return False

    def format(self) -> None:
        was, now = self.pair.old.get("format"), self.pair.new.get("format")
        if was == now:
            return
        if was is not None and now is not None:
            self.emit(
                "format-changed", f"format changed from {_show(was)} to {_show(now)}", "format"
            )
        elif now is None:
            self.directed("format-removed", f"format {_show(was)} removed")
        else:
            self.directed("format-added", f"format {_show(now)} added", "format")

    def bounds(self) -> None:
        old, new = self.pair.old, self.pair.new
        for keyword, upper in _BOUNDS:
            was, now = old.get(keyword), new.get(keyword)
            if was == now or isinstance(was, bool) or isinstance(now, bool):
                continue  # 3.0's boolean exclusive bounds qualify minimum/maximum only
            if now is None:
                self.directed("constraint-widened", f"{keyword} {_show(was)} removed")
            elif was is None:
                self.directed("constraint-narrowed", f"{keyword} {_show(now)} added", keyword)
            else:
                verb = "lowered" if now < was else "raised"
                stem = "constraint-narrowed" if (now < was) == upper else "constraint-widened"
                message = f"{keyword} {verb} from {_show(was)} to {_show(now)}"
                self.directed(stem, message, keyword)
        for keyword in _RESTRICTIONS:
            was, now = old.get(keyword), new.get(keyword)
            if was == now:
                continue
            if now is None:
                self.directed("constraint-widened", f"{keyword} {_show(was)} removed")
            elif was is None:
                self.directed("constraint-narrowed", f"{keyword} {_show(now)} added", keyword)
            else:
                message = f"{keyword} changed from {_show(was)} to {_show(now)}"
                self.emit("constraint-changed", message, keyword)
        was_open = old.get("additionalProperties", True) is not False
        now_open = new.get("additionalProperties", True) is not False
        if was_open != now_open:
            message = "additional properties allowed" if now_open else "no additional properties"
            stem = "constraint-widened" if now_open else "constraint-narrowed"
            self.directed(stem, message, "additionalProperties")

    def enum(self) -> None:
        was, now = _enum(self.pair.old), _enum(self.pair.new)
        if was == now:
            return
        keyword = "enum" if "enum" in self.pair.new else "const"
        if was is None or now is None:
            if now is None:
                self.directed("constraint-widened", "enum removed")
            else:
                self.directed("constraint-narrowed", "values restricted to an enum", keyword)
            return
        removed = ", ".join(_show(v) for v in was if v not in now)
        added = ", ".join(_show(v) for v in now if v not in was)
        if removed:
            self.directed("enum-value-removed", f"enum value(s) {removed} removed", keyword)
        if added:
            self.directed("enum-value-added", f"enum value(s) {added} added", keyword)

    def properties(self) -> None:
        owner, direction = self.owner, self.direction
        before = _visible_properties(owner.base, self.pair.old, direction)
        after = _visible_properties(owner.head, self.pair.new, direction)
        old_required = set(self.pair.old.get("required") or []) & set(before)
        new_required = set(self.pair.new.get("required") or []) & set(after)
        prefix = f"{self.path}." if self.path else ""
        owner.removed(
            f"{direction}-property-removed",
            (
                (
                    f"{self.context}: property `{prefix}{name}` removed",
                    join_pointer(self.pair.old_at, "properties", name),
                )
                for name in before
                if name not in after
            ),
        )
        for name in after:
            prop = self.pair.get("properties", name)
            if name not in before:
                required = direction == "request" and name in new_required
                rule = f"{direction}-property-added" + ("-required" if required else "")
                kind = "required " if required else ""
                message = f"{self.context}: new {kind}property `{prefix}{name}`"
                owner.emit(rule, message, prop.new_at)
                continue
            owner.requiredness(
                f"{direction}-property",
                f"{self.context} property `{prefix}{name}`",
                name in old_required,
                name in new_required,
                join_pointer(self.pair.new_at, "required"),
            )
            owner.schema(prop, direction, self.context, f"{prefix}{name}")

    def variants(self) -> None:
        """Compare the alternatives of ``oneOf``/``anyOf``; a plain schema is its own one."""
        before = _alternatives(self.pair.old, self.pair.old_at)
        after = _alternatives(self.pair.new, self.pair.new_at)
        for key, (_, pointer) in before.items():
            if key in after:
                continue
            if key == "null":
                self.directed("nullable-removed", "no longer nullable")
            else:
                message = f"{self.where}: alternative {key} removed"
                self.owner.removed(f"{self.direction}-variant-removed", [(message, pointer)])
        for key, (variant, pointer) in after.items():
            if key not in before:
                if key == "null":
                    self.directed("became-nullable", "became nullable")
                else:
                    message = f"{self.where}: new alternative {key}"
                    self.owner.emit(f"{self.direction}-variant-added", message, pointer)
                continue
            old_variant, old_pointer = before[key]
            pair = _Pair(old_variant, variant, old_pointer, pointer)
            self.owner.schema(pair, self.direction, self.context, self.path)


def _composition(schema: dict[str, Any]) -> str | None:
    return next((k for k in ("oneOf", "anyOf") if isinstance(schema.get(k), list)), None)


def _alternatives(schema: dict[str, Any], pointer: str) -> dict[str, tuple[Any, str]]:
    """Alternatives by the component they name, ``null``, or else their position."""
    keyword = _composition(schema)
    if keyword is None:
        name = pointer.removeprefix("/components/schemas/")
        return {f"`{name}`" if "/" not in name else "#0": (schema, pointer)}
    found: dict[str, tuple[Any, str]] = {}
    for index, variant in enumerate(schema[keyword]):
        ref = variant.get("$ref") if isinstance(variant, dict) else None
        if isinstance(ref, str):
            key = f"`{ref.rsplit('/', 1)[-1]}`"
        elif isinstance(variant, dict) and variant.get("type") == "null":
            key = "null"
        else:
            key = f"#{index}"
        found[key] = (variant, join_pointer(pointer, keyword, index))
    return found


def _visible_properties(
    document: dict[str, Any], schema: dict[str, Any], direction: Direction
) -> dict[str, Any]:
    """Properties a client of this direction sees: readOnly ones are never sent, writeOnly
    ones never received."""
    hidden = "readOnly" if direction == "request" else "writeOnly"
    visible: dict[str, Any] = {}
    for name, raw in (schema.get("properties") or {}).items():
        resolved, _, _ = _schema(document, raw, "")
        if isinstance(resolved, dict):
            resolved = _merge_all_of(document, resolved)
        if not (isinstance(resolved, dict) and resolved.get(hidden) is True):
            visible[str(name)] = raw
    return visible


def _enum(schema: dict[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    values = schema.get("enum")
    return list(values) if isinstance(values, list) else None


def _security(
    document: dict[str, Any], operation: dict[str, Any]
) -> list[dict[str, frozenset[str]]]:
    raw = operation.get("security", document.get("security"))
    if not raw:
        return [{}]
    return [{str(n): frozenset(scopes or ()) for n, scopes in alt.items()} for alt in raw]


def _satisfied_by(old: dict[str, frozenset[str]], new: dict[str, frozenset[str]]) -> bool:
    """Whether a client meeting ``old`` also meets ``new``."""
    return all(name in old and scopes <= old[name] for name, scopes in new.items())


def diff_documents(base: dict[str, Any], head: dict[str, Any]) -> DocumentDiff:
    """Every change from ``base`` to ``head`` (two bundled documents), by operation."""
    before, after = _operations(base), _operations(head)
    head_paths = {operation_key("get", path)[1] for path in head.get("paths") or {}}
    operations: list[OperationDiff] = []
    for key, new in after.items():
        differ = _OperationDiffer(base, head)
        old = before.get(key)
        if old is None:
            differ.emit("operation-added", "new operation", new.pointer)
        else:
            differ.operation(old, new)
        if differ.changes:
            operations.append(
                OperationDiff(new.method, new.path, new.operation_id, tuple(differ.changes))
            )
    for key, old in before.items():
        if key in after:
            continue
        if key[1] in head_paths:
            removed = Change("operation-removed", "operation removed", old.pointer, True)
        else:
            removed = Change("path-removed", "path removed", old.path_pointer, True)
        operations.append(OperationDiff(old.method, old.path, old.operation_id, (removed,)))
    return DocumentDiff(tuple(operations), _version(base), _version(head))


def _version(document: dict[str, Any]) -> str:
    info = document.get("info")
    return str(info.get("version", "")) if isinstance(info, dict) else ""
