"""HTTP hygiene: CORS from the settings, and the security headers responses carry.

Both are pure ASGI middleware wrapped around the whole app (outside the generated runtime's
request-id middleware, so its 500s get the headers too, and before routing, so a CORS
preflight is answered instead of a 405). The headers are appended to the response start
message: no body is buffered, and the cost is a few list operations per request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.settings import Settings
from specfirst import problem_response
from specfirst.document import Document

# The token endpoints answer credentials: never kept by a cache, whoever asks.
TOKEN_PATHS = "/v1/auth/"  # noqa: S105 - a path, not a password
DOCS_PATH = "/docs"
HSTS = (b"strict-transport-security", b"max-age=63072000")
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_FRAMING = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Adds the headers every response carries (README, "Limits and HTTP headers"):
    ``X-Content-Type-Options``, ``Referrer-Policy``, HSTS when TLS terminates in front,
    frame protection on the docs, and ``Cache-Control: no-store`` on responses to requests
    with credentials and from the token endpoints (unless the response set its own)."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.always = (*_ALWAYS, HSTS) if hsts else _ALWAYS
        self.docs = (*self.always, *_FRAMING)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = self.always
        if path.startswith(DOCS_PATH) and (len(path) == 5 or path[5] == "/"):
            extra = self.docs
        no_store = path.startswith(TOKEN_PATHS)
        if not no_store:
            for name, _ in scope["headers"]:
                if name == b"authorization":
                    no_store = True
                    break

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if no_store:
                    for name, _ in headers:
                        if name.lower() == b"cache-control":
                            break
                    else:
                        headers.append(_NO_STORE)
                headers += extra
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Cors(CORSMiddleware):
    """Starlette's CORS middleware, whose refused preflight is a problem+json 400 (as every
    error of this API) instead of plain text."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Most requests (servers, mobile apps, curl) send no Origin: nothing to do for them,
        # without the per-request wrapping Starlette's middleware does.
        for name, _ in scope["headers"]:
            if name == b"origin":
                break
        else:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code == 400:
                    response = _refused(response, scope["path"])
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _refused(plain: Response, path: str) -> Response:
    reasons = bytes(plain.body).decode().rstrip(".")
    kept = {
        name: value
        for name, value in plain.headers.items()
        if name not in ("content-type", "content-length")
    }
    return problem_response(
        400,
        "Bad Request",
        f"The CORS preflight is refused: {reasons[0].lower() + reasons[1:]}.",
        instance=path,
        headers=kept,
    )


def cors_surface(spec_json: str) -> tuple[list[str], list[str], list[str]]:
    """The methods, request headers and response headers the contract uses, which a browser
    on an allowed origin may send and read."""
    document = Document(json.loads(spec_json))
    methods: set[str] = set()
    request_headers = {"Authorization", "Content-Type", "X-Request-ID"}
    response_headers = {"X-Request-ID"}
    for op in document.operations():
        methods.add(op.method.upper())
        for parameter in [*op.parameters, *op.operation.get("parameters", ())]:
            resolved = document.follow(parameter).node
            if resolved.get("in") == "header":
                request_headers.add(str(resolved["name"]))
        for response in (op.operation.get("responses") or {}).values():
            response_headers.update((document.follow(response).node.get("headers") or {}).keys())
    return sorted(methods), sorted(request_headers), sorted(response_headers)


def install(app: Starlette, settings: Settings, spec_json: str) -> Starlette:
    """Wrap ``app`` in CORS (``CORS_ALLOWED_ORIGINS``) and the security headers."""
    methods, request_headers, response_headers = cors_surface(spec_json)
    origins: Sequence[str] = settings.cors_allowed_origins
    # add_middleware puts each outside the ones before: the headers wrap CORS, which wraps
    # the generated app's own middleware and router.
    app.add_middleware(
        Cors,
        allow_origins=origins,
        allow_methods=methods,
        allow_headers=request_headers,
        expose_headers=response_headers,
        max_age=600,
    )
    app.add_middleware(SecurityHeaders, hsts=settings.tls_terminated)
    return app
