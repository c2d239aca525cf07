"""The application's error hierarchy.

Services raise these; the generated runtime renders them as RFC 9457 problem+json using the
status, type, title, detail, headers and extension members carried here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from specfirst import ApiError

PROBLEM_TYPE_BASE = "https://storefront.example/problems/"


class AppError(ApiError):
    """Base class: an expected failure with an HTTP status and a problem type."""

    status = 400
    slug = "bad-request"
    title = "Bad Request"
    # True for a refusal whose side effects must stand (revoking a stolen token's family):
    # the unit of work commits before the error is rendered, instead of rolling back.
    keeps_changes = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers: dict[str, str] = dict(headers or {})
        self.extensions: dict[str, Any] = dict(extensions or {})

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


class BadRequest(AppError):
    status = 400
    slug = "bad-request"
    title = "Bad Request"


class Unauthorized(AppError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class Forbidden(AppError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(AppError):
    status = 404
    slug = "not-found"
    title = "Not Found"


class Conflict(AppError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PreconditionFailed(AppError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition Failed"


class UnprocessableContent(AppError):
    status = 422
    slug = "unprocessable-content"
    title = "Unprocessable Content"


def invalid_value(pointer: str, message: str, code: str) -> dict[str, Any]:
    """The `errors` extension of a 422 naming one invalid value, as validation errors do."""
    return {"errors": [{"pointer": pointer, "message": message, "code": code}]}


class PreconditionRequired(AppError):
    status = 428
    slug = "precondition-required"
    title = "Precondition Required"


class ServiceUnavailable(AppError):
    status = 503
    slug = "service-unavailable"
    title = "Service Unavailable"


class TooManyRequests(AppError):
    status = 429
    slug = "too-many-requests"
    title = "Too Many Requests"
