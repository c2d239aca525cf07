"""The request-id middleware, and unhandled errors as 500 problems."""

from __future__ import annotations

import logging
import os

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import _SANE_REQUEST_ID, _Problem, error_response, request_id_var
from .responses import ProblemWriter

logger = logging.getLogger("specfirst")

# Set in the scope by the outermost instance, so a router's routes that carry their own (for an
# app that includes them without the middleware) leave the request to the app's.
_HANDLED = "specfirst.request_id"


class RequestContextMiddleware:
    """Accepts or generates X-Request-ID and echoes it; unhandled errors become 500 problems.

    A generated app runs it around everything it serves; a generated ``APIRouter``'s routes each
    carry one, which steps aside when an outer one already handles the request.
    """

    def __init__(self, app: ASGIApp, problems: ProblemWriter | None = None) -> None:
        self.app = app
        self.problems = problems

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _HANDLED in scope:
            await self.app(scope, receive, send)
            return
        incoming = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        # 32 random hex digits, as uuid4().hex but without building a UUID.
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else os.urandom(16).hex()
        token = request_id_var.set(request_id)
        scope[_HANDLED] = request_id
        started = False
        raw_id = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", raw_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = self._server_error(scope)
            await response(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)

    def _server_error(self, scope: Scope) -> Response:
        failed = _Problem(
            500,
            "Internal Server Error",
            "The server failed to handle the request; quote the request id when reporting it.",
        )
        instance = scope.get("path", "")
        if self.problems is None or self.problems.renderer is None:
            return error_response(failed, instance)
        try:
            return self.problems.error(failed, scope.get("openapi.operation"), instance)
        except Exception:  # the renderer's own mistake: never offered the problem again
            logger.exception("the problem renderer failed on a 500; sent as problem+json")
            return error_response(failed, instance)
