"""Regular expressions for the runtime's engine.

OpenAPI patterns are ECMA-262; Pydantic compiles them with Rust's regex crate, which has no
lookaround, no backreferences and no lone surrogates. A pattern it cannot compile would stop
the generated package from importing, so it is left out of the code, with a warning.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any


@cache
def _compiles(pattern: str) -> bool:
    from pydantic import Field, TypeAdapter
    from pydantic_core import SchemaError

    try:
        TypeAdapter(Annotated[str, Field(pattern=pattern)])
    except SchemaError:
        return False
    return True


def for_runtime(pattern: str) -> str | None:
    """The pattern if the runtime can compile it, else None."""
    return pattern if _compiles(pattern) else None


def adapt_patterns(node: Any, pointer: str, dropped: list[tuple[str, str]]) -> Any:
    """A copy of ``node`` with every schema ``pattern`` adapted; records the ones dropped."""
    if isinstance(node, dict):
        result: dict[str, Any] = {}
        for key, value in node.items():
            child = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
            if key == "pattern" and isinstance(value, str):
                adapted = for_runtime(value)
                if adapted is None:
                    dropped.append((child, value))
                    continue
                result[key] = adapted
            else:
                result[key] = adapt_patterns(value, child, dropped)
        return result
    if isinstance(node, list):
        return [adapt_patterns(v, f"{pointer}/{i}", dropped) for i, v in enumerate(node)]
    return node
