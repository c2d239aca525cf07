"""The application: the operations as a FastAPI app, or as an APIRouter to include in one."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from .dependencies import ContextDependencies
from .docs import _spec_routes
from .endpoints import Endpoint, Options, _not_implemented, make_endpoint
from .middleware import RequestContextMiddleware
from .operations import (
    Authenticator,
    ContextFactory,
    Limits,
    Operation,
    ProblemRenderer,
    SecurityScheme,
)
from .responses import ProblemWriter
from .routing import (
    MissingOperationsError,
    OperationRoutes,
    QueryRouted,
    QuerySelector,
    _http_exception,
    _path_regex_safe,
    _warn_error_shapes,
    check_signature,
    path_routes,
)

logger = logging.getLogger("specfirst")

# FastAPI's native OpenTelemetry (FastAPI 0.165 and later): off in a contract's app unless its
# builder is given a configuration, so a request pays nothing for it (the check alone, made on
# every request, was 6% of one) and an app with tracing of its own gets no second server span.
_TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False}
_HAS_TELEMETRY = "telemetry" in inspect.signature(FastAPI.__init__).parameters


def _idle_layers(app: FastAPI, telemetry: Mapping[str, Any] | None) -> tuple[type, ...]:
    """FastAPI's middleware that has nothing to do in this app: telemetry's exception hook
    with telemetry off, the app-wide body limit with none set (the runtime bounds bodies)."""
    idle: list[type] = []
    try:
        from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware

        if telemetry is None:
            idle.append(ExceptionTelemetryMiddleware)
    except ImportError:  # an older FastAPI has neither
        pass
    try:
        from fastapi._body_limit import AppBodyLimitMiddleware

        if getattr(app, "max_body_size", None) is None:
            idle.append(AppBodyLimitMiddleware)
    except ImportError:
        pass
    return tuple(idle)


class ContractApp(FastAPI):
    """The FastAPI app of a contract: FastAPI's own, without the layers that would only pass
    each request on (see :func:`_idle_layers`); everything else is FastAPI's."""

    _specfirst_telemetry: Mapping[str, Any] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        idle = _idle_layers(self, self._specfirst_telemetry)
        node: Any = stack
        while idle and hasattr(node, "app"):
            inner = node.app
            if isinstance(inner, idle) and hasattr(inner, "app"):
                node.app = inner.app
                continue
            node = inner
        return stack


@dataclass(frozen=True, slots=True)
class _Assembled:
    by_path: dict[str, dict[str, Endpoint]]
    writer: ProblemWriter


def _assemble(
    operations: Sequence[Operation],
    handlers: Mapping[str, Any],
    expected_arguments: Mapping[str, Sequence[str]],
    *,
    context: ContextFactory[Any, Any] | None,
    authenticator: Authenticator[Any] | None,
    schemes: Mapping[str, SecurityScheme],
    allow_missing: bool,
    validate_responses: bool,
    problems: ProblemRenderer | None,
    limits: Limits | None,
) -> _Assembled:
    if problems is None:
        _warn_error_shapes(operations)
    writer = ProblemWriter(problems, operations)
    options: Options[Any] = Options(
        context,
        authenticator,
        schemes,
        validate_responses,
        writer,
        limits or Limits(),
        ContextDependencies.of(context),
    )
    missing: list[str] = []
    mismatched: list[str] = []
    # Operations of one path and method, told apart by the query strings of their keys.
    chosen: dict[tuple[str, str], list[tuple[QuerySelector, Endpoint]]] = {}
    for op in operations:
        target = handlers.get(op.tag)
        method = getattr(target, op.method_name, None) if target is not None else None
        if method is None:
            missing.append(op.operation_id)
            endpoint = _not_implemented(op, writer)
        else:
            problem = check_signature(method, op, expected_arguments[op.operation_id])
            if problem is not None:
                mismatched.append(problem)
            endpoint = make_endpoint(op, method, options)
        route = _path_regex_safe(op.path.partition("?")[0], op)
        chosen.setdefault((route, op.method), []).append((QuerySelector.of(op.path), endpoint))
    if mismatched:
        raise MissingOperationsError(
            "operations whose signature does not match the contract:\n  " + "\n  ".join(mismatched)
        )
    if missing and not allow_missing:
        raise MissingOperationsError(
            f"{len(missing)} operation(s) of the contract have no implementation: "
            + ", ".join(missing)
        )
    by_path: dict[str, dict[str, Endpoint]] = {}
    for (route, method), choices in chosen.items():
        plain = len(choices) == 1 and not choices[0][0].members
        by_path.setdefault(route, {})[method] = (
            choices[0][1] if plain else QueryRouted(choices, writer)
        )
    return _Assembled(by_path, writer)


