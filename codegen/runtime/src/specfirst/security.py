"""Credentials from a request by security scheme, and the authenticator's verdict."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from .errors import ApiError, _Problem
from .operations import Credentials, Operation, SecurityScheme

if TYPE_CHECKING:
    from .endpoints import Options

logger = logging.getLogger("specfirst")

# ---------------------------------------------------------------------------- security


def _credentials(scheme: SecurityScheme, request: Request) -> Credentials | None:
    if scheme.type == "apiKey":
        source: Mapping[str, str] = {
            "header": request.headers,
            "query": request.query_params,
            "cookie": request.cookies,
        }.get(scheme.location, {})
        value = source.get(scheme.parameter)
        return Credentials(scheme, value) if value else None
    authorization = request.headers.get("authorization", "")
    kind, _, value = authorization.partition(" ")
    value = value.strip()
    expected = scheme.scheme.lower() if scheme.type == "http" else "bearer"
    if kind.lower() != expected or not value:
        return None
    if expected == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        return Credentials(scheme, value, username, password) if sep else None
    return Credentials(scheme, value)


def _challenge(schemes: Iterable[SecurityScheme]) -> str:
    challenges: list[str] = []
    for scheme in schemes:
        if scheme.type == "http":
            name = scheme.scheme.capitalize()
            challenges.append(f'{name} realm="api"')
        elif scheme.type in ("oauth2", "openIdConnect"):
            challenges.append('Bearer realm="api"')
    return ", ".join(dict.fromkeys(challenges)) or 'Bearer realm="api"'


async def _authenticate(op: Operation, options: Options[Any], request: Request) -> Any:
    """The principal of the first satisfied security alternative, or a 401."""
    failure: ApiError | None = None
    for alternative in op.security:
        if not alternative:
            return None
        principal: Any = None
        satisfied = True
        for name, scopes in alternative:
            scheme = options.schemes[name]
            credentials = _credentials(scheme, request)
            if credentials is None or options.authenticator is None:
                satisfied = False
                break
            try:
                result = await options.authenticator.authenticate(credentials, scopes)
            except ApiError as exc:
                failure = exc
                satisfied = False
                break
            if result is None:
                satisfied = False
                break
            principal = result if principal is None else principal
        if satisfied:
            return principal
    schemes = [options.schemes[name] for alt in op.security for name, _ in alt]
    challenge = {"WWW-Authenticate": _challenge(schemes)}
    if failure is not None:
        if failure.status == 401:
            failure.headers = {**challenge, **(getattr(failure, "headers", None) or {})}
        raise failure
    raise _Problem(401, "Unauthorized", "Valid credentials are required.", headers=challenge)
