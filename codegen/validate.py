"""Validate a bundled document against the OpenAPI 3.0 / 3.1 meta-schemas."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from codegen.bundle import Bundle
from codegen.errors import Diagnostic, SpecError, join_pointer

MAX_REPORTED = 20


def _validator_for(document: dict[str, Any], bundle: Bundle) -> Any:
    version = str(document.get("openapi", ""))
    if version.startswith("3.0"):
        return OpenAPIV30SpecValidator(document)
    if version.startswith("3.1"):
        return OpenAPIV31SpecValidator(document)
    raise SpecError(
        [
            bundle.diagnostic(
                f"unsupported OpenAPI version {version!r}: expected 3.0.x or 3.1.x", "/openapi"
            )
        ]
    )


def validate_bundle(bundle: Bundle) -> None:
    """Raise :class:`SpecError` listing every validation error with file, line and pointer."""
    document = bundle.document
    validator = _validator_for(document, bundle)
    diagnostics: list[Diagnostic] = []
    for error in validator.iter_errors():
        path = list(getattr(error, "absolute_path", None) or [])
        pointer = _locate(document, path, getattr(error, "instance", None))
        message = str(getattr(error, "message", error)).splitlines()[0]
        diagnostics.append(bundle.diagnostic(message, pointer))
        if len(diagnostics) >= MAX_REPORTED:
            break
    if diagnostics:
        raise SpecError(diagnostics)


def _follow(node: Any, path: list[Any]) -> tuple[bool, Any]:
    for token in path:
        if (isinstance(node, dict) and token in node) or (
            isinstance(node, list) and isinstance(token, int) and token < len(node)
        ):
            node = node[token]
        else:
            return False, None
    return True, node


def _locate(document: dict[str, Any], path: list[Any], instance: Any) -> str:
    """The absolute pointer of an error.

    Errors inside Schema Objects carry a path relative to that schema, so find the node from
    which the relative path leads to the very object that failed.
    """
    found, value = _follow(document, path)
    if found and value is instance:
        return join_pointer("", *path)
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        pointer, node = stack.pop()
        found, value = _follow(node, path)
        if found and value is instance:
            return join_pointer(pointer, *path)
        if isinstance(node, dict):
            stack.extend(
                (join_pointer(pointer, k), v) for k, v in node.items() if isinstance(v, dict | list)
            )
        elif isinstance(node, list):
            stack.extend(
                (join_pointer(pointer, i), v)
                for i, v in enumerate(node)
                if isinstance(v, dict | list)
            )
    return join_pointer("", *path)
