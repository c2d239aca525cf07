"""Path keys that carry a query string (``/search?q={q}``, ``/rest?method=flickr.x``).

A path template has no query string (the request's path never contains one), yet real
documents write one into path keys, and what they mean is clear. Each member of such a query
string is ``name={parameter}`` (a value the client sends) or ``name=value`` (a fixed value);
anything else, or RFC 6570's ``{?q}``, is refused by name and pointer.

- A key whose path no other key uses (``/search/articles?query={query}``) is **rewritten** to
  its path (``/search/articles``), in the served document too: ``name={parameter}`` is the
  query parameter ``name`` (the parameter the template names, declared ``in: path``,
  ``in: query`` or not at all, becomes ``in: query``, required unless declared otherwise),
  and ``name=value`` is a required query parameter whose one allowed value is ``value``.
- Keys that share their path with other keys (``/rest?method=a``, ``/rest?method=b``, ``/rest``),
  or whose fixed name an operation also declares, are **kept** as written (OpenAPI cannot say
  two operations share a path and method): their ``name={parameter}`` members still become
  query parameters, and the runtime routes a request to the operation whose query string it
  satisfies (every ``name=value`` sent with that value, every ``name={parameter}`` sent), the
  most specific one where several do (:class:`specfirst.routing.QueryRouted`). Two operations
  of one path and method whose query strings ask the same are refused: no request could tell
  them apart.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

from codegen.bundle import Bundle
from codegen.errors import (
    Diagnostic,
    SpecError,
    escape_pointer_token,
    join_pointer,
)
from codegen.validate import _references
from specfirst.document import Document, RefError, fragment

_TEMPLATE = re.compile(r"\{([^{}]+)\}")
# Styles a path parameter may have that a query parameter may not.
_PATH_STYLES = ("simple", "label", "matrix")


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    parameter: str | None  # the template's name for `name={parameter}`, None for a fixed value
    value: str = ""
    # `{parameter}=value` (clicksend.com's `?{search}=1`): the declared parameter, its value a
    # placeholder; refused when nothing declares it.
    placeholder: bool = False


@dataclass(frozen=True, slots=True)
class _Key:
    key: str
    path: str  # the part before `?`
    members: tuple[_Member, ...]

    @property
    def shape(self) -> str:
        """The path with its templates' names left out: paths alike for a router."""
        return _TEMPLATE.sub("{}", self.path)

    def asks(self) -> frozenset[tuple[str, str | None]]:
        return frozenset((m.name, None if m.parameter else m.value) for m in self.members)


def repair_query_paths(bundle: Bundle) -> tuple[Bundle, list[Diagnostic]]:
    """``bundle`` with its path keys' query strings repaired, and a warning per key."""
    document = bundle.document
    paths = document.get("paths")
    if not isinstance(paths, dict) or not any(_has_query(k) for k in paths):
        return bundle, []
    result = copy.deepcopy(document)
    paths = result["paths"]
    errors: list[Diagnostic] = []
    keys: dict[str, _Key] = {}
    for key in paths:
        if not _has_query(key):
            continue
        parsed = _parse(key)
        if isinstance(parsed, str):
            errors.append(bundle.diagnostic(parsed, join_pointer("/paths", key)))
        else:
            keys[key] = parsed
    shapes: dict[str, list[str]] = {}
    for key in paths:
        if isinstance(key, str) and key.startswith("/"):
            shapes.setdefault(_TEMPLATE.sub("{}", key.partition("?")[0]), []).append(key)
    errors += _indistinct(bundle, result, keys, shapes)
    referenced = _ref_targets(result)
    warnings: list[Diagnostic] = []
    renamed: dict[str, str] = {}
    for key, parsed in keys.items():
        pointer = join_pointer("/paths", key)
        item = paths[key]
        if not isinstance(item, dict) or "$ref" in item:
            errors.append(
                bundle.diagnostic(
                    "a path key with a query string is repaired in its operations, and this "
                    "one's path item is a $ref: write its operations under the key",
                    pointer,
                )
            )
            continue
        shared = len(shapes[parsed.shape]) > 1
        kept = shared or _declares_fixed(result, item, parsed)
        try:
            _to_query_parameters(result, item, parsed, pointer, referenced)
        except _Refused as refused:
            errors.append(bundle.diagnostic(str(refused), refused.pointer))
            continue
        query = key[len(parsed.path) :]
        described = ", ".join(_describe(m, kept) for m in parsed.members)
        if kept:
            why = (
                f"{parsed.path!r} serves other operations too"
                if shared
                else "its operation declares a name it fixes, so the key is kept"
            )
            message = (
                f"an OpenAPI path has no query string; {why}, and a request goes to this one "
                f"when its query string has {described}"
            )
        else:
            _fix_values(item, parsed, query)
            renamed[key] = parsed.path
            message = (
                f"an OpenAPI path has no query string; served at {parsed.path!r}, with the "
                f"query parameters {described}"
            )
        warnings.append(bundle.diagnostic(message, pointer, "warning"))
    if errors:
        raise SpecError(sorted(errors, key=lambda e: e.pointer))
    if renamed:
        result["paths"] = {renamed.get(k, k): v for k, v in paths.items()}
        _follow_renamed(result, renamed)
    return replace(bundle, document=result), warnings


