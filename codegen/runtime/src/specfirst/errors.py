"""Problems: the errors handlers raise and the RFC 9457 documents they are answered as."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import (
    Any,
)

from starlette.responses import Response

logger = logging.getLogger("specfirst")

REQUEST_ID_HEADER = "x-request-id"
PROBLEM_JSON = "application/problem+json"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# ---------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An error to render as RFC 9457 problem+json. Subclass it for your own hierarchy."""

    status: int = 500
    title: str = "Internal Server Error"
    detail: str = ""
    headers: dict[str, str]
    extensions: dict[str, Any]

    @property
    def type(self) -> str:
        return "about:blank"


class _Problem(ApiError):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str,
    problem_type: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    """Render an RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id_var.get(),
    }
    if extensions:
        for key, value in extensions.items():
            body.setdefault(key, value)
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def error_response(exc: ApiError, instance: str) -> Response:
    """Render an :class:`ApiError`."""
    return problem_response(
        exc.status,
        exc.title,
        exc.detail or exc.title,
        instance=instance,
        problem_type=exc.type,
        headers=getattr(exc, "headers", None),
        extensions=getattr(exc, "extensions", None),
    )


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why a request failed validation, at one place: a JSON pointer into the request
    (``/body/lines/0``, ``/query/limit``, ``/header/x-count``), a message, Pydantic's code."""

    pointer: str
    message: str
    code: str


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem about to be answered, as a :class:`ProblemRenderer` is given it.

    ``headers`` are the ones HTTP requires with it (``WWW-Authenticate`` on a 401, ``Allow`` on
    a 405, ``Accept`` on a 415); they are added to whatever response renders the problem.
    ``extensions`` are the problem document's other members (``errors`` among them).
    """

    status: int
    title: str
    detail: str
    type: str
    instance: str
    request_id: str
    errors: tuple[FieldError, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)


def problem_of(exc: ApiError, instance: str) -> Problem:
    """The :class:`Problem` an :class:`ApiError` is answered as."""
    extensions = dict(getattr(exc, "extensions", None) or {})
    listed = extensions.get("errors")
    errors = tuple(
        FieldError(str(e.get("pointer", "")), str(e.get("message", "")), str(e.get("code", "")))
        for e in (listed if isinstance(listed, list) else ())
        if isinstance(e, Mapping)
    )
    return Problem(
        status=exc.status,
        title=exc.title,
        detail=exc.detail or exc.title,
        type=exc.type,
        instance=instance,
        request_id=request_id_var.get(),
        errors=errors,
        headers=dict(getattr(exc, "headers", None) or {}),
        extensions=extensions,
    )


def _problem_json(problem: Problem) -> Response:
    return problem_response(
        problem.status,
        problem.title,
        problem.detail,
        instance=problem.instance,
        problem_type=problem.type,
        headers=problem.headers,
        extensions=problem.extensions,
    )
