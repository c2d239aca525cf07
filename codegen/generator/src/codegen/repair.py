"""Invalid documents whose intent is clear are generated, each repair a warning with a pointer.

Run before validation, on a copy of the bundled document (which is then served, so the
served contract is valid and says what the server does):

- an operation with an empty ``responses`` object documents none: it gets a ``default``
  response without content (any status, no body), as if the author had written one;
- a parameter declared twice in one ``parameters`` list (the same ``name`` and ``in``;
  header names compare case-insensitively): the first declaration is kept;
- a member of a schema's ``xml`` that the XML Object does not have (``example``, as
  opensuse.org/obs writes it there): dropped;
- in a 3.1 document, a draft-04 boolean ``exclusiveMinimum`` / ``exclusiveMaximum`` (3.0's
  form, and what a schema declaring ``$schema`` draft-04 means) becomes 2020-12's number:
  ``{minimum: 10, exclusiveMinimum: true}`` is ``{exclusiveMinimum: 10}``; ``false`` is dropped.

After validation, :func:`repair_examples` drops a schema's ``examples`` that is a map of Example
Objects (a media type's form, as codat.io's schemas write it) rather than a list, when that is
what validation refused: examples are annotations, nothing is lost for the server.

A path key carrying a query string (``/search?q={q}``) is repaired by
:mod:`codegen.querypaths` first.

A path template naming one parameter at several places (``/anything/{id}/{action}/{id}``)
is generated with a warning and left as it is: the first place binds the parameter's value, the
later places match any segment (the runtime's router binds each name once).

A security requirement naming an undefined scheme is the parser's concern
(:mod:`codegen.parser`): it is kept, and can never be satisfied.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from codegen.bundle import Bundle
from codegen.errors import Diagnostic, join_pointer
from codegen.querypaths import repair_query_paths
from specfirst.document import Document, RefError, lookup, split

UNDOCUMENTED = {"description": "Not documented (the operation listed no response)."}


def repair(bundle: Bundle) -> tuple[Bundle, list[Diagnostic]]:
    """``bundle`` with its clear-intent errors repaired (the same bundle when there are none)."""
    bundle, warnings = repair_query_paths(bundle)
    document = bundle.document
    found: list[tuple[str, str]] = []
    repaired: dict[str, Any] | None = None

    def writable() -> dict[str, Any]:
        nonlocal repaired
        if repaired is None:
            repaired = copy.deepcopy(document)
        return repaired

    doc = Document(document)
    items: set[str] = set()
    # Path items written in place (one given by reference is repaired where it is used).
    for op in doc.operations(strict=False):
        if op.path_pointer != op.item_pointer:
            continue
        if op.path_pointer not in items:
            items.add(op.path_pointer)
            names = re.findall(r"{([^}]+)}", op.path)
            if any(names.count(name) > 1 for name in names):
                found.append((op.path_pointer, "repeated"))
            for index in _duplicates(doc, op.parameters):
                found.append((join_pointer(op.path_pointer, "parameters", index), "parameter"))
        if op.operation.get("responses") == {}:
            found.append((join_pointer(op.pointer, "responses"), "responses"))
        for index in _duplicates(doc, op.operation.get("parameters")):
            found.append((join_pointer(op.pointer, "parameters", index), "parameter"))
    if str(document.get("openapi", "")).startswith("3.1"):
        found.extend((pointer, "exclusive") for pointer in _boolean_exclusives(document, ""))
    found.extend((pointer, "xml") for pointer in _foreign_xml_fields(document))
    # Later indexes first, so the earlier ones still point at their parameter.
    for pointer, kind in sorted(found, key=lambda entry: _index_last(entry[0]), reverse=True):
        if kind == "exclusive":
            message = _exclusive_to_number(_at(writable(), pointer), pointer)
        elif kind == "xml":
            del _at(writable(), pointer)[split(pointer)[-1]]
            message = (
                "not a field of the XML Object (which names how XML writes the schema); ignored"
            )
        elif kind == "repeated":
            message = (
                "the path template names a parameter at several places; its first place binds "
                "the value, the later ones match any segment"
            )
        elif kind == "responses":
            _at(writable(), pointer)[pointer.rsplit("/", 1)[1]] = {"default": dict(UNDOCUMENTED)}
            message = "the operation documents no response; served as a `default` one, no body"
        else:
            del _at(writable(), pointer)[int(pointer.rsplit("/", 1)[1])]
            message = "parameter declared twice in this list (same name and location); ignored"
        warnings.append(bundle.diagnostic(message, pointer, "warning"))
    warnings.sort(key=lambda diagnostic: diagnostic.pointer)
    if repaired is None:
        return bundle, warnings
    return replace(bundle, document=repaired), warnings


def _duplicates(document: Document, parameters: Any) -> list[int]:
    """Indexes of the parameters that repeat an earlier one's name and location."""
    if not isinstance(parameters, list):
        return []
    seen: set[tuple[str, str]] = set()
    repeated = []
    for index, raw in enumerate(parameters):
        try:
            param = document.follow(raw).node
        except RefError:
            continue  # validation reports it
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            continue
        location = str(param.get("in"))
        key = (param["name"].lower() if location == "header" else param["name"], location)
        if key in seen:
            repeated.append(index)
        seen.add(key)
    return repeated


