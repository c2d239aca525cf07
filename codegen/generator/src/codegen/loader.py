"""Load YAML or JSON documents while remembering the line of every node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from codegen.errors import Diagnostic, Location, SpecError, join_pointer

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is optional
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


class LoadedFile:
    """A parsed document plus a map from JSON pointer (within the file) to 1-based line."""

    def __init__(self, path: Path, data: Any, lines: dict[str, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    def line_of(self, pointer: str) -> int:
        """The line of the nearest node at or above ``pointer``."""
        while True:
            line = self.lines.get(pointer)
            if line is not None:
                return line
            if not pointer:
                return 0
            pointer = pointer.rsplit("/", 1)[0]


def _construct(
    node: yaml.Node, pointer: str, lines: dict[str, int], where: Path, line: int = 0
) -> Any:
    # A mapping entry is reported at its key's line, where a reviewer looks for it.
    lines[pointer] = line or node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecError(
                    [
                        Diagnostic(
                            "YAML merge keys (<<) are not supported in OpenAPI documents",
                            pointer,
                            Location(str(where), key_node.start_mark.line + 1),
                        )
                    ]
                )
            key = _scalar(key_node)
            # OpenAPI keys are strings (status codes too); YAML may have read 200 as an int.
            key = (
                key
                if isinstance(key, str)
                else str(key).lower()
                if isinstance(key, bool)
                else str(key)
            )
            if key in result:
                raise SpecError(
                    [
                        Diagnostic(
                            f"duplicate key {key!r}",
                            join_pointer(pointer, key),
                            Location(str(where), key_node.start_mark.line + 1),
                        )
                    ]
                )
            result[key] = _construct(
                value_node, join_pointer(pointer, key), lines, where, key_node.start_mark.line + 1
            )
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, join_pointer(pointer, i), lines, where)
            for i, item in enumerate(node.value)
        ]
    return _scalar(node)


_scalar_loader = _Loader("")


def _scalar(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value = _scalar_loader.construct_object(node, deep=True)
        # Dates stay strings: OpenAPI examples are JSON values, not Python dates.
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value
        return value
    raise SpecError([Diagnostic("complex mapping keys are not supported", "")])


def load_file(path: Path) -> LoadedFile:
    """Parse a YAML or JSON file, raising :class:`SpecError` with the position on bad syntax."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Diagnostic(f"cannot read file: {exc}", "", Location(str(path)))]) from exc
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(
                [Diagnostic(f"invalid JSON: {exc.msg}", "", Location(str(path), exc.lineno))]
            ) from exc
        # Large JSON documents are usually machine-written: skip line tracking for speed.
        return LoadedFile(path, data, {})
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise SpecError(
            [Diagnostic(f"invalid YAML: {exc}", "", Location(str(path), line))]
        ) from exc
    lines: dict[str, int] = {}
    data = None if node is None else _construct(node, "", lines, path)
    return LoadedFile(path, data, lines)
