"""Rendering a handler's response class as the documented HTTP response."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import (
    Any,
)

from starlette.responses import Response

from .errors import ApiError, Problem, _problem_json, error_response, problem_of
from .operations import Operation, ProblemRenderer, ResponseSpec
from .streams import STREAM_KINDS, stream_response

logger = logging.getLogger("specfirst")

# ---------------------------------------------------------------------------- responses


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_header_value(v) for v in value)
    return str(value)


def _render(op: Operation, specs: Mapping[type[Any], ResponseSpec], result: Any) -> Response:
    spec = specs.get(type(result))
    if spec is None:
        raise TypeError(
            f"{op.operation_id} returned {type(result).__name__}, which is not one of its "
            "documented response classes"
        )
    status = (
        int(getattr(result, "status", 0) or 0)
        if spec.status in ("default",) or spec.status.endswith("XX")
        else int(spec.status)
    )
    if spec.status.endswith("XX") and not (status // 100 == int(spec.status[0])):
        raise TypeError(f"{op.operation_id}: status {status} is outside {spec.status}")
    headers: dict[str, str] = {}
    for header in spec.headers:
        value = getattr(result, header.attribute)
        if value is not None:
            headers[header.name] = _header_value(value)
    if spec.kind == "empty" or spec.adapter is None:
        return Response(status_code=status, headers=headers)
    body = result.body
    media_type = getattr(result, "media_type", None) or spec.media_type
    kind, adapter = spec.kind, spec.adapter
    if media_type != spec.media_type:
        chosen = next((m for m in spec.alternatives if m.media_type == media_type), None)
        if chosen is None:
            raise TypeError(f"{op.operation_id}: {media_type} is not documented for this response")
        kind, adapter = chosen.kind, chosen.adapter
    if kind in STREAM_KINDS:
        return stream_response(
            op, kind, adapter, body, status=status, media_type=str(media_type), headers=headers
        )
    if kind == "json":
        content = adapter.dump_json(body, by_alias=True, exclude_unset=True)
    elif kind == "text":
        content = str(body).encode()
    else:
        content = bytes(body)
    return Response(content, status_code=status, media_type=media_type, headers=headers)


class ProblemWriter:
    """Answers problems: through the implementation's :class:`ProblemRenderer` when it has
    one and that returns a response, else as problem+json."""

    def __init__(self, renderer: ProblemRenderer | None, operations: Sequence[Operation]) -> None:
        self.renderer = renderer
        # With no operation (404, 405) any response class of the API may render the problem.
        self.owners = {spec.cls: (op, spec) for op in operations for spec in op.responses}

    def error(self, exc: ApiError, operation: Operation | None, instance: str) -> Response:
        """Answer an :class:`ApiError` raised while serving ``operation``."""
        if self.renderer is None:
            return error_response(exc, instance)
        return self.problem(problem_of(exc, instance), operation)

    def problem(self, problem: Problem, operation: Operation | None) -> Response:
        """Answer ``problem``; a response class the operation does not document raises
        TypeError (a programming error, which the server answers 500)."""
        result = None
        if self.renderer is not None:
            try:
                result = self.renderer(problem, operation)
            except Exception:
                logger.exception(
                    "the problem renderer failed on a %d problem of %s; sent as problem+json",
                    problem.status,
                    operation.operation_id if operation is not None else problem.instance,
                )
        if result is None:
            return _problem_json(problem)
        if operation is None:
            owner = self.owners.get(type(result))
            if owner is None:
                raise TypeError(
                    f"the problem renderer returned {type(result).__name__}, which is not a "
                    "response class of this API"
                )
            operation = owner[0]
        response = _render(operation, {spec.cls: spec for spec in operation.responses}, result)
        for name, value in problem.headers.items():
            if name not in response.headers:
                response.headers[name] = value
        return response
