"""Map JSON Schema (OpenAPI flavour) to Python annotations.

Two texts per schema: ``plain`` for handler signatures and response classes, and
``validator``, which adds the constraints Pydantic enforces (``Annotated[int, Field(ge=1)]``).
Named object/enum/composite schemas become references to the Pydantic models that
datamodel-code-generator writes (``models.Product``); inline object schemas of operations are
hoisted into synthetic components first so they get models too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from specfirst.document import Document, RefError, schema_types, unescape

MODELS = "models"

_STRING_FORMATS = {
    "uuid": "UUID",
    "date-time": "AwareDatetime",
    "date": "date",
    "email": "EmailStr",
    "binary": "bytes",
}


# Pydantic reads "0.5" as a Unix time: the runtime insists on RFC 3339 first.
_TEMPORAL_TEXT = {"AwareDatetime": "date_time_text", "date": "date_text"}

# Keywords a sibling of `$ref` can tighten (3.1: siblings apply as in allOf).
_UPPER_BOUNDS = frozenset({"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"})
_LOWER_BOUNDS = frozenset({"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"})
_CONSTRAINTS = (
    _UPPER_BOUNDS
    | _LOWER_BOUNDS
    | {"pattern", "multipleOf", "enum", "const", "format", "uniqueItems"}
)


# Where ``with_siblings`` keeps a sibling's pattern when the target has its own.
ALSO_PATTERNS = "x-codegen-also-patterns"


def is_uri_string(schema: Any) -> bool:
    """Whether ``schema`` is a string of ``format: uri`` (checked by ``rt.absolute_uri``)."""
    if not isinstance(schema, dict) or schema.get("format") != "uri" or "$ref" in schema:
        return False
    types = schema.get("type")
    return types == "string" or (isinstance(types, list) and "string" in types)


def has_second_pattern(target: Any, schema: Any) -> bool:
    """Whether ``schema``, a ``$ref`` to ``target``, adds a pattern to the target's own."""
    return (
        isinstance(schema, dict)
        and isinstance(target, dict)
        and isinstance(schema.get("pattern"), str)
        and isinstance(target.get("pattern"), str)
        and schema["pattern"] != target["pattern"]
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Mapped:
    plain: str
    validator: str
    shape: str  # scalar | array | object


Hoister = Callable[[dict[str, Any], str], str]


def is_class_like(schema: Any) -> bool:
    """Whether an inline schema needs a model class of its own."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return False
    if schema.get("properties") or (schema.get("allOf") and len(schema["allOf"]) > 1):
        return True
    variants = [
        v for v in schema.get("oneOf") or schema.get("anyOf") or [] if v != {"type": "null"}
    ]
    if len(variants) > 1:
        return True
    return bool(
        schema.get("allOf")
        and len(schema["allOf"]) == 1
        and any(k in schema for k in ("properties", "required"))
    )


def _is_model(schema: Any) -> bool:
    """Whether a named schema is worth its model class (objects, enums, compositions)."""
    if not isinstance(schema, dict):
        return False
    types = schema.get("type")
    return bool(
        schema.get("properties")
        or types == "object"
        or (isinstance(types, list) and "object" in types)
        or schema.get("enum")
        or schema.get("allOf")
        or schema.get("oneOf")
        or schema.get("anyOf")
    )


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _field_args(schema: dict[str, Any], base: str) -> list[str]:
    args: list[str] = []
    numeric = base in ("int", "float")
    if numeric:
        for key, arg in (("minimum", "ge"), ("maximum", "le"), ("multipleOf", "multiple_of")):
            value = schema.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                if (
                    key in ("minimum", "maximum")
                    and schema.get("exclusive" + key.capitalize()) is True
                ):
                    arg = "gt" if key == "minimum" else "lt"  # OpenAPI 3.0 boolean form
                args.append(f"{arg}={value!r}")
        for key, arg in (("exclusiveMinimum", "gt"), ("exclusiveMaximum", "lt")):
            value = schema.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                args.append(f"{arg}={value!r}")
    if base in ("str",):
        for key, arg in (("minLength", "min_length"), ("maxLength", "max_length")):
            if isinstance(schema.get(key), int):
                args.append(f"{arg}={schema[key]}")
        if isinstance(schema.get("pattern"), str):
            args.append(f"pattern={_literal(schema['pattern'])}")
    if base.startswith("list["):
        for key, arg in (("minItems", "min_length"), ("maxItems", "max_length")):
            if isinstance(schema.get(key), int):
                args.append(f"{arg}={schema[key]}")
    if base.startswith("dict["):
        for key, arg in (("minProperties", "min_length"), ("maxProperties", "max_length")):
            if isinstance(schema.get(key), int):
                args.append(f"{arg}={schema[key]}")
    return args


class TypeMapper:
    """Maps schemas of one bundled document; ``classes`` names the models that exist."""

    def __init__(
        self,
        document: dict[str, Any],
        component_classes: dict[str, str],
        hoister: Hoister | None = None,
        *,
        existing: set[str] | None = None,
        direction: str = "",
        text_inputs: bool = False,
        qualified: bool = True,
    ) -> None:
        self.document = document
        # Model classes are ``models.X`` outside models.py, ``X`` inside it.
        self.models_prefix = f"{MODELS}." if qualified else ""
        self.component_classes = component_classes
        self.hoister = hoister
        self.existing = existing
        # "Request" or "Response": schemas with readOnly/writeOnly fields have a model for each.
        self.direction = direction
        # Parameters arrive as text: enums of numbers or booleans must be read from it.
        self.text_inputs = text_inputs
        self.doc = Document(document)
        self._resolving: set[str] = set()

    def towards(self, direction: str, *, text_inputs: bool = False) -> TypeMapper:
        """The same mapper, choosing the ``Request`` or ``Response`` variant of models."""
        return TypeMapper(
            self.document,
            self.component_classes,
            self.hoister,
            existing=self.existing,
            direction=direction,
            text_inputs=text_inputs,
            qualified=bool(self.models_prefix),
        )

    def resolve(self, schema: Any) -> Any:
        """The schema a ``$ref`` chain ends at, its siblings left aside (``{}`` when the
        chain breaks: the validator reports it)."""
        try:
            return self.doc.target(schema)
        except RefError:
            return {}

    def with_siblings(self, schema: Any) -> Any:
        """The schema a ``$ref`` points to, with the siblings of each reference of the chain
        applied too (:meth:`specfirst.document.Document.follow_schema` gives them apart).

        OpenAPI 3.1 lets a ``$ref`` carry siblings (``default``, ``maxLength``, …) that apply
        in addition to the target, as ``allOf: [{$ref}, {siblings}]`` would. The generator
        types them so: of two bounds the stricter holds; of two patterns both must match (the
        sibling's is kept under ``ALSO_PATTERNS``, checked by ``rt.Matches``); any other
        sibling is the field's (its ``default``, ``type``, ``description``). In 3.0 siblings
        are ignored.
        """
        try:
            resolved = self.doc.follow_schema(schema)
        except RefError:
            return {}
        if not resolved.siblings or not isinstance(resolved.node, dict):
            return resolved.node
        merged = dict(resolved.node)
        for siblings in reversed(resolved.siblings):
            for key, value in siblings.keywords.items():
                old = merged.get(key)
                if key == "pattern" and value == old:
                    continue
                if key == "pattern" and isinstance(old, str) and isinstance(value, str):
                    merged[ALSO_PATTERNS] = [*merged.get(ALSO_PATTERNS, []), value]
                elif key == "uniqueItems":
                    merged[key] = old is True or value is True
                elif key in _UPPER_BOUNDS and _number(old) and _number(value):
                    merged[key] = min(old, value)
                elif key in _LOWER_BOUNDS and _number(old) and _number(value):
                    merged[key] = max(old, value)
                else:
                    merged[key] = value
        return merged

    def map(self, schema: Any, hint: str) -> Mapped:
        """Annotations for ``schema``; ``hint`` names a hoisted model if one is needed."""
        if not isinstance(schema, dict) or not schema:
            return Mapped("Any", "Any", "scalar")
        if "$ref" in schema and _CONSTRAINTS & schema.keys():
            target = self.resolve(schema)
            if isinstance(target, dict) and not _is_model(target) and target is not schema:
                schema = self.with_siblings(schema)  # a constrained plain type, mapped in place
        nullable = schema.get("nullable") is True
        types = schema.get("type")
        if isinstance(types, list):
            nullable = nullable or "null" in types
            types = [t for t in types if t != "null"]
            types = types[0] if len(types) == 1 else (types or None)
        mapped = self._map_inner(schema, types, hint)
        if nullable and mapped.plain != "Any" and not mapped.plain.endswith("| None"):
            return Mapped(f"{mapped.plain} | None", f"{mapped.validator} | None", mapped.shape)
        return mapped

    def _map_inner(self, schema: dict[str, Any], types: Any, hint: str) -> Mapped:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._map_ref(ref, hint)
        if "const" in schema:
            text = f"Literal[{_literal(schema['const'])}]"
            return Mapped(text, text, "scalar")
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            values = [v for v in enum if v is not None]
            if values and all(isinstance(v, str | int | bool) for v in values):
                text = "Literal[" + ", ".join(_literal(v) for v in values) + "]"
                validator = text
                if self.text_inputs and not all(isinstance(v, str) for v in values):
                    validator = f"Annotated[{text}, rt.from_text]"
                if len(values) < len(enum):
                    text += " | None"
                    validator += " | None"
                return Mapped(text, validator, "scalar")
            return Mapped("Any", "Any", "scalar")
        if is_class_like(schema):
            if self.hoister is not None:
                name = self.hoister(schema, hint)
                return self._map_ref(f"#/components/schemas/{name}", hint)
            return self._map_composite(schema, hint)
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            return self.map(all_of[0], hint)
        for key in ("oneOf", "anyOf"):
            variants = schema.get(key)
            if isinstance(variants, list) and variants:
                return self._map_composite(schema, hint)
        if isinstance(types, list):
            parts = [self._map_inner({**schema, "type": t}, t, hint) for t in types]
            return Mapped(
                " | ".join(dict.fromkeys(p.plain for p in parts)),
                " | ".join(dict.fromkeys(p.validator for p in parts)),
                "scalar",
            )
        if isinstance(schema.get("prefixItems"), list) and types in (None, "array"):
            return self._map_positions(schema, hint)
        if types is None:
            if "items" in schema:
                types = "array"
            elif "additionalProperties" in schema:
                types = "object"
        if types == "array":
            items = self.map(schema.get("items", {}), hint + "Item")
            plain = f"list[{items.plain}]"
            args = _field_args(schema, plain)
            validator = f"list[{items.validator}]"
            metadata = [f"Field({', '.join(args)})"] if args else []
            if schema.get("uniqueItems") is True:
                metadata.append("rt.unique_items")
            if metadata:
                validator = f"Annotated[{validator}, {', '.join(metadata)}]"
            return Mapped(plain, validator, "array")
        if types == "object":
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                value = self.map(extra, hint + "Value")
                plain, validator = f"dict[str, {value.plain}]", f"dict[str, {value.validator}]"
            else:
                plain = validator = "dict[str, Any]"
            args = _field_args(schema, plain)
            if args:
                validator = f"Annotated[{validator}, Field({', '.join(args)})]"
            return Mapped(plain, validator, "object")
        if schema.get("type") == "null":
            return Mapped("None", "None", "scalar")
        base = {"integer": "int", "number": "float", "boolean": "bool", "string": "str"}.get(
            str(types), "Any"
        )
        if base == "str":
            fmt = schema.get("format")
            base = _STRING_FORMATS.get(str(fmt), "str")
        args = _field_args(schema, base)
        validator = f"Annotated[{base}, Field({', '.join(args)})]" if args else base
        if base == "str" and schema.get(ALSO_PATTERNS):
            checks = ", ".join(f"rt.Matches({_literal(p)})" for p in schema[ALSO_PATTERNS])
            validator = f"Annotated[{validator}, {checks}]"
        if base == "str" and schema.get("format") == "uri":
            annotated = validator.startswith("Annotated[")
            validator = (
                f"{validator[:-1]}, rt.absolute_uri]"
                if annotated
                else f"Annotated[{validator}, rt.absolute_uri]"
            )
        if self.text_inputs and base == "int":
            validator = f"Annotated[{validator}, rt.integer_text]"
        if base in _TEMPORAL_TEXT:
            validator = f"Annotated[{validator}, rt.{_TEMPORAL_TEXT[base]}]"
        return Mapped(base, validator, "scalar")

    def _map_positions(self, schema: dict[str, Any], hint: str) -> Mapped:
        """``prefixItems``: a union of tuples, one per length the array may have.

        ``tuple[A, B]`` when the array holds exactly its positions; shorter tuples when
        ``minItems`` lets it stop early (JSON Schema does); ``tuple[A, B, *tuple[C, ...]]``
        when ``items`` (or nothing, meaning anything) allows more.
        """
        positions: list[Mapped] = []
        for i, position in enumerate(schema["prefixItems"]):
            if position is False:  # nothing is valid there: the array ends before it
                break
            positions.append(self.map(position, f"{hint}{i}"))
        closed = len(positions) < len(schema["prefixItems"])
        items = schema.get("items", True)
        minimum = schema.get("minItems")
        minimum = minimum if isinstance(minimum, int) and minimum > 0 else 0
        maximum = schema.get("maxItems")
        maximum = maximum if isinstance(maximum, int) else None
        closed = closed or items is False or (maximum is not None and maximum <= len(positions))
        tail = None if closed else self.map(items if isinstance(items, dict) else {}, hint + "Item")
        longest = len(positions) if maximum is None else min(len(positions), maximum)
        if minimum > longest and closed:
            minimum = longest  # no array is valid; Positions reports the shortfall
        texts: list[Mapped] = []
        for length in range(min(minimum, longest), longest + 1):
            members = positions[:length]
            plain = [m.plain for m in members]
            validator = [m.validator for m in members]
            if tail is not None and length == longest:
                plain.append(f"*tuple[{tail.plain}, ...]")
                validator.append(f"*tuple[{tail.validator}, ...]")
            texts.append(
                Mapped(
                    f"tuple[{', '.join(plain) or '()'}]",
                    f"tuple[{', '.join(validator) or '()'}]",
                    "array",
                )
            )
        args = [f"minimum={schema['minItems']}"] if minimum else []
        if maximum is not None and not closed:
            args.append(f"maximum={maximum}")
        if schema.get("uniqueItems") is True:
            args.append("unique=True")
        plain_union = " | ".join(dict.fromkeys(t.plain for t in texts))
        validator_union = " | ".join(dict.fromkeys(t.validator for t in texts))
        return Mapped(
            plain_union, f"Annotated[{validator_union}, rt.Positions({', '.join(args)})]", "array"
        )

    def _map_ref(self, ref: str, hint: str) -> Mapped:
        prefix = "#/components/schemas/"
        if ref.startswith(prefix):
            cls = self.component_classes.get(unescape(ref[len(prefix) :]))
            target = self.resolve({"$ref": ref})
            if cls is not None and not _is_model(target):
                cls = None  # a RootModel of a string or list: the plain type reads better
            if cls is not None and self.existing is not None and cls not in self.existing:
                # A readOnly/writeOnly pair: only its Request and Response classes exist. A
                # schema with a class of its own keeps it, even when another schema happens
                # to be named like its variant (`TransactionRule` and `TransactionRuleResponse`).
                variant = f"{cls}{self.direction}"
                cls = variant if self.direction and variant in self.existing else None
            if cls is not None:
                text = f"{self.models_prefix}{cls}"
                validator = text
                sizes = [
                    f"{arg}={target[key]}"
                    for key, arg in (("minProperties", "minimum"), ("maxProperties", "maximum"))
                    if isinstance(target, dict) and isinstance(target.get(key), int)
                ]
                if sizes:
                    # Pydantic models do not count properties; the runtime checks what was sent.
                    validator = f"Annotated[{text}, rt.object_size({', '.join(sizes)})]"
                shape = (
                    "object"
                    if isinstance(target, dict)
                    and (target.get("type") == "object" or "properties" in target)
                    else "scalar"
                )
                return Mapped(text, validator, shape)
        if ref in self._resolving:
            return Mapped("Any", "Any", "scalar")
        self._resolving.add(ref)
        try:
            return self.map(self.resolve({"$ref": ref}), hint)  # not a model: map it in place
        finally:
            self._resolving.discard(ref)

    def _map_composite(self, schema: dict[str, Any], hint: str) -> Mapped:
        variants = schema.get("oneOf") or schema.get("anyOf") or schema.get("allOf") or []
        if schema.get("properties") or (schema.get("allOf") and len(variants) > 1):
            return Mapped("dict[str, Any]", "dict[str, Any]", "object")
        parts = [self.map(v, f"{hint}{i}") for i, v in enumerate(variants)]
        plain = " | ".join(dict.fromkeys(p.plain for p in parts)) or "Any"
        validator = " | ".join(dict.fromkeys(p.validator for p in parts)) or "Any"
        if "Any" in plain.split(" | "):
            return Mapped("Any", "Any", "scalar")
        return Mapped(plain, validator, "scalar")

    def object_properties(self, schema: Any) -> dict[str, Any]:
        """The properties of an object schema, through ``$ref`` and ``allOf``."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return {}
        props: dict[str, Any] = {}
        for part in schema.get("allOf", []):
            props.update(self.object_properties(part))
        props.update(schema.get("properties") or {})
        return props

    def is_array(self, schema: Any) -> bool:
        """Whether a schema (through refs) describes an array."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return False
        return (
            "array" in (schema_types(schema) or ()) or "items" in schema or "prefixItems" in schema
        )
