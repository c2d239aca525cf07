"""Reading a request's path, query, header and cookie parameters by their styles, and the
query string as one parameter (OpenAPI 3.2's ``in: querystring``)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import (
    Any,
)
from urllib.parse import parse_qsl, unquote

from pydantic import (
    ValidationError,
)
from starlette.datastructures import QueryParams
from starlette.requests import Request

from .errors import _Problem
from .operations import Operation, Param

logger = logging.getLogger("specfirst")


def _validation_problem(exc: ValidationError, prefix: Callable[[tuple[Any, ...]], str]) -> _Problem:
    errors = [
        {"pointer": prefix(tuple(err["loc"])), "message": err["msg"], "code": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return _Problem(
        422,
        "Unprocessable Content",
        "The request does not match the API contract.",
        extensions={"errors": errors},
    )


def _split(raw: str, style: str, explode: bool) -> list[str]:
    if raw == "":
        return []
    separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
    return raw.split(separator)


def _path_value(raw: str, param: Param) -> Any:
    """Undo the simple, label (``.a.b``) and matrix (``;id=a,b``) path styles."""
    separator = ","
    if param.style == "label" and raw.startswith("."):
        raw = raw[1:]
        separator = "." if param.explode else ","
    elif param.style == "matrix":
        prefix = f";{param.name}="
        if param.shape == "array" and param.explode:
            if not raw.startswith(prefix):
                return raw  # validation reports it
            return [part.partition("=")[2] for part in raw[1:].split(";")]
        if raw.startswith(prefix):
            raw = raw[len(prefix) :]
    if param.shape == "scalar":
        return raw
    items = raw.split(separator) if raw else []
    return items if param.shape == "array" else _object_from_pairs(items)


def _object_from_pairs(items: list[str]) -> dict[str, str]:
    return dict(zip(items[::2], items[1::2], strict=False))


def form_fields(pairs: Iterable[tuple[str, str]], array_fields: frozenset[str]) -> dict[str, Any]:
    """Form fields as an object: a field of ``array_fields`` a list of every value, any other
    its last value."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in array_fields:
            data.setdefault(key, []).append(value)
        else:
            data[key] = value
    return data


def _querystring(param: Param, request: Request) -> tuple[bool, Any]:
    """(present, value) of an ``in: querystring`` parameter: the whole query string, read as
    a form (an object, present even when empty) or as percent-encoded JSON."""
    raw = request.scope.get("query_string", b"").decode("latin-1")
    if not param.content_json:
        pairs = parse_qsl(raw, keep_blank_values=True)
        return True, form_fields(pairs, param.array_fields)
    if not raw:
        return False, None
    text = unquote(raw, errors="replace")
    try:
        return True, json.loads(text)
    except ValueError:
        return True, text  # validation reports it


_NO_QUERY = QueryParams("")


def _read_params(op: Operation, request: Request) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    # Parsed only when there is a query string (most requests have none).
    query = request.query_params if request.scope["query_string"] else _NO_QUERY
    for param in op.params:
        value: Any = None
        present = False
        if param.location == "path":
            value = request.path_params.get(param.python_name)
            present = value is not None
            if present:
                value = _path_value(str(value), param)
        elif param.location == "query":
            if param.shape == "object" and param.style == "deepObject":
                prefix = param.name + "["
                obj = {
                    k[len(prefix) : -1]: v
                    for k, v in query.multi_items()
                    if k.startswith(prefix) and k.endswith("]")
                }
                present = bool(obj)
                value = obj
            elif param.shape == "object" and param.explode and not param.content_json:
                # form + explode: the object's properties are query parameters of their own.
                value = dict(query)
                present = bool(value)
            elif param.name in query:
                present = True
                if param.shape == "array":
                    values = query.getlist(param.name)
                    value = (
                        values
                        if param.explode and param.style == "form"
                        else _split(values[-1], param.style, False)
                    )
                elif param.shape == "object" and not param.content_json:
                    value = _object_from_pairs(_split(query[param.name], param.style, False))
                else:
                    value = query[param.name]
        elif param.location == "querystring":
            present, value = _querystring(param, request)
        elif param.location == "header":
            if param.name in request.headers:
                present = True
                value = request.headers[param.name]
                if param.shape == "array":
                    value = [v.strip() for v in value.split(",")] if value else []
                elif param.shape == "object" and not param.content_json:
                    items = [v.strip() for v in value.split(",")]
                    value = (
                        dict(i.split("=", 1) for i in items if "=" in i)
                        if param.explode
                        else _object_from_pairs(items)
                    )
        elif param.name in request.cookies:
            present = True
            value = request.cookies[param.name]
            if param.shape == "array":
                value = value.split(",") if value else []
        if (
            present
            and param.content_json
            and isinstance(value, str)
            and param.location != "querystring"
        ):
            with contextlib.suppress(ValueError):  # left as a string; validation reports it
                value = json.loads(value)
        if not present:
            value = param.default if param.has_default else None
        raw[param.python_name] = value
    return raw
