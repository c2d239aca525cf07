"""Reading a request's path, query, header and cookie parameters by their styles."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from typing import (
    Any,
)

from pydantic import (
    ValidationError,
)
from starlette.requests import Request

from .errors import _Problem
from .operations import Operation, Param

logger = logging.getLogger("specfirst")


def _pointer_token(value: object) -> str:
    return str(value).replace("~", "~0").replace("/", "~1")


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


def _read_params(op: Operation, request: Request) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    query = request.query_params
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
        if present and param.content_json and isinstance(value, str):
            with contextlib.suppress(ValueError):  # left as a string; validation reports it
                value = json.loads(value)
        if not present:
            value = param.default if param.has_default else None
        raw[param.python_name] = value
    return raw
