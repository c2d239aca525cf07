"""Turn arbitrary OpenAPI names into stable, valid, non-colliding Python identifiers."""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+|[0-9]+")
RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"self", "ctx", "body"}


def _ascii_words(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = _WORD.findall(folded)
    if not words and name:
        # Nothing ASCII survives (e.g. a name in another script): derive from code points.
        words = ["x" + "_".join(f"{ord(ch):x}" for ch in name)]
    return words


def snake(name: str) -> str:
    """``listProducts`` / ``list-products`` / ``ListProducts`` -> ``list_products``."""
    words = _ascii_words(name)
    result = "_".join(w.lower() for w in words) or "unnamed"
    if result[0].isdigit():
        result = "n" + result
    return result


def pascal(name: str) -> str:
    """``list_products`` / ``product-page`` -> ``ListProducts`` / ``ProductPage``."""
    words = _ascii_words(name)
    result = "".join(w[:1].upper() + w[1:] for w in words) or "Unnamed"
    if result[0].isdigit():
        result = "N" + result
    return result


def safe_identifier(name: str, *, avoid: frozenset[str] = RESERVED) -> str:
    """A snake_case identifier that is not a keyword, not reserved and not a builtin."""
    ident = snake(name)
    if ident in avoid or keyword.iskeyword(ident) or hasattr(builtins, ident):
        ident += "_"
    return ident


class NameTable:
    """Hands out unique names, deterministically, in the order they are asked for."""

    def __init__(self, taken: set[str] | frozenset[str] = frozenset()) -> None:
        self._taken = set(taken)

    def claim(self, wanted: str) -> str:
        """``wanted`` if free, else ``wanted2``, ``wanted3``, ..."""
        name = wanted
        n = 2
        while name in self._taken:
            name = f"{wanted}{n}"
            n += 1
        self._taken.add(name)
        return name

    def __contains__(self, name: str) -> bool:
        return name in self._taken
