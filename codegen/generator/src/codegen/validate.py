"""Validate a bundled document: the OpenAPI 3.0 / 3.1 / 3.2 JSON Schemas, then what they cannot say.

The structural check runs the official schemas (shipped with openapi-spec-validator) on
jsonschema-rs, once over the whole document, so every error has an absolute pointer and a
10 MB document validates in well under a second. For 3.1 and 3.2 the Schema Objects are
checked against the version's OAS dialect too (the published document schemas leave them open).
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from codegen.bundle import Bundle
from codegen.errors import Diagnostic, SpecError, join_pointer
from specfirst.document import Document, RefError, fragment

MAX_REPORTED = 20
_DIALECT_31 = "https://spec.openapis.org/oas/3.1/dialect/base"
# openapi-schema-validator ships the 3.2 dialect and its vocabulary's meta-schema.
_DIALECT_32 = "oas3.2/dialect/2025-09-17.json"
_META_32 = "oas3.2/meta/2025-09-17.json"


def _load(package: str, path: str) -> Any:
    # Located, not imported: importing openapi_spec_validator costs a second we do not need.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SpecError([Diagnostic(f"package {package} is not installed", "")])
    folder = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((folder / path).read_text(encoding="utf-8"))


@cache
def _validator(minor: str) -> Any:
    if minor == "3.0":
        # Formats are annotations, as they are for 3.1 (2020-12): a `pattern` that is not
        # ECMA-262 (`[\\d-_]`) or a contact email that is not one must not refuse a document.
        # Patterns the runtime cannot compile are dropped with a warning (codegen.patterns).
        return jsonschema_rs.Draft4Validator(
            _load("openapi_spec_validator", "resources/schemas/v3.0/schema.json"),
            validate_formats=False,
        )
    document_schema = _load("openapi_spec_validator", f"resources/schemas/v{minor}/schema.json")
    if minor == "3.1":
        dialect = _load("openapi_schema_validator", "schemas/oas3.1/metaschema.json")
        vocabulary = _load("codegen", "schemas/oas-3.1-meta-base.json")
        dialect_id = _DIALECT_31
    else:
        dialect = _load("openapi_schema_validator", f"schemas/{_DIALECT_32}")
        vocabulary = _load("openapi_schema_validator", f"schemas/{_META_32}")
        dialect_id = dialect["$id"]
    # Validate Schema Objects against the dialect instead of accepting any object.
    document_schema["$defs"]["schema"] = {"$dynamicAnchor": "meta", "$ref": dialect_id}
    registry = jsonschema_rs.Registry([(dialect_id, dialect), (vocabulary["$id"], vocabulary)])
    return jsonschema_rs.Draft202012Validator(document_schema, registry=registry)


def _minor(bundle: Bundle) -> str:
    version = str(bundle.document.get("openapi", ""))
    for minor in ("3.0", "3.1", "3.2"):
        if version.startswith(minor + "."):
            return minor
    raise SpecError(
        [
            bundle.diagnostic(
                f"unsupported OpenAPI version {version!r}: expected 3.0.x, 3.1.x or 3.2.x",
                "/openapi",
            )
        ]
    )


def _references(node: Any, pointer: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every object holding a ``$ref``, with its pointer, in document order."""
    found: list[tuple[str, dict[str, Any]]] = []
    stack = [(pointer, node)]
    while stack:
        here, value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get("$ref"), str):
                found.append((here, value))
            stack.extend(
                (join_pointer(here, k), v) for k, v in value.items() if isinstance(v, dict | list)
            )
        elif isinstance(value, list):
            stack.extend(
                (join_pointer(here, i), v)
                for i, v in enumerate(value)
                if isinstance(v, dict | list)
            )
    return found


def _semantic_errors(bundle: Bundle) -> list[Diagnostic]:
    """What the JSON Schemas cannot check: references resolve, path parameters are declared."""
    document = Document(bundle.document)
    errors: list[Diagnostic] = []
    for pointer, node in _references(bundle.document):
        ref = node["$ref"]
        try:
            document.at(fragment(ref))
        except ValueError:
            errors.append(bundle.diagnostic(f"$ref {ref!r} was not bundled", pointer + "/$ref"))
        except KeyError:
            errors.append(bundle.diagnostic(f"$ref {ref!r} points nowhere", pointer + "/$ref"))
    for op in document.operations(strict=False):
        if op.path_pointer != op.item_pointer:
            continue  # a path item given by reference is checked where it is used
        # A query string left in a key (codegen.querypaths keeps those that share a path)
        # names query parameters, not path ones.
        templated = set(re.findall(r"{([^}]+)}", op.path.partition("?")[0]))
        declared = _path_params(document, op.parameters) | _path_params(
            document, op.operation.get("parameters") or []
        )
        for name in sorted(templated - declared):
            errors.append(
                bundle.diagnostic(
                    f"path parameter {{{name}}} is not declared (in: path, name: {name})",
                    op.pointer,
                )
            )
    return errors


def _path_params(document: Document, parameters: Any) -> set[str]:
    names = set()
    for raw in parameters if isinstance(parameters, list) else []:
        try:
            param = document.follow(raw).node
        except RefError:
            continue
        if isinstance(param, dict) and param.get("in") == "path":
            names.add(str(param.get("name")))
    return names


def validate_bundle(bundle: Bundle) -> None:
    """Raise :class:`SpecError` listing every problem with file, line and pointer."""
    validator = _validator(_minor(bundle))
    diagnostics: list[Diagnostic] = []
    for error in validator.iter_errors(bundle.document):
        pointer = join_pointer("", *error.instance_path)
        diagnostics.append(bundle.diagnostic(str(error.message), pointer))
        if len(diagnostics) >= MAX_REPORTED:
            break
    if not diagnostics:
        diagnostics = _semantic_errors(bundle)[:MAX_REPORTED]
    if diagnostics:
        raise SpecError(diagnostics)
