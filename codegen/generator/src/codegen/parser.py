"""Read a bundled OpenAPI document into the intermediate representation (:mod:`codegen.ir`)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codegen import ir
from codegen.bundle import Bundle
from codegen.deeprefs import hoist_deep_refs
from codegen.errors import Diagnostic, SpecError, join_pointer, unescape_pointer_token
from codegen.keywords import drop_inapplicable
from codegen.naming import NameTable, pascal, safe_identifier, snake
from codegen.patterns import adapt_patterns
from codegen.required import declare_required
from codegen.siblings import drop_ignored_siblings
from codegen.types import Mapped, TypeMapper, has_second_pattern, is_class_like, is_uri_string
from specfirst.document import Document, RefError

# (document) -> (the classes of models.py, component schema name -> its class)
ModelEmitter = Callable[[dict[str, Any]], tuple[set[str], dict[str, str]]]

# Schemas the model generator cannot type: prefixItems (it writes a list of a union),
# uniqueItems (it has a list that allows duplicates, or a set that drops them and the items'
# constraints), a $ref whose sibling adds a second pattern (it keeps one) and a `format: uri`
# string (its AnyUrl rewrites the URI and drops maxLength; a plain str checks nothing). Each
# reaches it as a custom type of this (non-existent) module, replaced afterwards by the type
# the TypeMapper writes: a positional tuple, a checked list, a string matching both
# patterns, a string checked as an absolute URI.
POSITIONS_MODULE = "codegen_positions"
# What a placeholder keeps of its schema: what the model generator writes about the field.
_PLACEHOLDER_KEEPS = ("description", "title", "default", "examples", "readOnly", "writeOnly")
_NOT_SCHEMAS = frozenset({"default", "example", "examples", "enum", "const"})

_PARAM_LOCATIONS = ("path", "query", "querystring", "header", "cookie")
# Sequential media types (OpenAPI 3.2): with an item schema, a response streams its items.
_SEQUENTIAL = {
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/json-seq": "json-seq",
    "text/event-stream": "sse",
}
# The item schema: 3.2's keyword, and the extension that says the same in 3.0 and 3.1.
ITEM_SCHEMA_KEYS = ("itemSchema", "x-item-schema")


def stream_kind(media_type: str) -> str | None:
    """How a response of this sequential media type is streamed, or None if it is not one."""
    return _SEQUENTIAL.get(media_type.lower().split(";", 1)[0].strip())


def media_kind(media_type: str) -> str:
    """How a body of this media type is read and written."""
    mt = media_type.lower().split(";", 1)[0].strip()
    if mt == "application/json" or mt.endswith("+json") or mt == "*/*":
        return "json"
    if mt == "application/x-www-form-urlencoded":
        return "form"
    if mt.startswith("multipart/"):
        return "multipart"
    if mt.startswith("text/"):
        return "text"
    return "binary"


@dataclass
class Parsed:
    """The IR plus what the model generator needs: the schemas to emit and their class names."""

    api: ir.Api
    model_document: dict[str, Any]
    class_names: dict[str, str]
    warnings: list[Diagnostic] = field(default_factory=list)
    # Placeholder name in the models' source -> the tuple or checked list type it stands for.
    positions: dict[str, str] = field(default_factory=dict)


class _Parser:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.warnings: list[Diagnostic] = []
        # A 3.0 document's `$ref` siblings say nothing (specfirst.document's rule).
        document, ignored = drop_ignored_siblings(bundle.document)
        for pointer in ignored:
            keyword = unescape_pointer_token(pointer.rsplit("/", 1)[1])
            self.warnings.append(
                bundle.diagnostic(
                    f"{keyword!r} beside a $ref is ignored: OpenAPI 3.0 reads nothing beside "
                    "a $ref (for a schema, `allOf: [{$ref: ...}]` with it beside applies it)",
                    pointer,
                    "warning",
                )
            )
        dropped: list[tuple[str, str]] = []
        # The served document keeps its patterns; the code gets what the runtime can compile.
        self.document = adapt_patterns(document, "", dropped)
        for pointer, pattern in dropped:
            self.warnings.append(
                bundle.diagnostic(
                    f"pattern {pattern!r} cannot be compiled by the runtime's regex engine "
                    "(lookaround, backreference, surrogate, or not a valid expression); "
                    "it is not enforced",
                    pointer,
                    "warning",
                )
            )
        # References into the middle of a schema name a component of their own from here on.
        self.document, _ = hoist_deep_refs(self.document)
        # A required name without a schema still has to be there (any value).
        self.document = declare_required(self.document)
        self.document, inapplicable = drop_inapplicable(self.document)
        self.doc = Document(self.document)
        for pointer, keyword in inapplicable:
            self.warnings.append(
                bundle.diagnostic(
                    f"{keyword!r} does not apply to the schema's type; it is not enforced",
                    pointer,
                    "warning",
                )
            )
        components = self.document.get("components") or {}
        schemas = components.get("schemas") or {}
        self.schemas: dict[str, Any] = dict(schemas) if isinstance(schemas, dict) else {}
        self.class_table = NameTable({"Any", "BaseModel", "Field", "RootModel"})
        self.class_names = {name: self.class_table.claim(pascal(name)) for name in self.schemas}
        self.hoisted: dict[str, Any] = {}
        self.undefined_schemes: set[str] = set()  # named by security requirements
        self.hoisted_by_hint: dict[str, list[str]] = {}

    # -- references -------------------------------------------------------------------

    def deref(self, node: Any, pointer: str) -> tuple[Any, str]:
        """A Reference Object's target and its pointer (:mod:`specfirst.document`'s rule)."""
        try:
            resolved = self.doc.follow(node, pointer)
        except RefError as error:
            raise SpecError([self.bundle.diagnostic(error.message, error.pointer)]) from None
        return resolved.node, resolved.pointer

    def hoist(self, schema: dict[str, Any], hint: str) -> str:
        for name in self.hoisted_by_hint.get(hint, []):
            if self.hoisted[name] == schema:
                return name
        name = self.class_table.claim(pascal(hint))
        self.hoisted[name] = copy.deepcopy(schema)
        self.hoisted_by_hint.setdefault(hint, []).append(name)
        self.class_names[name] = name
        return name

    # -- the walk ---------------------------------------------------------------------

    def parse(self, emit_models: ModelEmitter) -> Parsed:
        op_ids = NameTable()
        method_names = NameTable(frozenset())
        response_classes = NameTable()
        raw_ops, outbound_raw = self.walk()
        # Pass 1 hoists inline schemas so they get models; pass 2 maps with the final classes.
        hoisting = TypeMapper(self.document, self.class_names, self.hoist)
        kept, self.warnings = self.warnings, []  # pass 2 reports them
        for _, _, path, method, operation, shared, pointer in outbound_raw:
            self.operation(
                hoisting,
                path,
                method,
                operation,
                shared,
                pointer,
                NameTable(),
                NameTable(),
                NameTable(),
            )
        for path, method, operation, shared, pointer in raw_ops:
            self.operation(
                hoisting,
                path,
                method,
                operation,
                shared,
                pointer,
                NameTable(),
                NameTable(),
                NameTable(),
            )
        self.warnings = kept
        tuples = self.placeholders(hoisting)
        all_schemas = {**self.schemas, **self.hoisted}
        model_document: dict[str, Any] = {
            # The model generator reads 3.1; 3.2's Schema Objects are the same dialect.
            "openapi": _model_version(str(self.document.get("openapi", "3.1.0"))),
            "info": {"title": "models", "version": "0"},
            "paths": {},
            "components": {"schemas": _with_placeholders(all_schemas, tuples)},
        }
        existing, classes = emit_models(model_document)
        model_document["components"]["schemas"] = all_schemas
        view = {
            **self.document,
            "components": {
                **(self.document.get("components") or {}),
                "schemas": model_document["components"]["schemas"],
            },
        }
        mapper = TypeMapper(view, classes, self.hoist, existing=existing)
        operations: list[ir.Operation] = []
        for path, method, operation, shared, pointer in raw_ops:
            operations.append(
                self.operation(
                    mapper,
                    path,
                    method,
                    operation,
                    shared,
                    pointer,
                    op_ids,
                    method_names,
                    response_classes,
                )
            )
        outbound_ids, outbound_names, outbound_classes = NameTable(), NameTable(), NameTable()
        outbound = tuple(
            ir.Outbound(
                kind=kind,
                name=name,
                target=path,
                operation=self.operation(
                    mapper,
                    path,
                    method,
                    operation,
                    shared,
                    pointer,
                    outbound_ids,
                    outbound_names,
                    outbound_classes,
                ),
            )
            for kind, name, path, method, operation, shared, pointer in outbound_raw
        )
        api = self.api(operations)
        receivers = self.tags([out.operation for out in outbound], "Receiver")
        api = ir.Api(api.title, api.version, api.tags, api.schemes, outbound, receivers)
        local = TypeMapper(view, classes, None, existing=existing, qualified=False)
        positions = {name: local.map(schema, name).validator for name, schema in tuples.values()}
        return Parsed(api, model_document, self.class_names, self.warnings, positions)

    def placeholders(self, hoisting: TypeMapper) -> dict[int, tuple[str, Any]]:
        """Every schema inside the modelled schemas that the model generator cannot type (by
        ``id``), with the placeholder name it gets; mapping each first hoists its inline
        object items, which are searched in turn."""

        def wanted(node: dict[str, Any]) -> bool:
            return (
                isinstance(node.get("prefixItems"), list)
                or (node.get("uniqueItems") is True and hoisting.is_array(node))
                or ("$ref" in node and has_second_pattern(hoisting.resolve(node), node))
                or is_uri_string(node)
            )

        found: dict[int, tuple[str, Any]] = {}
        done: set[str] = set()
        while pending := [n for n in [*self.schemas, *self.hoisted] if n not in done]:
            for name in pending:
                done.add(name)
                schemas = self.schemas if name in self.schemas else self.hoisted
                for node in _placeholder_schemas(schemas[name], wanted):
                    if id(node) not in found:
                        found[id(node)] = (f"CodegenPositions{len(found)}", node)
                        hoisting.map(node, pascal(name) + "Item")
        return found

    def walk(
        self,
    ) -> tuple[
        list[tuple[str, str, dict[str, Any], list[Any], str]],
        list[tuple[str, str, str, str, dict[str, Any], list[Any], str]],
    ]:
        """The operations of the paths as (path, method, operation, path-level parameters,
        pointer), and the requests the API sends (webhooks, then the callbacks of its
        operations) as (kind, name, target, method, operation, parameters, pointer)."""
        try:
            walked = self.doc.operations(outbound=True)
        except RefError as error:
            raise SpecError([self.bundle.diagnostic(error.message, error.pointer)]) from None
        for op in walked:
            if op.additional and op.method != op.method.upper():
                # HTTP methods are case-sensitive, but the router matches them upper-cased.
                raise SpecError(
                    [
                        self.bundle.diagnostic(
                            f"additionalOperations method {op.method!r} is not upper-case: the "
                            "runtime's router (Starlette) matches methods upper-cased, so it "
                            "cannot be served",
                            op.pointer,
                        )
                    ]
                )
        paths = [
            (op.path, op.method, op.operation, op.parameters, op.pointer)
            for op in walked
            if op.kind == "path"
        ]
        outbound = [
            (op.kind, op.name, op.path, op.method, op.operation, op.parameters, op.pointer)
            for op in walked
            if op.kind != "path"
        ]
        return paths, outbound

    def api(self, operations: list[ir.Operation]) -> ir.Api:
        info = self.document.get("info") or {}
        schemes = []
        raw_schemes = (self.document.get("components") or {}).get("securitySchemes") or {}
        for name, raw in raw_schemes.items():
            scheme, _ = self.deref(raw, join_pointer("/components/securitySchemes", name))
            schemes.append(
                ir.SecurityScheme(
                    name=name,
                    type=str(scheme.get("type", "")),
                    scheme=str(scheme.get("scheme", "")).lower(),
                    location=str(scheme.get("in", "")),
                    parameter=str(scheme.get("name", "")),
                )
            )
        # An undefined scheme says nowhere where its credentials are: an API key read from no
        # location, which no request presents, so a requirement naming it fails closed (401).
        schemes.extend(
            ir.SecurityScheme(name=name, type="apiKey", scheme="", location="", parameter="")
            for name in sorted(self.undefined_schemes - set(raw_schemes))
        )
        return ir.Api(
            title=str(info.get("title", "API")),
            version=str(info.get("version", "")),
            tags=self.tags(operations, "Api"),
            schemes=tuple(schemes),
        )

    def tags(self, operations: list[ir.Operation], suffix: str) -> tuple[ir.Tag, ...]:
        """The operations grouped by their first tag, in the document's order of tags; each
        group's Protocol is named after the tag and ``suffix``."""
        declared = {
            str(t.get("name")): t for t in self.document.get("tags") or [] if isinstance(t, dict)
        }
        order = [name for name in declared if any(op.tag == name for op in operations)]
        order += sorted({op.tag for op in operations} - set(order))
        modules = NameTable(
            {"models", "runtime", "spec", "app", "interfaces", "responses", "routes"}
        )
        tags = []
        for name in order:
            module = modules.claim(safe_identifier(name))
            tags.append(
                ir.Tag(
                    name=name,
                    module=module,
                    attribute=module,
                    protocol=pascal(name) + suffix,
                    description=str((declared.get(name) or {}).get("description", "")),
                    operations=tuple(op for op in operations if op.tag == name),
                )
            )
        return tuple(tags)

    def operation(
        self,
        mapper: TypeMapper,
        path: str,
        method: str,
        op: dict[str, Any],
        shared: list[Any],
        pointer: str,
        op_ids: NameTable,
        method_names: NameTable,
        response_classes: NameTable,
    ) -> ir.Operation:
        raw_id = op.get("operationId")
        if not isinstance(raw_id, str) or not raw_id:
            raw_id = snake(f"{method} {path}")
            self.warnings.append(
                self.bundle.diagnostic(
                    f"operation has no operationId; using {raw_id!r}", pointer, "warning"
                )
            )
        if raw_id in op_ids:
            self.warnings.append(
                self.bundle.diagnostic(
                    f"duplicate operationId {raw_id!r}",
                    join_pointer(pointer, "operationId"),
                    "warning",
                )
            )
        operation_id = op_ids.claim(raw_id)
        method_name = method_names.claim(safe_identifier(operation_id))
        base = pascal(method_name)  # unique, unlike operationIds after conversion
        tags = op.get("tags") or ["default"]
        tag = str(tags[0])
        requests, replies = mapper.towards("Request"), mapper.towards("Response")
        texts = mapper.towards("Request", text_inputs=True)
        parameters = self.parameters(texts, base, shared, op.get("parameters") or [], pointer)
        body = self.request_body(
            requests, base, op.get("requestBody"), join_pointer(pointer, "requestBody")
        )
        responses = self.responses(
            replies,
            base,
            op.get("responses") or {},
            join_pointer(pointer, "responses"),
            response_classes,
        )
        security_raw = op.get("security", self.document.get("security", []))
        security: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...]
        if not security_raw:
            security = ((),)
        else:
            security = tuple(
                tuple((name, tuple(scopes or ())) for name, scopes in alt.items())
                for alt in security_raw
            )
            known = (self.document.get("components") or {}).get("securitySchemes") or {}
            for alt in security:
                for name, _ in alt:
                    if name not in known:
                        self.undefined_schemes.add(name)
                        warning = self.bundle.diagnostic(
                            f"security scheme {name!r} is not defined in "
                            "components/securitySchemes; a requirement naming it is never "
                            "satisfied",
                            join_pointer(pointer, "security") if "security" in op else "/security",
                            "warning",
                        )
                        if warning not in self.warnings:  # the document's, once
                            self.warnings.append(warning)
        return ir.Operation(
            operation_id=operation_id,
            method_name=method_name,
            class_base=base,
            constant=method_name.upper(),
            method=method.upper(),
            path=path,
            tag=tag,
            summary=str(op.get("summary", "")),
            description=str(op.get("description", "")),
            deprecated=bool(op.get("deprecated", False)),
            parameters=parameters,
            body=body,
            responses=responses,
            security=security,
            pointer=pointer,
            max_body_bytes=self.max_body_bytes(op, pointer),
        )

    def max_body_bytes(self, op: dict[str, Any], pointer: str) -> int | None:
        """The operation's ``x-max-body-bytes``: a positive integer, or None when absent."""
        if "x-max-body-bytes" not in op:
            return None
        value = op["x-max-body-bytes"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpecError(
                [
                    self.bundle.diagnostic(
                        f"x-max-body-bytes must be a positive integer, not {value!r}",
                        join_pointer(pointer, "x-max-body-bytes"),
                    )
                ]
            )
        return value

    def parameters(
        self, mapper: TypeMapper, base: str, shared: list[Any], own: list[Any], pointer: str
    ) -> tuple[ir.Parameter, ...]:
        merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        item_pointer = pointer.rsplit("/", 1)[0]
        if item_pointer.endswith("/additionalOperations"):
            item_pointer = item_pointer.rsplit("/", 1)[0]
        for source, items in (("parameters", shared), ("parameters", own)):
            for index, raw in enumerate(items):
                p_pointer = join_pointer(pointer if items is own else item_pointer, source, index)
                param, p_pointer = self.deref(raw, p_pointer)
                if not isinstance(param, dict) or param.get("in") not in _PARAM_LOCATIONS:
                    raise SpecError([self.bundle.diagnostic("invalid parameter", p_pointer)])
                name = str(param.get("name"))
                location = str(param["in"])
                if location == "header" and name.lower() in (
                    "accept",
                    "content-type",
                    "authorization",
                ):
                    continue  # OpenAPI says these header parameters are ignored
                key = (name.lower() if location == "header" else name, location)
                merged[key] = (param, p_pointer)
        self.check_querystring(merged, pointer)
        names = NameTable({"self", "ctx", "body"})
        result = []
        for (_, location), (param, p_pointer) in merged.items():
            name = str(param["name"])
            schema: Any = param.get("schema")
            content_json = False
            if schema is None and isinstance(param.get("content"), dict) and param["content"]:
                media, media_obj = next(iter(param["content"].items()))
                self.refuse_item_schema(media_obj, join_pointer(p_pointer, "content", media))
                schema = (media_obj or {}).get("schema", {})
                content_json = media_kind(media) == "json"
            hint = f"{base}{pascal(name)}Param"
            mapped = mapper.map(schema or {}, hint)
            python_name = names.claim(
                safe_identifier(name.lower() if location == "header" else name)
            )
            # A form-encoded query string is always there: an empty one is an empty object.
            required = (
                bool(param.get("required", False))
                or location == "path"
                or (location == "querystring" and not content_json)
            )
            resolved = mapper.with_siblings(schema or {})
            has_default = isinstance(resolved, dict) and "default" in resolved
            default = resolved.get("default") if has_default else None
            style = str(param.get("style", "form" if location in ("query", "cookie") else "simple"))
            explode = bool(param.get("explode", style == "form"))
            annotation, validator = mapped.plain, mapped.validator
            if not required and not has_default and not annotation.endswith("| None"):
                annotation, validator = f"{annotation} | None", f"{validator} | None"
            shape = mapped.shape
            if mapper.is_array(schema):
                shape = "array"
            elif mapper.object_properties(schema) or shape == "object":
                shape = "object"
            array_fields: tuple[str, ...] = ()
            if location == "querystring" and not content_json:
                array_fields = tuple(
                    prop
                    for prop, prop_schema in mapper.object_properties(schema).items()
                    if mapper.is_array(prop_schema)
                )
            result.append(
                ir.Parameter(
                    name=name,
                    location=location,
                    python_name=python_name,
                    required=required,
                    annotation=annotation,
                    validator=validator,
                    default=default,
                    has_default=has_default,
                    shape=shape,
                    style=style,
                    explode=explode,
                    content_json=content_json,
                    description=str(param.get("description", "")),
                    array_fields=array_fields,
                )
            )
        order = {loc: i for i, loc in enumerate(_PARAM_LOCATIONS)}
        result.sort(key=lambda p: (order[p.location], not p.required))
        return tuple(result)

    def check_querystring(
        self, merged: dict[tuple[str, str], tuple[dict[str, Any], str]], pointer: str
    ) -> None:
        """An ``in: querystring`` parameter is the whole query string: alone, and read as a
        form or as JSON; anything else is refused by name and pointer."""
        found = [
            (param, where) for (_, loc), (param, where) in merged.items() if loc == "querystring"
        ]
        problems: list[Diagnostic] = []
        if len(found) > 1:
            problems.append(
                self.bundle.diagnostic(
                    "an operation has at most one `in: querystring` parameter "
                    f"({', '.join(repr(str(p.get('name'))) for p, _ in found)})",
                    found[1][1],
                )
            )
        if found and any(loc == "query" for _, loc in merged):
            problems.append(
                self.bundle.diagnostic(
                    "`in: querystring` cannot be combined with `in: query` parameters "
                    "(it is the whole query string)",
                    found[0][1],
                )
            )
        if found and (pointer.startswith("/webhooks") or "/callbacks/" in pointer):
            problems.append(
                self.bundle.diagnostic(
                    "`in: querystring` is not supported in webhooks and callbacks",
                    found[0][1],
                )
            )
        for param, where in found:
            media = next(iter(param.get("content") or {"": None}))
            if media_kind(media) not in ("form", "json"):
                problems.append(
                    self.bundle.diagnostic(
                        f"`in: querystring` content {media!r} is not supported: the query "
                        "string is read as application/x-www-form-urlencoded or as JSON",
                        join_pointer(where, "content", media),
                    )
                )
        if problems:
            raise SpecError(problems)

    def refuse_item_schema(self, media: Any, pointer: str, why: str = "") -> None:
        """An item schema where nothing streams (requests, parameters, non-sequential media
        types, outbound operations) is refused by name and pointer."""
        if not isinstance(media, dict):
            return
        for key in ITEM_SCHEMA_KEYS:
            if key in media:
                reason = why or "only responses of sequential media types stream their items"
                raise SpecError(
                    [
                        self.bundle.diagnostic(
                            f"{key} is not supported here: {reason}", join_pointer(pointer, key)
                        )
                    ]
                )

    def item_schema(self, media: Any, pointer: str) -> Any:
        """The media type's item schema (``itemSchema`` or ``x-item-schema``), or None."""
        if not isinstance(media, dict):
            return None
        present = [key for key in ITEM_SCHEMA_KEYS if key in media]
        if len(present) > 1:
            raise SpecError(
                [
                    self.bundle.diagnostic(
                        "itemSchema and x-item-schema say the same: give one",
                        join_pointer(pointer, "x-item-schema"),
                    )
                ]
            )
        if not present:
            return None
        schema = media[present[0]]
        if not isinstance(schema, dict | bool):
            raise SpecError(
                [
                    self.bundle.diagnostic(
                        f"{present[0]} must be a Schema Object",
                        join_pointer(pointer, present[0]),
                    )
                ]
            )
        return schema if isinstance(schema, dict) else {}

    def response_body(
        self, mapper: TypeMapper, media_type: str, media: Any, hint: str, pointer: str
    ) -> ir.MediaContent:
        """One media type of a response (``pointer``): streamed, or read whole."""
        where = join_pointer(pointer, "content", media_type)
        streamed = self.stream_content(mapper, media_type, media, hint, where)
        return streamed or self.content(mapper, media_type, media, hint)

    def stream_content(
        self, mapper: TypeMapper, media_type: str, media: Any, hint: str, pointer: str
    ) -> ir.MediaContent | None:
        """A streamed response body: an async iterator of the item schema's type."""
        schema = self.item_schema(media, pointer)
        if schema is None:
            return None
        kind = stream_kind(media_type)
        if kind is None:
            self.refuse_item_schema(
                media,
                pointer,
                f"{media_type} is not a sequential media type (application/jsonl, "
                "application/x-ndjson, application/json-seq, text/event-stream)",
            )
        if pointer.startswith("/webhooks") or "/callbacks/" in pointer:
            self.refuse_item_schema(media, pointer, "webhooks and callbacks do not stream")
        if kind == "sse":
            schema = self.sse_event(mapper, schema)
        mapped = mapper.map(schema, f"{hint}Item")
        return ir.MediaContent(
            media_type, str(kind), f"AsyncIterator[{mapped.plain}]", mapped.validator
        )

    def sse_event(self, mapper: TypeMapper, schema: dict[str, Any]) -> dict[str, Any]:
        """An event's item schema with a ``data`` that is JSON text (``contentMediaType`` a
        JSON type, with ``contentSchema``) typed as that schema: the handler yields the value,
        the runtime writes it as JSON."""
        resolved = mapper.resolve(schema)
        if not isinstance(resolved, dict):
            return schema
        data = mapper.resolve((resolved.get("properties") or {}).get("data"))
        if not (
            isinstance(data, dict)
            and isinstance(data.get("contentSchema"), dict)
            and media_kind(str(data.get("contentMediaType", ""))) == "json"
        ):
            return schema
        properties = {**resolved["properties"], "data": data["contentSchema"]}
        return {**resolved, "properties": properties}

    def content(
        self, mapper: TypeMapper, media_type: str, media: Any, hint: str
    ) -> ir.MediaContent:
        kind = media_kind(media_type)
        schema = (media or {}).get("schema") if isinstance(media, dict) else None
        if kind in ("text",) and not schema:
            return ir.MediaContent(media_type, kind, "str", "str")
        if kind == "binary":
            return ir.MediaContent(media_type, kind, "bytes", "bytes")
        mapped: Mapped = mapper.map(schema or {}, hint)
        array_fields: tuple[str, ...] = ()
        if kind in ("form", "multipart"):
            array_fields = tuple(
                name
                for name, prop in mapper.object_properties(schema).items()
                if mapper.is_array(prop)
            )
        if kind == "text" and mapped.plain not in ("str",):
            return ir.MediaContent(media_type, kind, "str", "str")
        return ir.MediaContent(media_type, kind, mapped.plain, mapped.validator, array_fields)

    def request_body(
        self, mapper: TypeMapper, base: str, raw: Any, pointer: str
    ) -> ir.RequestBody | None:
        if raw is None:
            return None
        body, pointer = self.deref(raw, pointer)
        content = body.get("content") or {}
        if not content:
            return None
        for media_type, media in content.items():
            self.refuse_item_schema(
                media,
                join_pointer(pointer, "content", media_type),
                "request bodies are read whole, not streamed",
            )
        contents = tuple(
            self.content(mapper, media_type, media, f"{base}Request")
            for media_type, media in content.items()
        )
        annotation = " | ".join(dict.fromkeys(c.annotation for c in contents))
        required = bool(body.get("required", False))
        if not required:
            annotation += " | None"
        return ir.RequestBody(required=required, annotation=annotation, contents=contents)

    def responses(
        self, mapper: TypeMapper, base: str, raw: dict[str, Any], pointer: str, classes: NameTable
    ) -> tuple[ir.Response, ...]:
        result = []
        for status, value in raw.items():
            status = str(status).upper() if str(status).lower() != "default" else "default"
            response, r_pointer = self.deref(value, join_pointer(pointer, status))
            suffix = "Default" if status == "default" else status
            joint = "_" if base[-1].isdigit() else ""  # PutMaps2_200, not PutMaps2200
            class_name = classes.claim(f"{base}{joint}{suffix}")
            content_map = response.get("content") or {}
            content = None
            alternatives: tuple[ir.MediaContent, ...] = ()
            media_types = tuple(content_map)
            if content_map:
                chosen = next(
                    (m for m in content_map if media_kind(m) == "json"), next(iter(content_map))
                )
                # A shared response (components/responses/X) names its inline schema after X.
                shared = r_pointer.startswith("/components/responses/")
                hint = (
                    pascal(r_pointer.rsplit("/", 1)[1]) + "Body"
                    if shared
                    else f"{base}{suffix}Response"
                )

                content = self.response_body(mapper, chosen, content_map[chosen], hint, r_pointer)
                alternatives = tuple(
                    self.response_body(
                        mapper, media, content_map[media], f"{hint}{pascal(media)}", r_pointer
                    )
                    for media in content_map
                    if media != chosen
                )
            headers = []
            header_names = NameTable({"body", "status", "media_type"})
            for h_name, h_raw in (response.get("headers") or {}).items():
                if h_name.lower() == "content-type":
                    continue
                header, _ = self.deref(h_raw, join_pointer(r_pointer, "headers", h_name))
                mapped = mapper.map(
                    header.get("schema") or {"type": "string"}, f"{base}{pascal(h_name)}Header"
                )
                headers.append(
                    ir.ResponseHeader(
                        name=h_name,
                        attribute=header_names.claim(safe_identifier(h_name.lower())),
                        annotation=mapped.plain,
                        required=bool(header.get("required", False)),
                        description=str(header.get("description", "")),
                    )
                )
            result.append(
                ir.Response(
                    status=status,
                    class_name=class_name,
                    description=str(response.get("description", "")),
                    content=content,
                    media_types=media_types,
                    headers=tuple(headers),
                    alternatives=alternatives,
                )
            )
        return tuple(result)


def _placeholder_schemas(
    node: Any, wanted: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The schemas in ``node`` that are ``wanted``, outermost only, in document order."""
    if isinstance(node, list):
        return [found for value in node for found in _placeholder_schemas(value, wanted)]
    if not isinstance(node, dict):
        return []
    if wanted(node):
        return [node]
    return [
        found
        for key, value in node.items()
        if key not in _NOT_SCHEMAS
        for found in _placeholder_schemas(value, wanted)
    ]


def _with_placeholders(node: Any, tuples: dict[int, tuple[str, Any]]) -> Any:
    """A copy of ``node`` in which each schema of ``tuples`` is its placeholder type."""
    if id(node) in tuples:
        name, schema = tuples[id(node)]
        placeholder = {"customTypePath": f"{POSITIONS_MODULE}.{name}"}
        placeholder.update((key, schema[key]) for key in _PLACEHOLDER_KEEPS if key in schema)
        return placeholder
    if isinstance(node, list):
        return [_with_placeholders(value, tuples) for value in node]
    if isinstance(node, dict):
        return {key: _with_placeholders(value, tuples) for key, value in node.items()}
    return node


def _model_version(version: str) -> str:
    return "3.1.0" if version.startswith("3.2.") else version


def parse(bundle: Bundle, emit_models: ModelEmitter) -> Parsed:
    """Build the IR of a validated bundle.

    ``emit_models(document)`` generates the models of ``document``'s schemas and returns the
    classes that exist afterwards, and which class each component schema became (some
    schemas collapse into plain types and have none).
    """
    return _Parser(bundle).parse(emit_models)


__all__ = ["Parsed", "is_class_like", "media_kind", "parse"]
