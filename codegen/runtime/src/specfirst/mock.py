"""Mock answers: every operation replies with its documented example, or a value generated
from its schema, after the usual request validation.

A generated package's ``build_app(None, mock=True)`` uses it. Each operation answers its best
documented success response (200, 201, 202, 204, other 2xx, ``2XX``, ``default``, in that
order). The body is the media type's first ``examples`` entry or ``example``, else the
schema's, else a value :class:`Sampler` builds from the schema; the first candidate that the
generated response types accept is sent. Required response headers are filled the same way.
Everything is decided at start-up and deterministic: the same document always gives the same
answers.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from . import errors, operations, routing, streams, validators
from .document import Document, RefError, join, lookup_ref, merge

logger = logging.getLogger("specfirst.mock")
try:  # checks that a oneOf value is valid against one branch only; without it, not checked
    jsonschema_rs: Any = importlib.import_module("jsonschema_rs")
except ImportError:  # pragma: no cover - the package itself needs only Starlette and Pydantic
    jsonschema_rs = None
# The standard library's own regex parser (private, stable since 3.11), to write strings that
# a `pattern` matches.
sre_parse: Any = importlib.import_module("re._parser")
sre_constants: Any = importlib.import_module("re._constants")

_PREFERRED = ("200", "201", "202", "204")
_FORMATS: dict[str, str] = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri-reference": "https://example.com/",
    "uri-template": "https://example.com/{id}",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "byte": "YQ==",
    "binary": "",
    "password": "password",
    "json-pointer": "/a",
    "regex": "a",
}
_MAX_DEPTH = 32  # deeper than any finite chain of required properties seen in practice


class MockError(Exception):
    """No candidate answer of an operation passes its own response types."""


class AnyCredentials:
    """The mock's authenticator: any credentials presented are accepted (absent ones are 401)."""

    async def authenticate(self, credentials: operations.Credentials, scopes: Sequence[str]) -> str:
        return credentials.value


# ---------------------------------------------------------------------------- values


