"""specfirst: the runtime of the code specfirst-codegen generates from an OpenAPI document.

Generated packages describe their operations as data (:class:`Operation`) and import this
library; it parses and validates requests with precompiled Pydantic adapters, resolves
credentials, calls the implementation inside the context it supplies, renders the response
class it returns, and serves the reviewed document and its docs. The application is a
FastAPI app (:func:`build_app`), or an ``APIRouter`` to include in one (:func:`build_router`).

The modules, by concern: :mod:`~specfirst.errors`, :mod:`~specfirst.operations`,
:mod:`~specfirst.validators`, :mod:`~specfirst.params`, :mod:`~specfirst.bodies`,
:mod:`~specfirst.security`, :mod:`~specfirst.responses`, :mod:`~specfirst.streams`,
:mod:`~specfirst.endpoints`, :mod:`~specfirst.routing`, :mod:`~specfirst.middleware`,
:mod:`~specfirst.docs`, :mod:`~specfirst.app`, :mod:`~specfirst.outbound`,
:mod:`~specfirst.receiving`, :mod:`~specfirst.mock`, and :mod:`~specfirst.document` (how
every tool of the project reads an OpenAPI document). Importing it changes nothing outside
it and loads none of them: each name (and module) is imported at its first use, so the
generator and the spectools, which read documents through :mod:`~specfirst.document`, do not
load FastAPI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__, require

if TYPE_CHECKING:
    from .app import ContractApp, build_app, build_router
    from .endpoints import Options, make_endpoint
    from .errors import (
        PROBLEM_JSON,
        REQUEST_ID_HEADER,
        ApiError,
        FieldError,
        Problem,
        error_response,
        problem_of,
        problem_response,
        request_id_var,
    )
    from .middleware import RequestContextMiddleware
    from .operations import (
        Authenticator,
        Body,
        Content,
        ContextFactory,
        Credentials,
        HeaderSpec,
        Limits,
        MediaSpec,
        Operation,
        Param,
        ProblemRenderer,
        RequestInfo,
        ResponseSpec,
        SecurityScheme,
    )
    from .outbound import Delivery, Outbound, OutboundRequest, Sender, deliver
    from .receiving import as_paths
    from .responses import ProblemWriter
    from .routing import (
        MissingOperationsError,
        OperationRoutes,
        check_signature,
        mounted,
        own_error_shapes,
    )
    from .validators import (
        AwareDatetime,
        Date,
        Email,
        Matches,
        Positions,
        absolute_uri,
        date_text,
        date_time_text,
        from_text,
        integer_text,
        is_uri,
        json_key,
        object_size,
        unique_items,
    )

# Each public name, and the module it is imported from at its first use.
_EXPORTS = {
    "ContractApp": "app",
    "build_app": "app",
    "build_router": "app",
    "Options": "endpoints",
    "make_endpoint": "endpoints",
    "PROBLEM_JSON": "errors",
    "REQUEST_ID_HEADER": "errors",
    "ApiError": "errors",
    "FieldError": "errors",
    "Problem": "errors",
    "error_response": "errors",
    "problem_of": "errors",
    "problem_response": "errors",
    "request_id_var": "errors",
    "RequestContextMiddleware": "middleware",
    "Authenticator": "operations",
    "Body": "operations",
    "Content": "operations",
    "ContextFactory": "operations",
    "Credentials": "operations",
    "HeaderSpec": "operations",
    "Limits": "operations",
    "MediaSpec": "operations",
    "Operation": "operations",
    "Param": "operations",
    "ProblemRenderer": "operations",
    "RequestInfo": "operations",
    "ResponseSpec": "operations",
    "SecurityScheme": "operations",
    "Delivery": "outbound",
    "Outbound": "outbound",
    "OutboundRequest": "outbound",
    "Sender": "outbound",
    "deliver": "outbound",
    "as_paths": "receiving",
    "ProblemWriter": "responses",
    "MissingOperationsError": "routing",
    "OperationRoutes": "routing",
    "check_signature": "routing",
    "mounted": "routing",
    "own_error_shapes": "routing",
    "AwareDatetime": "validators",
    "Date": "validators",
    "Email": "validators",
    "Matches": "validators",
    "Positions": "validators",
    "absolute_uri": "validators",
    "is_uri": "validators",
    "date_text": "validators",
    "date_time_text": "validators",
    "from_text": "validators",
    "integer_text": "validators",
    "json_key": "validators",
    "object_size": "validators",
    "unique_items": "validators",
}
# The submodules, reachable as attributes (``specfirst.mock``) as once they are imported.
_MODULES = frozenset(
    {
        "app", "bodies", "dependencies", "docs", "document", "endpoints", "errors",
        "middleware", "mock", "operations", "outbound", "params", "receiving", "responses",
        "routing", "security", "streams", "validators",
    }
)  # fmt: skip


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "PROBLEM_JSON",
    "REQUEST_ID_HEADER",
    "ApiError",
    "Authenticator",
    "AwareDatetime",
    "Body",
    "Content",
    "ContextFactory",
    "ContractApp",
    "Credentials",
    "Date",
    "Delivery",
    "Email",
    "FieldError",
    "HeaderSpec",
    "Limits",
    "Matches",
    "MediaSpec",
    "MissingOperationsError",
    "Operation",
    "OperationRoutes",
    "Options",
    "Outbound",
    "OutboundRequest",
    "Param",
    "Positions",
    "Problem",
    "ProblemRenderer",
    "ProblemWriter",
    "RequestContextMiddleware",
    "RequestInfo",
    "ResponseSpec",
    "SecurityScheme",
    "Sender",
    "__version__",
    "absolute_uri",
    "as_paths",
    "build_app",
    "build_router",
    "check_signature",
    "date_text",
    "date_time_text",
    "deliver",
    "error_response",
    "from_text",
    "integer_text",
    "is_uri",
    "json_key",
    "make_endpoint",
    "mounted",
    "object_size",
    "own_error_shapes",
    "problem_of",
    "problem_response",
    "request_id_var",
    "require",
    "unique_items",
]
