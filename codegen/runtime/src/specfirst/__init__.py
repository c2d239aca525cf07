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
:mod:`~specfirst.receiving` and :mod:`~specfirst.mock`. Importing it
changes nothing outside it.
"""

from __future__ import annotations

from ._version import __version__, require
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
