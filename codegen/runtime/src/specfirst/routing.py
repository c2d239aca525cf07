"""Routes for the operations, found by their literal segments; signatures checked at start-up."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import (
    Any,
)
from urllib.parse import unquote

from fastapi import params
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .endpoints import Endpoint
from .errors import PROBLEM_JSON, _Problem
from .operations import Operation, ResponseSpec
from .responses import ProblemWriter

logger = logging.getLogger("specfirst")


def _http_exception(
    problems: ProblemWriter,
) -> Callable[[Request, Exception], Coroutine[Any, Any, Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {404: "Not Found", 405: "Method Not Allowed"}
        details = {
            404: f"No operation is served at {request.url.path}.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }
        routed = _Problem(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            details.get(exc.status_code, str(exc.detail)),
            headers=_sorted_allow(exc.headers),
        )
        return problems.error(routed, None, request.url.path)

    return handler


def _sorted_allow(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    if headers is None or "Allow" not in headers:
        return dict(headers) if headers else None
    return {**headers, "Allow": ", ".join(sorted(headers["Allow"].split(", ")))}


_MATCHED = "openapi.route"


class OperationRoutes(BaseRoute):
    """The contract's operations as one route of the app's router, found by their paths'
    segments before any route's regex is tried.

    Starlette's router asks every route in turn, a regex match each: with forty operations
    that was a tenth of a request's CPU. Here only the routes whose literal segments are the
    request's, at the same places, are asked (``Route.matches``, in their order), so the
    answer is the one the router would give. ``routes`` lists them.
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)
        self._by_length: dict[int, list[tuple[tuple[tuple[int, str], ...], Route]]] = {}
        self._anywhere: list[Route] = []  # a parameter that may span segments
        for route in self.routes:
            if ":path}" in route.path:
                self._anywhere.append(route)
                continue
            segments = route.path.split("/")
            literals = tuple((i, seg) for i, seg in enumerate(segments) if "{" not in seg)
            self._by_length.setdefault(len(segments), []).append((literals, route))

    def _candidates(self, scope: Scope) -> Iterable[Route]:
        segments = _route_path(scope).split("/")
        for literals, route in self._by_length.get(len(segments), ()):
            if all(segments[i] == literal for i, literal in literals):
                yield route
        yield from self._anywhere

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        partial: tuple[Route, Scope] | None = None
        for route in self._candidates(scope):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {**child_scope, _MATCHED: route}
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is None:
            return Match.NONE, {}
        return Match.PARTIAL, {**partial[1], _MATCHED: partial[0]}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_MATCHED].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)


def _route_path(scope: Scope) -> str:
    # The path the routes match: without the app's root path (as Starlette's routes see it).
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


class PathEndpoint:
    """The ASGI app of one path of the contract: each documented method's endpoint, and 405
    with ``Allow`` for any other.

    Its route matches the path whatever the method, so a path decides before its method is
    looked at: as OpenAPI says, a concrete path (``/products/count``) is matched before a
    templated one (``/products/{id}``) for every method, and ``PATCH /products/count`` with
    only GET there is 405, not the templated path's PATCH. Being an ASGI app rather than a
    function, its route keeps that when FastAPI's ``include_router`` copies it.
    """

    def __init__(self, endpoints: Mapping[str, Endpoint], problems: ProblemWriter) -> None:
        self.endpoints = dict(endpoints)
        self.problems = problems
        self.allow = ", ".join(sorted(endpoints))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        endpoint = self.endpoints.get(request.method)
        if endpoint is None:
            refused = _Problem(
                405,
                "Method Not Allowed",
                f"{request.method} is not allowed on {request.url.path}.",
                headers={"Allow": self.allow},
            )
            response = self.problems.error(refused, None, request.url.path)
        else:
            response = await endpoint(request)
        await response(scope, receive, send)


