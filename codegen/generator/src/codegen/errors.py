"""Diagnostics: every problem the generator reports names a place in the input."""

from __future__ import annotations

from dataclasses import dataclass

# JSON pointers (RFC 6901) are the runtime's document layer's: one implementation.
from specfirst.document import escape as escape_pointer_token
from specfirst.document import join as join_pointer
from specfirst.document import unescape as unescape_pointer_token


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a source file: path and 1-based line (0 when unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding, tied to a JSON pointer in the bundled document and, where known, a file."""

    message: str
    pointer: str
    location: Location | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.severity}: {self.message} (at {self.pointer or '/'})"


class SpecError(Exception):
    """The document cannot be generated; carries one or more diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


__all__ = [
    "Diagnostic",
    "Location",
    "SpecError",
    "escape_pointer_token",
    "join_pointer",
    "unescape_pointer_token",
]