class _Refused(Exception):
    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(message)
        self.pointer = pointer


def _has_query(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("/") and "?" in key


def _parse(key: str) -> _Key | str:
    """The key's path and members, or why they cannot be read."""
    if re.search(r"\{[?&]", key):
        return (
            "the path key uses an RFC 6570 query expansion ('{?…}'), which OpenAPI path "
            "templates do not have: declare its names `in: query`"
        )
    path, _, query = key.partition("?")
    members: list[_Member] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        template = _TEMPLATE.fullmatch(value)
        named = _TEMPLATE.fullmatch(name)
        if named and "{" not in value and "}" not in value:
            members.append(_Member(named.group(1), named.group(1), value, placeholder=True))
            continue
        if not name or "{" in name or "}" in name or (not template and "{" in value):
            return (
                f"the path's query string member {part!r} is neither `name=value` nor "
                "`name={parameter}`: declare it `in: query`"
            )
        members.append(
            _Member(unquote(name), template.group(1) if template else None, unquote(value))
        )
    in_path = set(_TEMPLATE.findall(path))
    both = sorted({m.parameter for m in members if m.parameter and m.parameter in in_path})
    if both:
        return (
            f"the path key names {', '.join(map(repr, both))} both in its path and in its "
            "query string"
        )
    names = [m.name for m in members]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return f"the path's query string names {', '.join(map(repr, repeated))} more than once"
    return _Key(key, path, tuple(members))


def _operations(item: dict[str, Any], pointer: str) -> list[tuple[str, dict[str, Any]]]:
    ops = Document({}).path_item_operations(item, pointer)
    return [(op.pointer, op.operation) for op in ops]


def _indistinct(
    bundle: Bundle, document: dict[str, Any], keys: dict[str, _Key], shapes: dict[str, list[str]]
) -> list[Diagnostic]:
    """Errors for operations of one path and method that no query string tells apart."""
    errors = []
    for same in shapes.values():
        if len(same) < 2 or not any(k in keys for k in same):
            continue
        paths = {k.partition("?")[0] for k in same}
        if len(paths) > 1:
            errors.append(
                bundle.diagnostic(
                    "path keys of one path name its parameters differently "
                    f"({', '.join(map(repr, sorted(paths)))}): one route cannot serve them all",
                    join_pointer("/paths", same[1]),
                )
            )
            continue
        seen: dict[tuple[str, frozenset[tuple[str, str | None]]], str] = {}
        for key in same:
            item = document["paths"][key]
            if not isinstance(item, dict):
                continue
            parsed = keys.get(key)
            asks = parsed.asks() if parsed is not None else frozenset()
            for op_pointer, _ in _operations(item, join_pointer("/paths", key)):
                method = op_pointer.rsplit("/", 1)[1]
                earlier = seen.setdefault((method, asks), op_pointer)
                if earlier != op_pointer:
                    errors.append(
                        bundle.diagnostic(
                            f"this operation and {earlier} share a path and a method, and "
                            "their query strings ask the same of a request: none could tell "
                            "them apart",
                            op_pointer,
                        )
                    )
    return errors


def _resolved(document: dict[str, Any], raw: Any) -> Any:
    try:
        return Document(document).target(raw)
    except RefError:
        return None  # validation reports it


def _find(
    document: dict[str, Any], parameters: list[Any], member: _Member
) -> tuple[int, dict[str, Any]] | None:
    """The declaration a template member names: its parameter (in path or query) or its name
    in query."""
    for index, raw in enumerate(parameters):
        param = _resolved(document, raw)
        if not isinstance(param, dict):
            continue
        where, name = param.get("in"), param.get("name")
        if (name == member.parameter and where in ("path", "query")) or (
            name == member.name and where == "query"
        ):
            return index, param
    return None


def _declares_fixed(document: dict[str, Any], item: dict[str, Any], key: _Key) -> bool:
    """Whether the item's operations declare a fixed member's name themselves."""
    fixed = {m.name for m in key.members if m.parameter is None}
    lists = [item.get("parameters")] + [op.get("parameters") for _, op in _operations(item, "")]
    for parameters in lists:
        for raw in parameters if isinstance(parameters, list) else ():
            param = _resolved(document, raw)
            if (
                isinstance(param, dict)
                and param.get("in") == "query"
                and param.get("name") in fixed
            ):
                return True
    return False


def _to_query_parameters(
    document: dict[str, Any],
    item: dict[str, Any],
    key: _Key,
    pointer: str,
    referenced: set[str],
) -> None:
    """Declare each ``name={parameter}`` member as the query parameter ``name``."""
    shared = item.get("parameters")
    shared = shared if isinstance(shared, list) else []
    templates = [m for m in key.members if m.parameter is not None]
    at_path_level = set()
    for member in templates:
        found = _find(document, shared, member)
        if found is not None:
            at_path_level.add(member.name)
            _convert(shared, found, member, join_pointer(pointer, "parameters"), referenced)
    for op_pointer, operation in _operations(item, pointer):
        own = operation.get("parameters")
        own = own if isinstance(own, list) else []
        for member in templates:
            found = _find(document, own, member)
            if found is not None:
                _convert(own, found, member, join_pointer(op_pointer, "parameters"), referenced)
            elif member.placeholder and member.name not in at_path_level:
                raise _Refused(
                    f"the path's query string member {{{member.name}}} names no parameter "
                    "the operation declares",
                    op_pointer,
                )
            elif member.name not in at_path_level:
                own.append(
                    {
                        "name": member.name,
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                )
        if own:
            operation["parameters"] = own


def _convert(
    parameters: list[Any],
    found: tuple[int, dict[str, Any]],
    member: _Member,
    pointer: str,
    referenced: set[str],
) -> None:
    index, param = found
    if param.get("in") == "query" and param.get("name") == member.name:
        return
    at = join_pointer(pointer, index)
    if at in referenced:
        raise _Refused(
            f"parameter {param.get('name')!r} is the value of the path's query string member "
            f"{member.name!r}, and is referenced from elsewhere: it cannot become a query "
            "parameter here only",
            at,
        )
    converted = {**param, "name": member.name, "in": "query"}
    converted.setdefault("required", True)
    if converted.get("style") in _PATH_STYLES:
        del converted["style"]
    parameters[index] = converted


def _fix_values(item: dict[str, Any], key: _Key, query: str) -> None:
    """Declare each ``name=value`` member as a required query parameter of that one value."""
    fixed = [m for m in key.members if m.parameter is None]
    if not fixed:
        return
    shared = item.get("parameters")
    shared = shared if isinstance(shared, list) else []
    for member in fixed:
        shared.append(
            {
                "name": member.name,
                "in": "query",
                "required": True,
                "description": f"Fixed by the path key's query string ({query}).",
                "schema": {"type": "string", "enum": [member.value]},
            }
        )
    item["parameters"] = shared


def _describe(member: _Member, kept: bool) -> str:
    if member.parameter is None:
        return f"{member.name}={member.value}" + ("" if kept else " (required, that value only)")
    if kept:
        return f"{member.name} (any value)"
    if member.placeholder:
        return f"{member.name} (its value {member.value!r} ignored)"
    if member.parameter != member.name:
        return f"{member.name} (the template's {{{member.parameter}}})"
    return member.name


def _ref_holders(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object of the document that holds a ``$ref``."""
    return [holder for _, holder in _references(document)]


def _ref_targets(document: dict[str, Any]) -> set[str]:
    """Every local reference's target, as a plain JSON pointer."""
    refs = (holder["$ref"] for holder in _ref_holders(document))
    return {fragment(ref) for ref in refs if ref.startswith("#/")}


def _follow_renamed(document: dict[str, Any], renamed: dict[str, str]) -> None:
    """Point references into a rewritten key at its new place."""
    prefixes = {
        "/paths/" + escape_pointer_token(old): "/paths/" + escape_pointer_token(new)
        for old, new in renamed.items()
    }
    for holder in _ref_holders(document):
        if not holder["$ref"].startswith("#/paths/"):
            continue
        target = fragment(holder["$ref"])
        for old, new in prefixes.items():
            if target == old or target.startswith(old + "/"):
                holder["$ref"] = "#" + new + target[len(old) :]
                break