class Sampler:
    """Deterministic values that conform to JSON Schemas of an OpenAPI document.

    Objects get their required properties (and more while ``minProperties`` asks), arrays
    ``minItems`` items (distinct ones, as JSON, when ``uniqueItems``), numbers and strings
    respect their bounds, ``pattern``, ``format`` and ``multipleOf``; ``enum``/``const`` give
    their first value, ``oneOf``/``anyOf`` their first branch (a discriminator is set to match
    it), ``allOf`` is merged, ``$ref`` resolved. ``writeOnly`` properties are left out: the
    values are answers. With ``examples=True`` a schema's own ``examples``/``example``/
    ``default`` is used where present.
    """

    def __init__(self, document: Mapping[str, Any], *, examples: bool = True) -> None:
        self.document = document
        self.doc = Document(document)
        self.examples = examples
        # Where no value valid against exactly one oneOf branch was found (the caller warns).
        self.ambiguous: list[str] = []
        self._validators: dict[int, tuple[Any, Any]] = {}

    def resolve(self, node: Any) -> Any:
        """The schema ``node`` describes: its local ``$ref`` followed, the siblings applied in
        addition (3.1; :mod:`specfirst.document`'s rule)."""
        try:
            return self.doc.follow_schema(node).applied()
        except RefError as error:
            raise MockError(
                f"cannot resolve the reference {error.ref!r}: {error.message}"
            ) from None

    def reference(self, node: Any) -> Any:
        """A Reference Object's target (a response, header, example, path item)."""
        try:
            return self.doc.follow(node).node
        except RefError as error:
            raise MockError(
                f"cannot resolve the reference {error.ref!r}: {error.message}"
            ) from None

    def pointer(self, ref: str) -> Any:
        """The node a local reference names."""
        try:
            return lookup_ref(self.document, ref)
        except KeyError:
            raise MockError(f"cannot resolve the reference {ref!r}") from None

    def flat(self, schema: Any, depth: int = 0) -> Any:
        """:meth:`resolve`, with an ``allOf`` merged into one schema (its annotations too)."""
        if depth > _MAX_DEPTH:
            raise MockError("the schema's allOf nests too deeply to build a value")
        schema = self.resolve(schema)
        if isinstance(schema, dict) and isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for branch in schema["allOf"]:
                merged = merge(merged, self.flat(branch, depth + 1))
            return merged
        return schema

    def value(self, schema: Any, variant: int = 0, depth: int = 0) -> Any:
        """A value that ``schema`` accepts (``variant`` makes siblings in an array differ)."""
        if depth > _MAX_DEPTH:
            raise MockError("the schema nests too deeply to build a value")
        schema = self.resolve(schema)
        if schema is True or schema is None or schema == {}:
            return f"string{variant}" if variant else "string"
        if not isinstance(schema, dict):
            raise MockError("a schema that accepts nothing")
        if self.examples:
            if isinstance(schema.get("examples"), list) and schema["examples"]:
                return schema["examples"][variant % len(schema["examples"])]
            for key in ("example", "default"):
                if key in schema:
                    return schema[key]
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            values = [v for v in schema["enum"] if v is not None] or [None]
            return values[variant % len(values)]
        if isinstance(schema.get("allOf"), list):
            return self.value(self.flat(schema), variant, depth + 1)
        for key in ("oneOf", "anyOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.branch(schema, key, variant, depth)
        kind = _type(schema)
        if kind == "object":
            return self.object(schema, variant, depth)
        if kind == "array":
            return self.array(schema, variant, depth)
        if kind == "string":
            return _string(schema, variant)
        if kind in ("integer", "number"):
            return _number(schema, variant, integer=kind == "integer")
        if kind == "boolean":
            return variant % 2 == 0
        if kind == "null":
            return None
        return f"string{variant}" if variant else "string"

    def branch(self, schema: dict[str, Any], key: str, variant: int, depth: int) -> Any:
        """A value of the first non-null branch; for ``oneOf``, one that no other branch
        accepts (a non-empty array, every property, another variant, another branch)."""
        branches = schema[key]
        order = sorted(
            range(len(branches)), key=lambda i: _type(self.resolve(branches[i])) == "null"
        )
        if key == "anyOf":
            order = order[:1]
        first: list[Any] = []
        failures: list[MockError] = []
        for index in order:
            for value in self._branch_values(
                schema, key, branches[index], variant, depth, failures
            ):
                if not first:
                    first.append(value)
                if key == "anyOf" or self._exclusive(branches, index, value):
                    return value
        if not first:
            raise failures[0] if failures else MockError("a oneOf whose branches accept nothing")
        self.ambiguous.append(_describe(branches))
        return first[0]

    def _branch_values(
        self,
        schema: dict[str, Any],
        key: str,
        chosen: Any,
        variant: int,
        depth: int,
        failures: list[MockError],
    ) -> Iterator[Any]:
        rest = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
        resolved = self.resolve(chosen)
        merged = merge(rest, resolved) if rest else resolved
        tries: list[tuple[Any, int, bool]] = [
            (merge(rest, resolved) if rest else chosen, variant, self.examples)
        ]
        if key == "oneOf" and isinstance(merged, dict):
            if _type(merged) == "array" and int(merged.get("minItems", 0)) < 1:
                tries.append((merge(merged, {"minItems": 1}), variant, self.examples))
            properties = merged.get("properties")
            if _type(merged) == "object" and isinstance(properties, dict) and properties:
                every = {"minProperties": len(properties)}
                tries.append((merge(merged, every), variant, self.examples))
            tries.extend([(merged, variant + 1, self.examples), (merged, variant, False)])
        for target, tried_variant, examples in tries:
            saved, self.examples = self.examples, examples
            try:
                value = self.value(target, tried_variant, depth + 1)
            except MockError as exc:
                failures.append(exc)
                continue
            finally:
                self.examples = saved
            yield self._discriminated(schema, chosen, resolved, value)

    def _exclusive(self, branches: list[Any], index: int, value: Any) -> bool:
        """Whether no branch but ``branches[index]`` accepts ``value`` (True if unknown)."""
        return not any(
            self.accepts(branch, value) for other, branch in enumerate(branches) if other != index
        )

    def accepts(self, schema: Any, value: Any) -> bool:
        """Whether ``schema`` accepts ``value`` as JSON Schema (3.0: draft 4) says; False when
        jsonschema-rs is not installed or cannot read the schema."""
        if jsonschema_rs is None:
            return False
        cached = self._validators.get(id(schema))
        if cached is None:
            root: dict[str, Any] = {"allOf": [schema]}
            if isinstance(self.document.get("components"), dict):
                root["components"] = self.document["components"]
            draft = (
                jsonschema_rs.Draft4Validator
                if str(self.document.get("openapi", "3.1")).startswith("3.0")
                else jsonschema_rs.Draft202012Validator
            )
            try:
                validator = draft(root)
            except (ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError):
                validator = None
            cached = self._validators[id(schema)] = (schema, validator)
        validator = cached[1]
        return validator is not None and bool(validator.is_valid(value))

    def _discriminated(self, schema: dict[str, Any], chosen: Any, resolved: Any, value: Any) -> Any:
        discriminator = schema.get("discriminator")
        if isinstance(value, dict) and isinstance(discriminator, dict):
            name = discriminator.get("propertyName")
            prop = self.resolve((resolved.get("properties") or {}).get(name) or {})
            fixed = isinstance(prop, dict) and ("const" in prop or "enum" in prop)
            ref = chosen.get("$ref") if isinstance(chosen, dict) else None
            if isinstance(name, str) and not fixed and isinstance(ref, str):
                mapping = discriminator.get("mapping") or {}
                keys = [k for k, target in mapping.items() if target == ref]
                value[name] = keys[0] if keys else ref.rsplit("/", 1)[-1]
        return value

    def object(self, schema: dict[str, Any], variant: int, depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties", True)
        out: dict[str, Any] = {}

        def add(name: str, prop: Any) -> None:
            if not (isinstance(prop, dict) and self.flat(prop).get("writeOnly") is True):
                out[name] = self.value(prop, variant, depth + 1)

        for name in schema.get("required") or []:
            if name in properties:
                add(name, properties[name])
            elif extra is not False:
                out[name] = self.value(extra if isinstance(extra, dict) else {}, variant, depth + 1)
        wanted = int(schema.get("minProperties", 0))
        for name, prop in properties.items():
            if len(out) >= wanted:
                break
            if name not in out:
                add(name, prop)
        index = 0
        while len(out) < wanted and extra is not False:
            out[f"key{index}"] = self.value(extra if isinstance(extra, dict) else {}, index, depth)
            index += 1
        return out

    def array(self, schema: dict[str, Any], variant: int, depth: int) -> list[Any]:
        prefix: list[Any] = schema.get("prefixItems") or []
        items = schema.get("items", {})
        if isinstance(items, list):  # draft 4 tuples, as 3.0 documents sometimes write them
            prefix, items = items, schema.get("additionalItems", {})
        count = max(int(schema.get("minItems", 0)), 0)
        out = [self.value(p, 0, depth + 1) for p in prefix[: max(count, len(prefix))]]
        unique = schema.get("uniqueItems") is True
        seen = {validators.json_key(value) for value in out} if unique else set()
        if unique and len(seen) < len(out):
            raise MockError("the positions of a uniqueItems array give equal items")
        index = 0
        # Variants make items differ; a schema with fewer distinct values than minItems
        # (a one-value enum) has no valid array, and the search gives up.
        while len(out) < count and items is not False and index < 4 * count + 16:
            value = self.value(items, variant + index, depth + 1)
            index += 1
            if unique:
                key = validators.json_key(value)
                if key in seen:
                    continue
                seen.add(key)
            out.append(value)
        if len(out) < count and items is not False:
            raise MockError(f"no {count} distinct items for a uniqueItems array")
        return out


def _describe(branches: list[Any]) -> str:
    names = [
        b["$ref"] if isinstance(b, dict) and isinstance(b.get("$ref"), str) else _type(b) or "{}"
        for b in branches
    ]
    return "oneOf [" + ", ".join(names) + "]"


def _type(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if {"pattern", "format", "minLength", "maxLength"} & schema.keys():
        return "string"
    if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"} & schema.keys():
        return "number"
    return ""


def _number(schema: dict[str, Any], variant: int, *, integer: bool) -> int | float:
    low = _bound(schema, "minimum", "exclusiveMinimum", max)
    high = _bound(schema, "maximum", "exclusiveMaximum", min)
    step = schema.get("multipleOf")
    gap = step or 1
    value: float = variant * gap if low is None else low[0] + (gap if low[1] else 0) + variant * gap
    if high is not None and not _below(value, high):
        value = high[0] - (gap if high[1] else 0)
        if low is not None and not _above(value, low):
            value = (low[0] + high[0]) / 2
    if step:
        value = math.ceil(value / step) * step
        if high is not None and not _below(value, high):
            value = math.floor(high[0] / step) * step - (step if high[1] else 0)
    if integer and not float(value).is_integer():
        value = math.ceil(value)
    return int(value) if float(value).is_integer() else value


def _bound(
    schema: dict[str, Any], closed: str, opened: str, pick: Callable[[list[float]], float]
) -> tuple[float, bool] | None:
    """The tightest bound as (value, exclusive); 3.0 writes ``exclusiveMinimum: true`` beside
    ``minimum``, 3.1 a number of its own."""
    bound, flag = schema.get(closed), schema.get(opened)
    if isinstance(flag, bool):
        return (bound, flag) if isinstance(bound, int | float) else None
    candidates = [(b, o) for b, o in ((bound, False), (flag, True)) if isinstance(b, int | float)]
    if not candidates:
        return None
    tightest = pick([b for b, _ in candidates])
    return tightest, any(o for b, o in candidates if b == tightest)


def _below(value: float, high: tuple[float, bool]) -> bool:
    return value < high[0] or (not high[1] and value == high[0])


def _above(value: float, low: tuple[float, bool]) -> bool:
    return value > low[0] or (not low[1] and value == low[0])


def _string(schema: dict[str, Any], variant: int) -> str:
    minimum = int(schema.get("minLength", 0))
    maximum = schema.get("maxLength")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        found = _from_pattern(pattern, minimum, maximum, variant)
        if found is not None:
            return found
    fmt = schema.get("format")
    if fmt == "uuid":
        return f"00000000-0000-4000-8000-{variant:012d}"
    if fmt in _FORMATS:
        text = _FORMATS[fmt]
        return text.replace("user@", f"user{variant}@") if variant and "@" in text else text
    text = f"string{variant}" if variant else "string"
    if len(text) < minimum:
        text += "x" * (minimum - len(text))
    return text[:maximum] if isinstance(maximum, int) else text


def _from_pattern(pattern: str, minimum: int, maximum: Any, variant: int = 0) -> str | None:
    """The shortest string the regex finds, or longer (more repetitions) to reach minLength;
    a ``variant`` after the first is the next longer one that fits (for distinct items)."""
    try:
        compiled = re.compile(pattern)
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, ValueError):
        return None
    found: list[str] = []
    for repeats in (0, 1, 2, 4, 8, 16, 32, 64, max(minimum, 1)):
        text = _RegexSample(repeats).build(parsed)
        if text is None:
            break
        if len(text) < minimum and repeats < max(minimum, 1):
            continue
        fits = len(text) >= minimum and (not isinstance(maximum, int) or len(text) <= maximum)
        if not (fits and compiled.search(text)):
            break
        if text not in found:
            found.append(text)
        if len(found) > variant:
            break
    return found[variant % len(found)] if found else None


class _RegexSample:
    """Walks a parsed regular expression, writing one string it matches."""

    def __init__(self, repeats: int) -> None:
        self.repeats = repeats
        self.groups: dict[int, str] = {}

    def build(self, parsed: Any) -> str | None:
        try:
            return "".join(self.items(parsed))
        except _Unsupported:
            return None

    def items(self, parsed: Any) -> Iterator[str]:
        for op, arg in parsed:
            yield self.item(op, arg)

    def item(self, op: Any, arg: Any) -> str:
        c = sre_constants
        if op is c.LITERAL:
            return chr(arg)
        if op is c.NOT_LITERAL:
            return "a" if arg != ord("a") else "b"
        if op is c.ANY:
            return "a"
        if op is c.IN:
            return _from_set(arg)
        if op is c.CATEGORY:
            return _from_set([(op, arg)])
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = arg
            count = low if high == low else min(max(low, self.repeats), high)
            return "".join("".join(self.items(sub)) for _ in range(count))
        if op is c.SUBPATTERN:
            group, _, _, sub = arg
            text = "".join(self.items(sub))
            if group is not None:
                self.groups[group] = text
            return text
        if op is getattr(c, "ATOMIC_GROUP", None):
            return "".join(self.items(arg))
        if op is c.BRANCH:
            return "".join(self.items(arg[1][0]))
        if op is c.GROUPREF:
            return self.groups.get(arg, "")
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            return ""
        raise _Unsupported


class _Unsupported(Exception):
    pass


def _from_set(items: Any) -> str:
    c = sre_constants
    negate = bool(items) and items[0][0] is c.NEGATE
    if negate:
        banned = items[1:]
        for candidate in "aZ0_ -.":
            if not _in_set(candidate, banned):
                return candidate
        raise _Unsupported
    for op, arg in items:
        if op is c.LITERAL:
            return chr(arg)
        if op is c.RANGE:
            return chr(arg[0])
        if op is c.CATEGORY:
            sample = _CATEGORIES.get(str(arg).rsplit("_", 1)[-1].lower())
            if sample is not None:
                return sample
    raise _Unsupported


_CATEGORIES = {"digit": "0", "word": "a", "space": " "}


def _in_set(char: str, items: Any) -> bool:
    c = sre_constants
    for op, arg in items:
        if op is c.LITERAL and chr(arg) == char:
            return True
        if op is c.RANGE and arg[0] <= ord(char) <= arg[1]:
            return True
        if op is c.CATEGORY and re.fullmatch(_CATEGORY_REGEX.get(str(arg), "(?!)"), char):
            return True
    return False


_CATEGORY_REGEX = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
}


# ---------------------------------------------------------------------------- answers


def success(op: operations.Operation) -> operations.ResponseSpec | None:
    """The response a mock answers with: the best documented success."""
    by_status = {spec.status: spec for spec in op.responses}
    for status in _PREFERRED:
        if status in by_status:
            return by_status[status]
    others = sorted(s for s in by_status if s.startswith("2") and s.isdigit())
    for status in (*others, "2XX", "default"):
        if status in by_status:
            return by_status[status]
    return op.responses[0] if op.responses else None


def answer(op: operations.Operation, document: Mapping[str, Any]) -> Any:
    """The response object the mock of ``op`` returns; :class:`MockError` says why none."""
    spec = success(op)
    if spec is None:
        raise MockError(f"{op.operation_id} documents no response")
    fields = _fields(op, spec, Sampler(document))
    if spec.status == "default" or spec.status.endswith("XX"):
        fields["status"] = 200 if spec.status in ("default", "2XX") else int(spec.status[0]) * 100
    return spec.cls(**fields)


def _fields(
    op: operations.Operation, spec: operations.ResponseSpec, sampler: Sampler
) -> dict[str, Any]:
    """The body and required headers of one documented response (no variable status)."""
    item = sampler.reference(sampler.pointer("#" + join("/paths", op.path)))
    extra = item.get("additionalOperations") or {}
    operation = item.get(op.method.lower()) or extra.get(op.method) or {}
    raw = sampler.reference((operation.get("responses") or {}).get(spec.status)) or {}
    fields: dict[str, Any] = {}
    if spec.adapter is not None:
        media = (raw.get("content") or {}).get(spec.media_type) or {}
        if spec.kind in streams.STREAM_KINDS:
            # A stream of one item, generated from the item schema: a list, sent anew each time.
            adapter = spec.adapter
            fields["body"] = _first_valid(
                op,
                spec,
                sampler,
                {"schema": _item_schema(sampler, media)},
                lambda value: [adapter.validate_json(json.dumps(value))],
                "stream item",
            )
        else:
            fields["body"] = _first_valid(
                op, spec, sampler, media, lambda value: _body(spec, value), "body"
            )
    headers = {name.lower(): header for name, header in (raw.get("headers") or {}).items()}
    for header in spec.headers:
        if header.required:
            found = sampler.reference(headers.get(header.name.lower())) or {}
            fields[header.attribute] = _first_valid(
                op, spec, sampler, found, _header, f"header {header.name}"
            )
    return fields


class ErrorAnswers:
    """The mock's :class:`runtime.ProblemRenderer`: a problem whose status the operation
    documents (exactly, by range or ``default``) with a body that is not problem+json is
    answered with that response's example, or a value generated from its schema, in its
    documented media type and with the problem's status; a request that does not fit (422) is
    answered as the documented 400 when the operation documents 400 and not 422. Where the
    document says problem+json, or documents no body or nothing for that status, the problem
    is sent.
    Each answer is built at its first use, then reused.
    """

    def __init__(self, spec_json: str) -> None:
        self.document = json.loads(spec_json)
        self.built: dict[tuple[str, str, str], dict[str, Any] | None] = {}

    def __call__(
        self, problem: errors.Problem, operation: operations.Operation | None, /
    ) -> object | None:
        if operation is None:
            return None
        spec = operation.response(problem.status)
        if spec is None and problem.status == 422:
            # Many documents say 400 for a request that does not fit: answer as they say.
            spec = operation.response(400)
        if spec is None or spec.kind == "empty" or routing._documents_problem_json(spec):
            return None
        key = (operation.method, operation.path, spec.status)
        if key not in self.built:
            try:
                self.built[key] = _fields(operation, spec, Sampler(self.document))
            except (MockError, LookupError, TypeError, ValueError, RecursionError) as exc:
                logger.warning(
                    "mock: %s: %s errors stay problem+json: %s",
                    operation.operation_id,
                    spec.status,
                    exc,
                )
                self.built[key] = None
        fields = self.built[key]
        if fields is None:
            return None
        if spec.status == "default" or spec.status.endswith("XX"):
            fields = {**fields, "status": problem.status}
        rendered: object = spec.cls(**fields)
        return rendered


def _candidates(sampler: Sampler, holder: Mapping[str, Any]) -> Iterator[Any]:
    """A media type's (or header's) examples, then values built from its schema."""
    examples = holder.get("examples")
    if isinstance(examples, dict):
        for example in examples.values():
            resolved = sampler.reference(example)
            if isinstance(resolved, dict) and "value" in resolved:
                yield resolved["value"]
    if "example" in holder:
        yield holder["example"]
    schema = holder.get("schema")
    content = holder.get("content")
    if schema is None and isinstance(content, dict) and content:  # a content-typed header
        schema = (next(iter(content.values())) or {}).get("schema")
    yield sampler.value(schema)
    plain = Sampler(sampler.document, examples=False)
    plain.ambiguous = sampler.ambiguous
    yield plain.value(schema)


def _first_valid(
    op: operations.Operation,
    spec: operations.ResponseSpec,
    sampler: Sampler,
    holder: Mapping[str, Any],
    convert: Callable[[Any], Any],
    what: str,
) -> Any:
    reasons: list[str] = []
    candidates = _candidates(sampler, holder)
    # A value some oneOf of which another branch also accepts is kept for want of better.
    ambiguous: list[tuple[Any, list[str]]] = []
    while True:
        sampler.ambiguous.clear()
        try:
            value = next(candidates)
        except StopIteration:
            break
        except MockError as exc:
            reasons.append(str(exc))
            continue
        try:
            converted = convert(value)
        except (ValidationError, ValueError, TypeError) as exc:
            reasons.append(str(exc).splitlines()[0])
            continue
        if not sampler.ambiguous:
            return converted
        if not ambiguous:
            ambiguous.append((converted, list(sampler.ambiguous)))
    if ambiguous:
        logger.warning(
            "mock: %s %s %s: no value found that only one branch of %s accepts; "
            "answering one that several do",
            op.operation_id,
            spec.status,
            what,
            ", ".join(dict.fromkeys(ambiguous[0][1])),
        )
        return ambiguous[0][0]
    raise MockError(
        f"{op.operation_id} {spec.status} {what}: no example or generated value fits "
        f"the response types ({'; '.join(reasons)})"
    )


def _item_schema(sampler: Sampler, media: Mapping[str, Any]) -> Any:
    """A stream's item schema, with an event's JSON ``data`` as its ``contentSchema`` (as the
    generator types it)."""
    schema = sampler.resolve(media.get("itemSchema", media.get("x-item-schema")))
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return schema
    data = sampler.resolve(schema["properties"].get("data"))
    if isinstance(data, dict) and isinstance(data.get("contentSchema"), dict):
        return {**schema, "properties": {**schema["properties"], "data": data["contentSchema"]}}
    return schema


def _body(spec: operations.ResponseSpec, value: Any) -> Any:
    assert spec.adapter is not None
    if spec.kind == "json":
        return spec.adapter.validate_json(json.dumps(value))
    if spec.kind == "text":
        return spec.adapter.validate_python(value if isinstance(value, str) else json.dumps(value))
    # A binary media type with a schema of JSON values (application/jwt, say): its JSON text.
    content = json.dumps(value).encode() if isinstance(value, dict | list) else b""
    return spec.adapter.validate_python(value.encode() if isinstance(value, str) else content)


def _header(value: Any) -> Any:
    if isinstance(value, dict | type(None)):
        raise TypeError("a header value must be a scalar or a list")
    return value


def handlers(
    operations: Sequence[operations.Operation],
    implemented: Mapping[str, Any],
    spec_json: str,
) -> dict[str, Any]:
    """Handlers by tag: the implementation's where it has one, the mock's everywhere else.

    An operation whose mock answer cannot be built is logged at start-up and answers 501.
    """
    document = json.loads(spec_json)
    by_tag: dict[str, dict[str, Callable[..., Awaitable[Any]]]] = {}
    for op in operations:
        target = implemented.get(op.tag)
        method = getattr(target, op.method_name, None) if target is not None else None
        if method is None:
            try:
                method = _returning(answer(op, document))
            except MockError as exc:
                logger.warning("mock: %s", exc)
                method = _failing(str(exc))
            except (LookupError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                # A document shaped in a way the sampler does not foresee: that operation
                # answers 501 and is named, the others are still served.
                reason = f"{op.operation_id}: {type(exc).__name__}: {exc}"
                logger.warning("mock: %s", reason)
                method = _failing(reason)
        by_tag.setdefault(op.tag, {})[op.method_name] = method
    return {tag: SimpleNamespace(**methods) for tag, methods in by_tag.items()}


def _returning(result: Any) -> Callable[..., Awaitable[Any]]:
    async def handler(ctx: Any, **arguments: Any) -> Any:
        return result

    return handler


def _failing(reason: str) -> Callable[..., Awaitable[Any]]:
    async def handler(ctx: Any, **arguments: Any) -> Any:
        raise errors._Problem(501, "Not Implemented", f"The mock has no answer: {reason}")

    return handler


__all__ = [
    "AnyCredentials",
    "ErrorAnswers",
    "MockError",
    "Sampler",
    "answer",
    "handlers",
    "merge",
    "success",
]