def build_app(
    operations: Sequence[Operation],
    handlers: Mapping[str, Any],
    expected_arguments: Mapping[str, Sequence[str]],
    *,
    context: ContextFactory[Any, Any] | None,
    authenticator: Authenticator[Any] | None,
    schemes: Mapping[str, SecurityScheme],
    spec_json: str,
    allow_missing: bool = False,
    validate_responses: bool = False,
    extra_routes: Sequence[BaseRoute] = (),
    middleware: Sequence[Middleware] = (),
    docs: bool = True,
    title: str = "API",
    version: str = "",
    lifespan: Any = None,
    debug: bool = False,
    serve_spec: bool = True,
    problems: ProblemRenderer | None = None,
    limits: Limits | None = None,
    telemetry: Mapping[str, Any] | None = None,
) -> FastAPI:
    """The FastAPI app serving the operations; fails with every missing or mis-shaped one listed.

    FastAPI's own document and docs are off: the reviewed document is served as-is at
    ``/openapi.json`` and ``/openapi.yaml``, with Swagger UI at ``/docs`` (relative URLs, so it
    works mounted under any prefix). Every response carries ``X-Request-ID``; routing errors
    (404, 405) and unhandled errors (500) are problems too. ``problems`` renders the server's
    problems as the operations' documented responses; with none, they are problem+json, and a
    warning counts the operations that document another shape. ``limits`` bounds bodies and
    handler time (:class:`Limits`; its defaults when None). The context factory may declare
    FastAPI dependencies (:mod:`specfirst.dependencies`); ``app.dependency_overrides`` applies.
    ``telemetry`` is FastAPI's native OpenTelemetry configuration (``{"tracing": True}``...),
    off when None.
    """
    assembled = _assemble(
        operations,
        handlers,
        expected_arguments,
        context=context,
        authenticator=authenticator,
        schemes=schemes,
        allow_missing=allow_missing,
        validate_responses=validate_responses,
        problems=problems,
        limits=limits,
    )
    writer = assembled.writer
    # The paths found by their literal segments first (OperationRoutes), then the rest.
    routes: list[BaseRoute] = [OperationRoutes(path_routes(assembled.by_path, writer))]
    if serve_spec:
        routes.extend(_spec_routes(spec_json, docs=docs, title=title))
    routes.extend(extra_routes)
    options: dict[str, Any] = {}
    if _HAS_TELEMETRY:
        options["telemetry"] = dict(telemetry) if telemetry is not None else _TELEMETRY_OFF
    app = ContractApp(
        title=title,
        version=version or "0",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        routes=routes,
        middleware=[Middleware(RequestContextMiddleware, problems=writer), *middleware],
        exception_handlers={HTTPException: _http_exception(writer)},
        lifespan=lifespan,
        debug=debug,
        redirect_slashes=False,
        **options,
    )
    app._specfirst_telemetry = telemetry
    return app


def build_router(
    operations: Sequence[Operation],
    handlers: Mapping[str, Any],
    expected_arguments: Mapping[str, Sequence[str]],
    *,
    context: ContextFactory[Any, Any] | None,
    authenticator: Authenticator[Any] | None,
    schemes: Mapping[str, SecurityScheme],
    spec_json: str,
    allow_missing: bool = False,
    validate_responses: bool = False,
    docs: bool = True,
    title: str = "API",
    serve_spec: bool = True,
    problems: ProblemRenderer | None = None,
    limits: Limits | None = None,
) -> APIRouter:
    """The operations as an ``APIRouter``, for ``app.include_router(router, prefix=...)``.

    Each route carries the request-id handling and the problem rendering of :func:`build_app`
    (so its answers, errors included, are the contract's in any FastAPI app), the document and
    docs come along under the same prefix, and the including app's middleware,
    ``dependency_overrides`` and exception handlers apply as to its own routes. The paths are
    plain routes, tried in order (concrete paths first); the host app's router answers paths
    the contract does not have.
    """
    assembled = _assemble(
        operations,
        handlers,
        expected_arguments,
        context=context,
        authenticator=authenticator,
        schemes=schemes,
        allow_missing=allow_missing,
        validate_responses=validate_responses,
        problems=problems,
        limits=limits,
    )
    writer = assembled.writer
    router = APIRouter(redirect_slashes=False)
    router.routes.extend(
        path_routes(
            assembled.by_path,
            writer,
            wrap=lambda app: RequestContextMiddleware(app, problems=writer),
        )
    )
    if serve_spec:
        for route in _spec_routes(spec_json, docs=docs, title=title):
            router.routes.append(route)
    return router
