"""Lint an OpenAPI document against the contract conventions (docs/contract-conventions.md).

``python -m spectools.lint [--spec openapi/openapi.yaml] [--out build/openapi.json]``

The document is bundled and validated by :mod:`codegen` first (the official OpenAPI
schemas); then every rule of :data:`RULES` runs over the bundle. Each finding is located
through the bundle's source map, so it names the file and line under ``openapi/`` that a
reviewer edits, never a position in the bundle.

A rule is waived for an operation, a path item or a component by listing it in that node::

    x-lint-ignore:
      - rule: path-version
        reason: Liveness probe, at the conventional URL outside /v1.

A waiver covers findings inside the node it sits on (and, for findings reported on a shared
schema on an operation's behalf, the operation). A waiver without a reason is an error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema_rs

from codegen.bundle import COMPONENT_KINDS, Bundle, bundle
from codegen.errors import Location, SpecError, join_pointer, unescape_pointer_token
from codegen.naming import snake
from codegen.validate import validate_bundle
from impl.ratelimits import parse_limits
from specfirst.document import Document, RefError, Sibling, fragment, schema_types

ERROR = "error"
WARNING = "warning"
WAIVER_KEY = "x-lint-ignore"


@dataclass(frozen=True, slots=True)
class Rule:
    """A guideline a machine can check: its stable code, severity and default fix."""

    code: str
    severity: str
    fix: str


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule("oas-valid", ERROR, "make the document valid OpenAPI (see the message)."),
        Rule("operation-id-missing", ERROR, "add a snake_case verb_noun operationId."),
        Rule("operation-id-snake-case", ERROR, "rename the operationId to snake_case."),
        Rule("operation-id-unique", ERROR, "give each operation its own operationId."),
        Rule("operation-tags", ERROR, "list exactly one tag (the resource's group)."),
        Rule("operation-summary", ERROR, "add a one-line summary."),
        Rule(
            "operation-security",
            ERROR,
            "declare `security` on the operation (or globally); use `security: []` "
            "for a public operation.",
        ),
        Rule(
            "error-response-ref",
            ERROR,
            "use a shared response: `$ref: .../responses.yaml#/<Name>` (components/responses).",
        ),
        Rule("error-response-401", ERROR, "add `'401': {$ref: .../responses.yaml#/Unauthorized}`."),
        Rule("error-response-404", ERROR, "add `'404': {$ref: .../responses.yaml#/NotFound}`."),
        Rule(
            "error-response-422",
            ERROR,
            "add `'422': {$ref: .../responses.yaml#/UnprocessableContent}`.",
        ),
        Rule("error-response-400", ERROR, "add `'400': {$ref: .../responses.yaml#/BadRequest}`."),
        Rule(
            "error-response-413",
            ERROR,
            "add `'413': {$ref: .../responses.yaml#/PayloadTooLarge}`.",
        ),
        Rule(
            "error-response-503",
            ERROR,
            "add `'503': {$ref: .../responses.yaml#/ServiceUnavailable}`.",
        ),
        Rule(
            "rate-limit-valid",
            ERROR,
            "write `x-rate-limit` as `{limit: N, window: SECONDS, key: ip|principal|team}`, "
            "a list of those, or `false`.",
        ),
        Rule(
            "rate-limit-429",
            ERROR,
            "document `'429': {$ref: .../responses.yaml#/TooManyRequests}` exactly on the "
            "operations that are rate limited.",
        ),
        Rule(
            "rate-limit-headers",
            ERROR,
            "declare the `RateLimit-Policy` and `RateLimit` headers on the response "
            "(`$ref: .../headers.yaml#/RateLimitPolicy` and `#/RateLimit`).",
        ),
        Rule(
            "error-response-conditional",
            ERROR,
            "add the PreconditionFailed (412) and PreconditionRequired (428) responses.",
        ),
        Rule(
            "error-media-type",
            ERROR,
            "serve the error body as `application/problem+json` with the Problem schema.",
        ),
        Rule(
            "pagination-limit",
            ERROR,
            "add the shared `limit` query parameter (integer, 1 to 100, default 20).",
        ),
        Rule("pagination-cursor", ERROR, "add the shared `cursor` query parameter (a string)."),
        Rule(
            "pagination-page",
            ERROR,
            "return a named *Page schema: required `items` (array) and `next_cursor` "
            '(type [string, "null"]).',
        ),
        Rule("path-version", ERROR, "put the path under the major version prefix `/v1/`."),
        Rule("path-kebab-case", ERROR, "spell path segments in lowercase kebab-case."),
        Rule(
            "path-param-snake-case",
            ERROR,
            "name path parameters in snake_case after the resource: `{product_id}`.",
        ),
        Rule("path-plural", WARNING, "name collections with plural nouns (`/products/{id}`)."),
        Rule("property-snake-case", ERROR, "rename the property to snake_case."),
        Rule(
            "timestamp-naming",
            ERROR,
            "times are `type: string, format: date-time` and their names end in `_at`.",
        ),
        Rule("example-valid", ERROR, "correct the example (or the schema) so they agree."),
        Rule(
            "example-missing",
            WARNING,
            "add an `examples:` entry to the media type (or `examples` to its schema).",
        ),
        Rule(
            "inline-schema",
            ERROR,
            "move the schema to components/schemas and `$ref` it, so clients get a named type.",
        ),
        Rule(
            "enum-name-collision",
            ERROR,
            "give every value a distinct member name in `x-enum-varnames` (a list parallel "
            "to `enum`, e.g. `GMT_PLUS_0` for `GMT+0`), or rename the values.",
        ),
        Rule(
            "boolean-schema",
            ERROR,
            "write `{}` for any value (and `not: {}` for none): openapi-python-client refuses "
            "the whole document over a boolean schema such as `items: true`.",
        ),
        Rule(
            "link-request-body",
            ERROR,
            "make the link's `requestBody` a string (a runtime expression such as "
            "`$response.body#/id`), or move a structured body to `x-request-body` "
            "(tests hand it to schemathesis) and say it in the link's `description`.",
        ),
        Rule("unused-component", WARNING, "remove the component, or reference it."),
        Rule(
            "ref-sibling-ignored",
            WARNING,
            "move the keyword into the referenced object, or drop it.",
        ),
        Rule("waiver-reason", ERROR, "give the waiver a `reason:` saying why the rule is wrong."),
        Rule("waiver-rule", ERROR, "waive a rule by its code: `- {rule: <code>, reason: ...}`."),
        Rule("waiver-unused", WARNING, "remove the waiver: the rule no longer fires here."),
    )
}

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_VERSION = re.compile(r"^/v[0-9]+/")
_ERROR_STATUS = re.compile(r"^(?:[45](?:[0-9]{2}|XX)|default)$")
_PROBLEM = "application/problem+json"
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = (
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "contentSchema",
)
_BUNDLE_URI = "urn:spectools:bundle"


@dataclass(frozen=True, slots=True)
class Finding:
    """One guideline violation, located in the source files."""

    code: str
    severity: str
    message: str
    fix: str
    pointer: str
    location: Location | None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.severity}[{self.code}]: {self.message} Fix: {self.fix}"


@dataclass
class _Waiver:
    rule: str
    scope: str
    used: bool = False


@dataclass(frozen=True, slots=True)
class _Operation:
    path: str
    method: str
    pointer: str
    node: dict[str, Any]
    # Path-level and operation-level parameters, resolved: (pointer, parameter).
    parameters: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def name(self) -> str:
        operation_id = self.node.get("operationId")
        return (
            operation_id if isinstance(operation_id, str) else f"{self.method.upper()} {self.path}"
        )

    def parameter(self, location: str, name: str) -> tuple[str, dict[str, Any]] | None:
        for pointer, param in self.parameters:
            if param.get("in") == location and str(param.get("name")).lower() == name.lower():
                return pointer, param
        return None


def _within(pointer: str, scope: str) -> bool:
    return pointer == scope or pointer.startswith(scope + "/")


def _walk(node: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping at or below ``node``, with its pointer."""
    stack = [(pointer, node)]
    while stack:
        here, value = stack.pop()
        if isinstance(value, dict):
            yield here, value
            stack.extend((join_pointer(here, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((join_pointer(here, i), v) for i, v in enumerate(value))


def _subschemas(schema: dict[str, Any], pointer: str) -> Iterator[tuple[str, Any]]:
    for key in _SCHEMA_MAPS:
        children = schema.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                yield join_pointer(pointer, key, name), child
    for key in (*_SCHEMA_LISTS, *_SCHEMA_ONE):
        child = schema.get(key)
        if isinstance(child, list):
            for i, item in enumerate(child):
                yield join_pointer(pointer, key, i), item
        elif child is not None:
            yield join_pointer(pointer, key), child


def _types(schema: dict[str, Any]) -> frozenset[str]:
    return schema_types(schema) or frozenset()


def _to_draft4(node: Any) -> Any:
    # OpenAPI 3.0 schemas are Draft 4 plus `nullable`; spell `nullable` as a type for the validator.
    if isinstance(node, list):
        return [_to_draft4(v) for v in node]
    if not isinstance(node, dict):
        return node
    result = {k: _to_draft4(v) for k, v in node.items()}
    if result.get("nullable") is True and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    return result


class _Linter:
    def __init__(self, loaded: Bundle) -> None:
        self.bundle = loaded
        self.document = loaded.document
        self.doc = Document(loaded.document)
        self.findings: list[Finding] = []
        # Siblings of `$ref`s that OpenAPI ignores, by pointer (what they are beside).
        self.ignored: dict[str, str] = {}
        self.waivers: list[_Waiver] = []
        self.operations = list(self._operations())
        self._by_pointer = {op.pointer: op for op in self.operations}
        self._validators: dict[str, Any] = {}
        self.openapi_30 = str(self.document.get("openapi", "")).startswith("3.0")
        self._registry: Any = None

    # -- reporting and waivers -------------------------------------------------------------

    def report(
        self,
        code: str,
        pointer: str,
        message: str,
        *,
        fix: str | None = None,
        owner: str | None = None,
    ) -> None:
        rule = RULES[code]
        if not code.startswith("waiver-") and self.waived(code, pointer, owner):
            return
        self.findings.append(
            Finding(
                code,
                rule.severity,
                message,
                fix or rule.fix,
                pointer,
                self.bundle.locate(pointer),
            )
        )

    def waived(self, code: str, pointer: str, owner: str | None = None) -> bool:
        hit = False
        for waiver in self.waivers:
            if waiver.rule == code and (
                _within(pointer, waiver.scope)
                or (owner is not None and _within(owner, waiver.scope))
            ):
                waiver.used = hit = True
        return hit

    def collect_waivers(self) -> None:
        scopes = [join_pointer("/paths", path) for path in self.document.get("paths") or {}]
        scopes += [op.pointer for op in self.operations]
        for kind, entries in (self.document.get("components") or {}).items():
            if isinstance(entries, dict):
                scopes += [join_pointer("/components", kind, name) for name in entries]
        for scope in scopes:
            node = self.at(scope)
            if isinstance(node, dict) and WAIVER_KEY in node:
                self._read_waivers(node[WAIVER_KEY], scope)

    def _read_waivers(self, entries: Any, scope: str) -> None:
        pointer = join_pointer(scope, WAIVER_KEY)
        if not isinstance(entries, list):
            self.report("waiver-rule", pointer, f"{WAIVER_KEY} must be a list of {{rule, reason}}.")
            return
        for i, entry in enumerate(entries):
            here = join_pointer(pointer, i)
            rule = entry.get("rule") if isinstance(entry, dict) else None
            if not isinstance(rule, str) or rule not in RULES or rule.startswith("waiver-"):
                known = ", ".join(c for c in RULES if not c.startswith(("waiver-", "oas-")))
                self.report(
                    "waiver-rule",
                    here,
                    f"waiver of unknown rule {rule!r}.",
                    fix=f"waive one of: {known}.",
                )
                continue
            reason = entry.get("reason") if isinstance(entry, dict) else None
            if not isinstance(reason, str) or not reason.strip():
                # An unexplained waiver does not waive: the next reviewer could not judge it.
                self.report("waiver-reason", here, f"the waiver of {rule} has no reason.")
                continue
            self.waivers.append(_Waiver(rule, scope))

    def report_unused_waivers(self) -> None:
        for waiver in self.waivers:
            if not waiver.used:
                self.report(
                    "waiver-unused",
                    join_pointer(waiver.scope, WAIVER_KEY),
                    f"the waiver of {waiver.rule} waives nothing.",
                )

    # -- navigation -------------------------------------------------------------------------

    def at(self, pointer: str) -> Any:
        try:
            return self.doc.at(pointer)
        except KeyError:
            return None

    def resolve(self, node: Any, pointer: str) -> tuple[Any, str]:
        """A Reference Object's target, with its pointer (the node itself when it is not a
        reference, or when its reference cannot be followed); ignored siblings are noted."""
        try:
            resolved = self.doc.follow(node, pointer)
        except RefError:
            return node, pointer
        self._note(resolved.ignored)
        return resolved.node, resolved.pointer

    def schema(self, node: Any, pointer: str = "") -> tuple[Any, str]:
        """The schema ``node`` describes, its ``$ref`` followed and the siblings applied in
        addition (OpenAPI 3.1), with the pointer it is described at."""
        try:
            resolved = self.doc.follow_schema(node, pointer)
        except RefError:
            return node, pointer
        self._note(resolved.ignored)
        return resolved.effective()

    def _note(self, ignored: tuple[Sibling, ...]) -> None:
        reason = (
            "OpenAPI 3.0 reads nothing beside a `$ref`"
            if not self.doc.siblings_apply
            else "a Reference Object keeps only `summary` and `description` beside its `$ref`"
        )
        for sibling in ignored:
            self.ignored[sibling.pointer] = reason

    def _operations(self) -> Iterator[_Operation]:
        for path, item in (self.document.get("paths") or {}).items():
            self.resolve(item, join_pointer("/paths", path))  # notes what its siblings ignore
        for walked in self.doc.operations(strict=False):
            item_pointer = walked.item_pointer
            shared = self._parameters(walked.parameters, join_pointer(item_pointer, "parameters"))
            operation = walked.operation
            pointer = walked.resolved_pointer
            own = self._parameters(operation.get("parameters"), join_pointer(pointer, "parameters"))
            names = {(p.get("in"), p.get("name")) for _, p in own}
            merged = [(q, p) for q, p in shared if (p.get("in"), p.get("name")) not in names]
            yield _Operation(walked.path, walked.method, pointer, operation, tuple(merged + own))

    def _parameters(self, raw: Any, pointer: str) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for i, param in enumerate(raw if isinstance(raw, list) else []):
            node, where = self.resolve(param, join_pointer(pointer, i))
            if isinstance(node, dict):
                found.append((where, node))
        return found

    def responses(self, op: _Operation) -> dict[str, Any]:
        responses = op.node.get("responses")
        return responses if isinstance(responses, dict) else {}

    def body_name(self, pointer: str, owner: str | None) -> str:
        """How a reviewer names the body at ``pointer``: "the 200 response body of get_me"."""
        op = self._by_pointer.get(owner or "")
        of = f" of {op.name}" if op else ""
        if "/responses/" in pointer:
            status = unescape_pointer_token(pointer.split("/responses/", 1)[1].split("/", 1)[0])
            return f"the {status} response body{of}" if op else f"the body of response {status}"
        return f"the request body{of}"

    def response_schema(
        self, op: _Operation, status: str
    ) -> tuple[dict[str, Any], str] | tuple[None, None]:
        response, pointer = self.resolve(
            self.responses(op).get(status), join_pointer(op.pointer, "responses", status)
        )
        content = response.get("content") if isinstance(response, dict) else None
        for media_type, media in (content or {}).items():
            if media_type.split(";")[0].strip().endswith("json") and isinstance(media, dict):
                schema, where = self.schema(
                    media.get("schema"), join_pointer(pointer, "content", media_type, "schema")
                )
                if isinstance(schema, dict):
                    return schema, where
        return None, None

    def media_objects(self) -> Iterator[tuple[str, str, dict[str, Any], str | None]]:
        """(kind, pointer, node, owning operation) of parameters, headers and media types."""
        seen: set[str] = set()

        def body(node: Any, pointer: str, owner: str | None, kind: str) -> Iterator[Any]:
            node, pointer = self.resolve(node, pointer)
            if not isinstance(node, dict) or pointer in seen:
                return
            seen.add(pointer)
            if kind in ("parameter", "header"):
                yield kind, pointer, node, owner
            if kind == "response":
                for name, header in (node.get("headers") or {}).items():
                    yield from body(header, join_pointer(pointer, "headers", name), owner, "header")
            for media_type, media in (node.get("content") or {}).items():
                if isinstance(media, dict):
                    yield "media", join_pointer(pointer, "content", media_type), media, owner

        components = self.document.get("components") or {}
        for kind, plural in (
            ("parameter", "parameters"),
            ("header", "headers"),
            ("response", "responses"),
            ("request", "requestBodies"),
        ):
            for name, node in (components.get(plural) or {}).items():
                yield from body(node, join_pointer("/components", plural, name), None, kind)
        for op in self.operations:
            for pointer, param in op.parameters:
                yield from body(param, pointer, op.pointer, "parameter")
            if "requestBody" in op.node:
                yield from body(
                    op.node["requestBody"],
                    join_pointer(op.pointer, "requestBody"),
                    op.pointer,
                    "request",
                )
            for status, response in self.responses(op).items():
                yield from body(
                    response, join_pointer(op.pointer, "responses", status), op.pointer, "response"
                )

    def schemas(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every Schema Object of the document, once, with its pointer."""
        roots = [
            (join_pointer("/components/schemas", name), schema)
            for name, schema in (
                (self.document.get("components") or {}).get("schemas") or {}
            ).items()
        ]
        roots += [
            (join_pointer(pointer, "schema"), node["schema"])
            for _, pointer, node, _ in self.media_objects()
            if "schema" in node
        ]
        seen: set[str] = set()
        stack = roots[::-1]
        while stack:
            pointer, schema = stack.pop()
            if not isinstance(schema, dict) or pointer in seen:
                continue
            seen.add(pointer)
            yield pointer, schema
            stack.extend(list(_subschemas(schema, pointer))[::-1])

    # -- example validation -----------------------------------------------------------------

    def validator(self, schema_pointer: str) -> Any:
        validator = self._validators.get(schema_pointer)
        if validator is None:
            if self._registry is None:
                resource = _to_draft4(self.document) if self.openapi_30 else self.document
                self._registry = jsonschema_rs.Registry([(_BUNDLE_URI, resource)])
            # Braces and the like are not allowed in a URI fragment; ~ and / keep their meaning.
            ref = {"$ref": f"{_BUNDLE_URI}#{quote(schema_pointer, safe='/~')}"}
            cls = (
                jsonschema_rs.Draft4Validator
                if self.openapi_30
                else jsonschema_rs.Draft202012Validator
            )
            validator = cls(ref, registry=self._registry, validate_formats=True)
            self._validators[schema_pointer] = validator
        return validator

    def check_example(
        self, value: Any, schema_pointer: str, pointer: str, what: str, owner: str | None
    ) -> None:
        error = next(iter(self.validator(schema_pointer).iter_errors(value)), None)
        if error is not None:
            at = join_pointer("", *error.instance_path) or "/"
            self.report(
                "example-valid",
                pointer,
                f"{what} does not match its schema: at {at}: {error.message}.",
                owner=owner,
            )


# -- rules ------------------------------------------------------------------------------------


def _check_operations(lint: _Linter) -> None:
    seen: dict[str, str] = {}
    root_security = lint.document.get("security")
    for op in lint.operations:
        operation_id = op.node.get("operationId")
        pointer = op.pointer
        if not isinstance(operation_id, str) or not operation_id:
            lint.report("operation-id-missing", pointer, f"{op.name} has no operationId.")
        elif not _SNAKE.match(operation_id):
            lint.report(
                "operation-id-snake-case",
                join_pointer(pointer, "operationId"),
                f"operationId {operation_id!r} is not snake_case.",
                fix=f"rename it to {snake(operation_id)!r}.",
            )
        if isinstance(operation_id, str) and operation_id in seen:
            lint.report(
                "operation-id-unique",
                join_pointer(pointer, "operationId"),
                f"operationId {operation_id!r} is also used by {seen[operation_id]}.",
            )
        elif isinstance(operation_id, str):
            seen[operation_id] = f"{op.method.upper()} {op.path}"
        tags = op.node.get("tags")
        if not isinstance(tags, list) or len(tags) != 1:
            count = len(tags) if isinstance(tags, list) else 0
            lint.report("operation-tags", pointer, f"{op.name} has {count} tags, not exactly one.")
        summary = op.node.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            lint.report("operation-summary", pointer, f"{op.name} has no summary.")
        if "security" not in op.node and root_security is None:
            lint.report("operation-security", pointer, f"{op.name} declares no security.")


def _secured(lint: _Linter, op: _Operation) -> bool:
    security = op.node.get("security", lint.document.get("security"))
    return isinstance(security, list) and any(
        isinstance(requirement, dict) and requirement for requirement in security
    )


def _check_error_responses(lint: _Linter) -> None:
    checked_media: set[str] = set()
    for op in lint.operations:
        responses = lint.responses(op)
        where = join_pointer(op.pointer, "responses")
        for status, response in responses.items():
            if not _ERROR_STATUS.match(status):
                continue
            pointer = join_pointer(where, status)
            ref = response.get("$ref") if isinstance(response, dict) else None
            if not (isinstance(ref, str) and ref.startswith("#/components/responses/")):
                lint.report(
                    "error-response-ref",
                    pointer,
                    f"{op.name} describes its {status} response inline.",
                    owner=op.pointer,
                )
            resolved, resolved_pointer = lint.resolve(response, pointer)
            if isinstance(resolved, dict) and resolved_pointer not in checked_media:
                checked_media.add(resolved_pointer)
                _check_problem_media(lint, resolved, resolved_pointer, status, op)
        has_body = "requestBody" in op.node
        required = []
        if _secured(lint, op):
            required.append(("401", "error-response-401", "requires a token"))
        if "{" in op.path:
            required.append(("404", "error-response-404", "has path parameters"))
        if op.parameters or has_body:
            required.append(("422", "error-response-422", "takes input that can fail validation"))
        if has_body or op.parameter("query", "cursor"):
            reason = "reads a body" if has_body else "takes a cursor"
            required.append(("400", "error-response-400", f"{reason} that can be malformed"))
        if has_body:
            required.append(("413", "error-response-413", "reads a body that can be too large"))
        # The server's deadline can cut any handler short.
        required.append(("503", "error-response-503", "can miss the server's deadline"))
        for status, code, reason in required:
            if status not in responses:
                lint.report(
                    code,
                    where,
                    f"{op.name} {reason} but does not document {status}.",
                    owner=op.pointer,
                )
        if op.parameter("header", "If-Match") and not {"412", "428"} <= set(responses):
            lint.report(
                "error-response-conditional",
                where,
                f"{op.name} takes If-Match but does not document both 412 and 428.",
                owner=op.pointer,
            )


_RATE_LIMIT_HEADERS = ("RateLimit-Policy", "RateLimit")


def _check_rate_limits(lint: _Linter) -> None:
    """`x-rate-limit` is well-formed; limited operations document 429 (and only they do),
    and every response of theirs declares the RateLimit header fields the server sends."""
    try:
        default = parse_limits(lint.document.get("x-rate-limit"), "default", "x-rate-limit")
    except ValueError as error:
        lint.report("rate-limit-valid", "/x-rate-limit", str(error))
        default = ()
    for op in lint.operations:
        limits = default
        if "x-rate-limit" in op.node:
            try:
                limits = parse_limits(op.node["x-rate-limit"], op.name, f"{op.name} x-rate-limit")
            except ValueError as error:
                lint.report(
                    "rate-limit-valid",
                    join_pointer(op.pointer, "x-rate-limit"),
                    str(error),
                    owner=op.pointer,
                )
                continue
        responses = lint.responses(op)
        where = join_pointer(op.pointer, "responses")
        if bool(limits) != ("429" in responses):
            said = "is rate limited but does not" if limits else "is not rate limited but does"
            lint.report(
                "rate-limit-429", where, f"{op.name} {said} document 429.", owner=op.pointer
            )
        if not limits:
            continue
        for status, response in responses.items():
            resolved, _ = lint.resolve(response, join_pointer(where, status))
            headers = resolved.get("headers") if isinstance(resolved, dict) else None
            missing = [h for h in _RATE_LIMIT_HEADERS if h not in (headers or {})]
            if missing:
                lint.report(
                    "rate-limit-headers",
                    join_pointer(where, status),
                    f"the {status} response of rate-limited {op.name} does not declare "
                    f"{' and '.join(missing)}.",
                    owner=op.pointer,
                )


def _check_problem_media(
    lint: _Linter, response: dict[str, Any], pointer: str, status: str, op: _Operation
) -> None:
    content = response.get("content")
    if not isinstance(content, dict) or not content:
        lint.report(
            "error-media-type",
            pointer,
            f"the {status} response of {op.name} has no problem body.",
            owner=op.pointer,
        )
        return
    for media_type in content:
        if media_type.split(";")[0].strip().lower() != _PROBLEM:
            lint.report(
                "error-media-type",
                join_pointer(pointer, "content", media_type),
                f"the {status} response of {op.name} is {media_type}, not {_PROBLEM}.",
                owner=op.pointer,
            )


def _is_collection(lint: _Linter, op: _Operation) -> bool:
    paths = lint.document.get("paths") or {}
    if any(other.startswith(op.path.rstrip("/") + "/{") for other in paths):
        return True
    schema, _ = lint.response_schema(op, "200")
    properties = (schema or {}).get("properties") or {}
    return "items" in properties and "next_cursor" in properties


def _check_pagination(lint: _Linter) -> None:
    for op in lint.operations:
        if op.method != "get" or not _is_collection(lint, op):
            continue
        where = join_pointer(op.pointer, "parameters")
        limit = op.parameter("query", "limit")
        schema: Any = lint.schema(limit[1].get("schema"))[0] if limit else None
        if not (
            isinstance(schema, dict)
            and "integer" in _types(schema)
            and (schema.get("minimum"), schema.get("maximum"), schema.get("default"))
            == (1, 100, 20)
        ):
            lint.report(
                "pagination-limit",
                limit[0] if limit else op.pointer,
                f"{op.name} lists a collection but has no `limit` query parameter "
                "(integer, minimum 1, maximum 100, default 20).",
                owner=op.pointer,
            )
        cursor = op.parameter("query", "cursor")
        schema = lint.schema(cursor[1].get("schema"))[0] if cursor else None
        if not (isinstance(schema, dict) and "string" in _types(schema)):
            lint.report(
                "pagination-cursor",
                cursor[0] if cursor else (where if "parameters" in op.node else op.pointer),
                f"{op.name} lists a collection but has no string `cursor` query parameter.",
                owner=op.pointer,
            )
        page, page_pointer = lint.response_schema(op, "200")
        problem = _page_problem(lint, page)
        if problem:
            lint.report(
                "pagination-page",
                page_pointer or join_pointer(op.pointer, "responses"),
                f"{op.name} lists a collection, but its 200 body {problem}.",
                owner=op.pointer,
            )


def _page_problem(lint: _Linter, page: dict[str, Any] | None) -> str | None:
    if page is None:
        return "is not JSON"
    properties = page.get("properties") or {}
    required = set(page.get("required") or [])
    items = lint.schema(properties.get("items"))[0]
    cursor = lint.schema(properties.get("next_cursor"))[0]
    if not isinstance(items, dict) or "array" not in _types(items):
        return "has no `items` array"
    if not isinstance(cursor, dict):
        return "has no `next_cursor`"
    cursor_types = _types(cursor) | {
        t for branch in cursor.get("anyOf") or cursor.get("oneOf") or [] for t in _types(branch)
    }
    if not {"string", "null"} <= cursor_types:
        return "has a `next_cursor` that is not a nullable string"
    if not {"items", "next_cursor"} <= required:
        return "does not require both `items` and `next_cursor`"
    return None


def _check_paths(lint: _Linter) -> None:
    for path in lint.document.get("paths") or {}:
        pointer = join_pointer("/paths", path)
        if not _VERSION.match(path):
            lint.report("path-version", pointer, f"{path} is not under a version prefix (/v1/).")
        segments = [s for s in path.split("/") if s][1 if _VERSION.match(path) else 0 :]
        for i, segment in enumerate(segments):
            param = re.fullmatch(r"\{(.+)\}", segment)
            if param:
                name = param.group(1)
                if not (_SNAKE.match(name) and name.endswith("_id")):
                    lint.report(
                        "path-param-snake-case",
                        pointer,
                        f"path parameter {{{name}}} of {path} is not a snake_case `*_id`.",
                    )
            elif not _KEBAB.match(segment):
                lint.report(
                    "path-kebab-case", pointer, f"segment {segment!r} of {path} is not kebab-case."
                )
            elif (
                i + 1 < len(segments)
                and segments[i + 1].startswith("{")
                and not segment.endswith("s")
            ):
                lint.report(
                    "path-plural",
                    pointer,
                    f"collection {segment!r} of {path} is not a plural noun.",
                )


def _check_schemas(lint: _Linter) -> None:
    for pointer, schema in lint.schemas():
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            continue
        for name, raw in properties.items():
            here = join_pointer(pointer, "properties", name)
            if not _SNAKE.match(name):
                lint.report(
                    "property-snake-case",
                    here,
                    f"property {name!r} is not snake_case.",
                    fix=f"rename it to {snake(name)!r}.",
                )
            prop, _ = lint.schema(raw, here)
            is_time = isinstance(prop, dict) and prop.get("format") == "date-time"
            if name.endswith("_at") and not is_time:
                lint.report(
                    "timestamp-naming",
                    here,
                    f"property {name!r} is named like a time but is not `format: date-time`.",
                )
            elif is_time and not name.endswith("_at"):
                lint.report(
                    "timestamp-naming",
                    here,
                    f"property {name!r} is a date-time but its name does not end in `_at`.",
                    fix=f"rename it to {name + '_at'!r} (or similar).",
                )


def _object_like(schema: Any) -> bool:
    if not isinstance(schema, dict) or "$ref" in schema:
        return False
    types = _types(schema)
    if "object" in types or "properties" in schema or "allOf" in schema:
        return True
    if "array" in types:
        return _object_like(schema.get("items"))
    return any(_object_like(s) for s in (schema.get("oneOf") or []) + (schema.get("anyOf") or []))


def _check_inline_schemas(lint: _Linter) -> None:
    for kind, pointer, media, owner in lint.media_objects():
        if kind == "media" and "/parameters/" not in pointer and _object_like(media.get("schema")):
            lint.report(
                "inline-schema",
                join_pointer(pointer, "schema"),
                f"{lint.body_name(pointer, owner)} has an inline anonymous object schema.",
                owner=owner,
            )


def _check_examples(lint: _Linter) -> None:
    for _, pointer, node, owner in lint.media_objects():
        if "schema" not in node:
            continue
        schema_pointer = join_pointer(pointer, "schema")
        if "example" in node:
            here = join_pointer(pointer, "example")
            lint.check_example(node["example"], schema_pointer, here, "the example", owner)
        for name, example in (node.get("examples") or {}).items():
            here = join_pointer(pointer, "examples", name)
            resolved, _ = lint.resolve(example, here)
            if isinstance(resolved, dict) and "value" in resolved:
                lint.check_example(
                    resolved["value"], schema_pointer, here, f"example {name!r}", owner
                )
    for pointer, schema in lint.schemas():
        if "example" in schema:
            lint.check_example(
                schema["example"], pointer, join_pointer(pointer, "example"), "the example", None
            )
        examples = schema.get("examples")
        for i, value in enumerate(examples if isinstance(examples, list) else []):
            lint.check_example(
                value, pointer, join_pointer(pointer, "examples", i), "the example", None
            )


def _check_missing_examples(lint: _Linter) -> None:
    for kind, pointer, media, owner in lint.media_objects():
        if kind != "media" or "/parameters/" in pointer or owner is None:
            continue
        status = (
            pointer.split("/responses/", 1)[-1].split("/", 1)[0] if "/responses/" in pointer else ""
        )
        if status and not status.startswith("2"):
            continue
        schema, _ = lint.schema(media.get("schema"))
        if "example" in media or media.get("examples"):
            continue
        if isinstance(schema, dict) and ("example" in schema or schema.get("examples")):
            continue
        lint.report(
            "example-missing",
            pointer,
            f"{lint.body_name(pointer, owner)} has no example.",
            owner=owner,
        )


def _component_of(pointer: str) -> str | None:
    parts = pointer.split("/")
    if len(parts) >= 4 and parts[1] == "components" and parts[2] in COMPONENT_KINDS:
        return "/".join(parts[:4])
    return None


def _check_unused_components(lint: _Linter) -> None:
    components = lint.document.get("components") or {}
    every = {
        join_pointer("/components", kind, name)
        for kind in COMPONENT_KINDS
        for name in (components.get(kind) or {})
    }
    uses: dict[str | None, set[str]] = {}
    for pointer, node in _walk(lint.document, ""):
        owner = _component_of(pointer)
        targets = uses.setdefault(owner, set())
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            targets.add(_component_of(fragment(ref)) or "")
        mapping = (
            (node.get("discriminator") or {}).get("mapping") if "discriminator" in node else None
        )
        for target in (mapping or {}).values():
            if isinstance(target, str) and target.startswith("#"):
                targets.add(_component_of(fragment(target)) or "")
        security = node.get("security") if owner is None else None
        for requirement in security if isinstance(security, list) else []:
            for scheme in requirement if isinstance(requirement, dict) else {}:
                targets.add(join_pointer("/components/securitySchemes", scheme))

    def reachable(roots: set[str | None]) -> set[str | None]:
        found = set(roots)
        stack = list(roots)
        while stack:
            for target in uses.get(stack.pop(), set()):
                if target not in found:
                    found.add(target)
                    stack.append(target)
        return found

    used = reachable({None})
    unused = sorted(every - used)
    # A component kept on purpose keeps what it references; report only what nothing keeps.
    kept = {
        c
        for c in unused
        if any(w.rule == "unused-component" and w.scope == c for w in lint.waivers)
    }
    still_used = reachable({None, *kept}) - kept
    for pointer in unused:
        if pointer not in still_used:
            name = unescape_pointer_token(pointer.rsplit("/", 1)[1])
            lint.report("unused-component", pointer, f"component {name} is not referenced.")


def _identifier(name: str) -> str:
    """What survives every client generator's identifier normalisation: letters and digits,
    case-folded (openapi-python-client drops `+` and upper-cases, typescript-fetch camel-cases
    and drops `+` and `-`)."""
    return "".join(c for c in name.casefold() if c.isalnum())


def _named_after_spelling(value: str, *, varname: bool) -> str | None:
    """The identifier a generator derives from an enum value's spelling, or None when it names
    the value otherwise (openapi-python-client calls a value that does not start with a letter
    `VALUE_<i>`, typescript-fetch numbers a repeat: `-price` next to `price` is fine)."""
    return _identifier(value) if varname or value[:1].isalpha() else None


def _check_enum_names(lint: _Linter) -> None:
    for pointer, schema in lint.schemas():
        values = schema.get("enum")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            continue
        names: list[str] = values
        varnames = schema.get("x-enum-varnames")
        if varnames is not None:
            here = join_pointer(pointer, "x-enum-varnames")
            if not (
                isinstance(varnames, list)
                and len(varnames) == len(values)
                and all(isinstance(v, str) and v for v in varnames)
            ):
                lint.report(
                    "enum-name-collision",
                    here,
                    f"x-enum-varnames must list one name per `enum` value ({len(values)}); "
                    "generators ignore it otherwise.",
                )
                continue
            names = varnames
        explicit = names is varnames
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            key = _named_after_spelling(name, varname=explicit)
            first = seen.setdefault(key, i) if key else i
            if first == i:
                continue
            lint.report(
                "enum-name-collision",
                join_pointer(pointer, "x-enum-varnames" if explicit else "enum", i),
                f"{'member names' if explicit else 'enum values'} {names[first]!r} and "
                f"{name!r} become the same identifier ({key!r}) in generated clients: "
                "openapi-python-client stops (or silently drops one), typescript-fetch can "
                "emit one member twice.",
            )


# Where every client generator reads `true`/`false`: a boolean is fine there.
_BOOLEAN_READ = ("additionalProperties", "unevaluatedProperties")


def _check_boolean_schemas(lint: _Linter) -> None:
    for pointer, schema in lint.schemas():
        for here, child in _subschemas(schema, pointer):
            keyword = here[len(pointer) + 1 :].split("/", 1)[0]
            if isinstance(child, bool) and keyword not in _BOOLEAN_READ:
                lint.report(
                    "boolean-schema",
                    here,
                    f"the boolean schema `{str(child).lower()}` stops openapi-python-client "
                    '("Input should be a valid dictionary or instance of Schema").',
                )


def _check_link_bodies(lint: _Linter) -> None:
    for op in lint.operations:
        for status, raw in lint.responses(op).items():
            response, where = lint.resolve(raw, join_pointer(op.pointer, "responses", status))
            links = response.get("links") if isinstance(response, dict) else None
            for name, raw_link in (links if isinstance(links, dict) else {}).items():
                link, here = lint.resolve(raw_link, join_pointer(where, "links", name))
                body = link.get("requestBody", "") if isinstance(link, dict) else ""
                if not isinstance(body, str):
                    lint.report(
                        "link-request-body",
                        join_pointer(here, "requestBody"),
                        f"link {name} of {op.name}'s {status} response has a "
                        f"{type(body).__name__} `requestBody`: openapi-generator rejects the "
                        "document (its parser takes only a string there).",
                        owner=op.pointer,
                    )


def _check_ignored_siblings(lint: _Linter) -> None:
    """Keywords beside a `$ref` that OpenAPI ignores (noted wherever the rules follow one)."""
    for pointer, schema in lint.schemas():
        if "$ref" in schema:
            lint.schema(schema, pointer)
    for pointer, reason in sorted(lint.ignored.items()):
        name = unescape_pointer_token(pointer.rsplit("/", 1)[1])
        lint.report(
            "ref-sibling-ignored", pointer, f"`{name}` beside a `$ref` is ignored: {reason}."
        )


_CHECKS = (
    _check_operations,
    _check_error_responses,
    _check_rate_limits,
    _check_pagination,
    _check_paths,
    _check_schemas,
    _check_inline_schemas,
    _check_examples,
    _check_missing_examples,
    _check_enum_names,
    _check_boolean_schemas,
    _check_link_bodies,
    _check_unused_components,
    _check_ignored_siblings,
)


def lint_bundle(loaded: Bundle) -> list[Finding]:
    """Apply every rule of :data:`RULES` to a bundled, valid document."""
    lint = _Linter(loaded)
    lint.collect_waivers()
    for check in _CHECKS:
        check(lint)
    lint.report_unused_waivers()
    return sorted(
        lint.findings,
        key=lambda f: (
            f.location.file if f.location else "",
            f.location.line if f.location else 0,
            f.code,
            f.message,
        ),
    )


def _spec_findings(error: SpecError) -> list[Finding]:
    rule = RULES["oas-valid"]
    return [
        Finding(
            rule.code,
            rule.severity,
            f"{d.message.rstrip('.')} (at {d.pointer or '/'}).",
            rule.fix,
            d.pointer,
            d.location,
        )
        for d in error.diagnostics
    ]


def lint(spec: Path, *, out: Path | None = None) -> list[Finding]:
    """Bundle, validate and lint ``spec``; write the bundle to ``out`` when it is valid.

    A document that does not bundle or validate yields only ``oas-valid`` findings: the
    guideline rules assume a well-formed document.
    """
    try:
        loaded = bundle(spec)
        validate_bundle(loaded)
    except SpecError as exc:
        return _spec_findings(exc)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(loaded.document, indent=2, ensure_ascii=False) + "\n"
        out.write_text(text, encoding="utf-8")
    return lint_bundle(loaded)


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the findings; exit 1 on any error, 0 when only warnings remain."""
    parser = argparse.ArgumentParser(
        prog="python -m spectools.lint", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--spec", default="openapi/openapi.yaml", help="root OpenAPI file")
    parser.add_argument("--out", help="also write the bundled document here (when it is valid)")
    args = parser.parse_args(argv)
    findings = lint(Path(args.spec), out=Path(args.out) if args.out else None)
    for finding in findings:
        print(finding)
    errors = sum(f.severity == ERROR for f in findings)
    warnings = len(findings) - errors
    print(f"{args.spec}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
