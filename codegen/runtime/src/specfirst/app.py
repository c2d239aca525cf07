"""The application: the operations as a FastAPI app or an APIRouter."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import (
    Any,
)

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

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
    _dispatch,
    _http_exception,
    _path_regex_safe,
    _sort_key,
    _warn_error_shapes,
    check_signature,
)

logger = logging.getLogger("specfirst")


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
    lifespan: Any = None,
    debug: bool = False,
    serve_spec: bool = True,
    problems: ProblemRenderer | None = None,
    limits: Limits | None = None,
) -> Starlette:
    """Assemble the ASGI app; fails with every missing or mis-shaped operation listed.

    ``problems`` renders the server's problems as the operations' documented responses; with
    none, they are problem+json, and a warning counts the operations that document another shape.
    ``limits`` bounds bodies and handler time (:class:`Limits`; its defaults when None).
    """
    if problems is None:
        _warn_error_shapes(operations)
    writer = ProblemWriter(problems, operations)
    options: Options[Any] = Options(
        context, authenticator, schemes, validate_responses, writer, limits or Limits()
    )
    missing: list[str] = []
    mismatched: list[str] = []
    by_path: dict[str, dict[str, Endpoint]] = {}
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
        by_path.setdefault(_path_regex_safe(op.path, op), {})[op.method] = endpoint
    if mismatched:
        raise MissingOperationsError(
            "operations whose signature does not match the contract:\n  " + "\n  ".join(mismatched)
        )
    if missing and not allow_missing:
        raise MissingOperationsError(
            f"{len(missing)} operation(s) of the contract have no implementation: "
            + ", ".join(missing)
        )
    operation_routes: list[Route] = []
    for path, endpoints in sorted(by_path.items(), key=lambda item: _sort_key(item[0])):
        route = Route(path, _dispatch(endpoints), methods=sorted(endpoints))
        # Serve exactly the documented methods: Starlette would add an undocumented HEAD.
        route.methods = set(endpoints)
        operation_routes.append(route)
    routes: list[BaseRoute] = [OperationRoutes(operation_routes)]
    if serve_spec:
        routes.extend(_spec_routes(spec_json, docs=docs, title=title))
    routes.extend(extra_routes)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestContextMiddleware, problems=writer), *middleware],
        exception_handlers={HTTPException: _http_exception(writer)},
        lifespan=lifespan,
        debug=debug,
    )
    app.router.redirect_slashes = False
    return app