@dataclass(frozen=True, slots=True)
class QuerySelector:
    """What the query string of an operation's path key asks of a request.

    OpenAPI paths have no query string, but some documents write one to tell operations of
    one path and method apart (``/rest?method=flickr.photos.getInfo``,
    ``/current?lat={lat}&lon={lon}``): each ``name=value`` asks for that value, each
    ``name={parameter}`` (or ``{parameter}=placeholder``) for the name to be sent. A path
    without one asks nothing.
    """

    members: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def of(cls, path: str) -> QuerySelector:
        members: list[tuple[str, str | None]] = []
        for part in path.partition("?")[2].split("&"):
            name, _, value = part.partition("=")
            named = re.fullmatch(r"\{([^{}]+)\}", name)
            if named:  # `{parameter}=placeholder`: the parameter, sent
                members.append((named.group(1), None))
            elif name:
                sent = re.fullmatch(r"\{[^{}]+\}", value) is not None
                members.append((unquote(name), None if sent else unquote(value)))
        return cls(tuple(members))

    def matches(self, query: QueryParams) -> bool:
        return all(
            name in query and (value is None or value in query.getlist(name))
            for name, value in self.members
        )

    def covers(self, other: QuerySelector) -> bool:
        """Whether every request this one matches is matched by ``other`` too."""
        names = {name for name, _ in self.members}
        return all(
            (name, value) in self.members if value is not None else name in names
            for name, value in other.members
        )

    def __str__(self) -> str:
        return "&".join(f"{n}={{…}}" if v is None else f"{n}={v}" for n, v in self.members)


class QueryRouted:
    """The endpoint of several operations sharing a path and a method, chosen by the query
    strings their path keys carry (:class:`QuerySelector`).

    A request goes to the operation whose query string it satisfies; where several are
    satisfied, to the one asking the most (``/jobs?op=list`` over ``/jobs``). No operation
    satisfied is 404, as for a path none is served at; two satisfied that ask different
    things (``?city=…`` and ``?lat=…&lon=…`` both sent) is 400: the request is ambiguous.
    """

    def __init__(
        self, choices: Sequence[tuple[QuerySelector, Endpoint]], problems: ProblemWriter
    ) -> None:
        self.choices = tuple(choices)
        self.problems = problems

    async def __call__(self, request: Request) -> Response:
        matching = [(s, e) for s, e in self.choices if s.matches(request.query_params)]
        best = [(s, e) for s, e in matching if all(s.covers(other) for other, _ in matching)]
        if best:
            return await best[0][1](request)
        where = f"{request.method} {request.url.path}"
        if matching:
            asked = ", ".join(f"?{s}" for s, _ in matching)
            refused = _Problem(
                400,
                "Bad Request",
                f"The query string matches several operations of {where} ({asked}); "
                "send the parameters of one.",
            )
        else:
            asked = ", ".join(f"?{s}" if s.members else "none" for s, _ in self.choices)
            refused = _Problem(
                404,
                "Not Found",
                f"No operation of {where} is served for this query string; they ask for: {asked}.",
            )
        return self.problems.error(refused, None, request.url.path)


def path_routes(
    by_path: Mapping[str, Mapping[str, Endpoint]],
    problems: ProblemWriter,
    wrap: Callable[[ASGIApp], ASGIApp] = lambda app: app,
) -> list[Route]:
    """One route per path, concrete paths first (see :class:`PathEndpoint`)."""
    routes: list[Route] = []
    for path, endpoints in sorted(by_path.items(), key=lambda item: _sort_key(item[0])):
        route = Route(path, wrap(PathEndpoint(endpoints, problems)), name=path)
        route.methods = None  # every method reaches the path's endpoint, which answers 405
        routes.append(route)
    return routes