# Keywords whose values are data, not schemas: a member named like a keyword is no keyword.
_DATA = frozenset({"example", "examples", "default", "enum", "const", "properties"})
# Maps from names to schemas and other objects: one named like a keyword (`xml`) is none.
_NAMED = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "schemas", "headers"}
    | {"encoding", "content", "parameters", "responses", "requestBodies", "callbacks"}
    | {"links", "securitySchemes", "pathItems", "webhooks", "paths"}
)
_SCHEMA_WORDS = frozenset(
    {"type", "properties", "items", "$ref", "allOf", "oneOf", "anyOf", "enum", "format"}
)


def _keywords(node: Any, pointer: str, wanted: Callable[[str, Any], bool]) -> list[str]:
    """Pointers of every member ``wanted`` accepts (by key and value), data and names aside."""
    found = []
    stack = [(pointer, node)]
    while stack:
        here, value = stack.pop()
        if isinstance(value, dict):
            for key, member in value.items():
                at = join_pointer(here, key)
                if wanted(key, member):
                    found.append(at)
                elif key in _NAMED and isinstance(member, dict):
                    stack.extend((join_pointer(at, name), s) for name, s in member.items())
                elif key not in _DATA:
                    stack.append((at, member))
        elif isinstance(value, list):
            stack.extend((join_pointer(here, i), member) for i, member in enumerate(value))
    return found


def _boolean_exclusives(node: Any, pointer: str) -> list[str]:
    """Pointers of every boolean ``exclusiveMinimum`` / ``exclusiveMaximum`` in schemas."""
    return _keywords(
        node,
        pointer,
        lambda key, member: (
            key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(member, bool)
        ),
    )


_XML_FIELDS = frozenset({"name", "namespace", "prefix", "attribute", "wrapped"})


def _foreign_xml_fields(document: dict[str, Any]) -> list[str]:
    """Pointers of the members of XML Objects that are not its fields (opensuse.org/obs
    writes a schema's ``example`` inside its ``xml``); 3.2's ``nodeType`` is one."""
    fields = _XML_FIELDS | (
        {"nodeType"} if str(document.get("openapi")).startswith("3.2") else set()
    )
    found: list[str] = []
    for pointer in _keywords(
        document, "", lambda key, member: key == "xml" and isinstance(member, dict)
    ):
        owner = _at(document, pointer)
        if not _SCHEMA_WORDS & set(owner):
            continue  # not certainly a schema: left to validation
        xml = owner["xml"]
        found.extend(
            join_pointer(pointer, key)
            for key in xml
            if key not in fields and not (isinstance(key, str) and key.startswith("x-"))
        )
    return found


def _exclusive_to_number(schema: dict[str, Any], pointer: str) -> str:
    """Rewrite one boolean exclusive bound in ``schema``; the warning's text."""
    keyword = pointer.rsplit("/", 1)[1]
    bound = "minimum" if keyword == "exclusiveMinimum" else "maximum"
    exclusive = schema.pop(keyword)
    limit = schema.get(bound)
    if exclusive and isinstance(limit, int | float) and not isinstance(limit, bool):
        schema[keyword] = schema.pop(bound)
        return f"draft-04 boolean {keyword}; read as OpenAPI 3.1's {keyword}: {limit}"
    return f"draft-04 boolean {keyword} without effect here; ignored"


def _index_last(pointer: str) -> tuple[str, int]:
    parent, _, last = pointer.rpartition("/")
    return (parent, int(last)) if last.isdigit() else (pointer, -1)


def _at(document: dict[str, Any], pointer: str) -> Any:
    """The container of the node at ``pointer`` (its parent object or list)."""
    return lookup(document, pointer.rpartition("/")[0])


_EXAMPLES_NOT_A_LIST = 'is not of type "array"'


def repair_examples(
    bundle: Bundle, errors: list[Diagnostic]
) -> tuple[Bundle, list[Diagnostic]] | None:
    """``bundle`` without the schema ``examples`` maps among ``errors``, and a warning each;
    None when some error is of another kind (the document stays refused)."""
    found = [e.pointer for e in errors]
    if not found or not all(
        e.pointer.endswith("/examples") and e.message.endswith(_EXAMPLES_NOT_A_LIST) for e in errors
    ):
        return None
    repaired = copy.deepcopy(bundle.document)
    for pointer in found:
        _at(repaired, pointer).pop("examples", None)
    message = "a schema's examples is a list, not a map of Example Objects; ignored"
    return replace(bundle, document=repaired), [
        bundle.diagnostic(message, pointer, "warning") for pointer in found
    ]