def _path_regex_safe(path: str, op: Operation) -> str:
    # Starlette path parameters must be identifiers, each named once: use the Python names. A
    # name the template repeats binds at its first place; later ones get a name nothing reads.
    names = {p.name: p.python_name for p in op.params if p.location == "path"}
    seen: dict[str, int] = {}

    def rename(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            return match.group(0)
        seen[name] = seen.get(name, 0) + 1
        suffix = "" if seen[name] == 1 else f"___{seen[name]}"
        return "{" + names[name] + suffix + "}"

    return re.sub(r"\{([^}]+)\}", rename, path)


def _sort_key(path: str) -> tuple[tuple[int, str], ...]:
    # Literal segments before templated ones, so /items/latest wins over /items/{id}.
    return tuple((1 if "{" in seg else 0, seg) for seg in path.split("/"))


def _is_dependency(parameter: inspect.Parameter) -> bool:
    markers = [parameter.default, *getattr(parameter.annotation, "__metadata__", ())]
    return any(isinstance(marker, params.Depends) for marker in markers)


def check_signature(
    method: Callable[..., Any], op: Operation, expected: Sequence[str]
) -> str | None:
    """Why ``method`` cannot serve ``op``, or None if its keyword arguments fit.

    Every argument the contract gives it must be a parameter, and every parameter after the
    context one of them: a parameter the contract does not declare would never be given
    (a ``Depends`` marker, say, would arrive as itself). FastAPI dependencies belong on the
    context factory, whose context every handler receives.
    """
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return None
    parameters = list(signature.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    names = {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    missing = [name for name in expected if name not in names]
    extra = [
        p
        for p in parameters[1:]
        if p.name not in expected and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("unexpected " + ", ".join(p.name for p in extra) + " (not in the contract)")
    if any(_is_dependency(p) for p in extra):
        parts.append(
            "a handler takes only the contract's arguments: declare FastAPI dependencies "
            "(Depends) on the context factory, and reach them through the context"
        )
    return f"{op.operation_id}: {'; '.join(parts)}"


def _mount_problem(op: Operation) -> str | None:
    """Why ``op`` cannot be received at its chosen path: each of its path parameters needs
    its ``{name}`` there (or it could never be given), and the path names no others."""
    if not op.path.startswith("/"):
        return f"{op.method_name} is mounted at {op.path!r}: a path starts with /"
    templates = set(re.findall(r"\{([^}]+)\}", op.path))
    names = {p.name for p in op.params if p.location == "path"}
    missing, unknown = sorted(names - templates), sorted(templates - names)
    where = f"{op.method_name} is mounted at {op.path}"
    if missing:
        return f"{where}, which lacks " + ", ".join("{" + n + "}" for n in missing)
    if unknown:
        return f"{where}; it has no path parameter " + ", ".join(unknown)
    return None


def mounted(operations: Sequence[Operation], paths: Mapping[str, str]) -> tuple[Operation, ...]:
    """The operations named in ``paths`` (by method name), each served at its path there.

    Webhooks and callbacks have no path in the document; their receiver chooses one, with a
    ``{name}`` for each path parameter (refused otherwise, as are unknown names and two on one
    method and path).
    """
    unknown = sorted(set(paths) - {op.method_name for op in operations})
    if unknown:
        raise ValueError("no webhook or callback named " + ", ".join(unknown))
    chosen = [
        replace(op, path=paths[op.method_name]) for op in operations if op.method_name in paths
    ]
    wrong = [problem for op in chosen if (problem := _mount_problem(op)) is not None]
    if wrong:
        raise ValueError("; ".join(wrong))
    taken = [(op.method, op.path) for op in chosen]
    clashes = sorted({f"{m} {p}" for m, p in taken if taken.count((m, p)) > 1})
    if clashes:
        raise ValueError("two receivers share " + ", ".join(clashes))
    return tuple(chosen)


# What the runtime itself may answer an operation with, besides 404, 405 and 501.
_FRAMEWORK_STATUSES = (400, 401, 413, 415, 422, 500, 503)


def _documents_problem_json(spec: ResponseSpec) -> bool:
    media = [spec.media_type, *(m.media_type for m in spec.alternatives)]
    return any(m is not None and m.split(";")[0].strip().lower() == PROBLEM_JSON for m in media)


def own_error_shapes(operations: Sequence[Operation]) -> list[str]:
    """The operations that document a body other than problem+json for a status the runtime
    itself answers (exactly, by range or by ``default``)."""
    found: list[str] = []
    for op in operations:
        for status in _FRAMEWORK_STATUSES:
            spec = op.response(status)
            if spec is not None and spec.kind != "empty" and not _documents_problem_json(spec):
                found.append(op.operation_id)
                break
    return found


def _warn_error_shapes(operations: Sequence[Operation]) -> None:
    found = own_error_shapes(operations)
    if found:
        named = ", ".join(found[:3]) + (", …" if len(found) > 3 else "")
        logger.warning(
            "%d of %d operations (%s) document error bodies of their own shape, but the "
            "server's own errors (422, 400, 401, 413, 415, 404, 405, 500, 503) are sent as "
            "application/problem+json: give the implementation a `problems` renderer "
            "(runtime.ProblemRenderer) to answer them as documented",
            len(found),
            len(operations),
            named,
        )


class MissingOperationsError(RuntimeError):
    """Raised at start-up when operations of the contract have no implementation."""
