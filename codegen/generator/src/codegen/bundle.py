"""Join a multi-file OpenAPI document into one, keeping named components.

External ``$ref``s that a component entry of the root registers (``Product: {$ref:
./schemas/product.yaml}``) become local ``#/components/...`` references everywhere; a
reference to ``other.yaml#/components/<kind>/<Name>`` that the root does not register is
registered automatically; any other external reference is inlined. Every node of the result
can be traced back to its file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from codegen.errors import Diagnostic, Location, SpecError, escape_pointer_token, join_pointer
from codegen.loader import LoadedFile, load_file
from specfirst.document import OVERRIDES, lookup_ref, split

COMPONENT_KINDS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
    "pathItems",
)

_Target = tuple[Path, str]  # (absolute file, JSON pointer inside it)


@dataclass
class Bundle:
    """The joined document and a way back to the source of any pointer in it."""

    document: dict[str, Any]
    root: Path
    _origins: dict[str, tuple[LoadedFile, str]] = field(default_factory=dict)

    def locate(self, pointer: str) -> Location | None:
        """File and line of the node at ``pointer`` of the bundled document."""
        probe = pointer
        suffix = ""
        while True:
            origin = self._origins.get(probe)
            if origin is not None:
                loaded, inner = origin
                return Location(_display(loaded.path), loaded.line_of(inner + suffix))
            if not probe:
                return None
            probe, _, last = probe.rpartition("/")
            suffix = "/" + last + suffix

    def diagnostic(self, message: str, pointer: str, severity: str = "error") -> Diagnostic:
        """A diagnostic located in the source files."""
        return Diagnostic(message, pointer, self.locate(pointer), severity)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# Members whose keys are names (of properties, headers, media types, …), not keywords.
_NAMED = frozenset(
    {
        *COMPONENT_KINDS,
        "properties",
        "patternProperties",
        "$defs",
        "definitions",
        "dependentSchemas",
        "headers",
        "content",
        "encoding",
        "examples",
        "links",
        "callbacks",
        "paths",
        "webhooks",
        "variables",
        "mapping",
        "scopes",
    }
)
_SCHEMA_KEYS = frozenset({"schema", "itemSchema", "x-item-schema"})


def _in_schema(pointer: str) -> bool:
    """Whether the node at ``pointer`` (of the bundled document) is a Schema Object or inside
    one: under ``components/schemas`` or a ``schema`` member (not one named so)."""
    tokens = split(pointer)
    if tokens[:2] == ["components", "schemas"] and len(tokens) > 2:
        return True
    return any(
        token in _SCHEMA_KEYS and (i == 0 or tokens[i - 1] not in _NAMED)
        for i, token in enumerate(tokens)
    )


class _Bundler:
    def __init__(self, root: Path) -> None:
        self.root_path = root.resolve()
        self.files: dict[Path, LoadedFile] = {}
        self.registry: dict[_Target, str] = {}
        self.origins: dict[str, tuple[LoadedFile, str]] = {}
        self.auto_components: dict[str, dict[str, Any]] = {}
        self.stack: list[_Target] = []

    def load(self, path: Path) -> LoadedFile:
        loaded = self.files.get(path)
        if loaded is None:
            loaded = load_file(path)
            self.files[path] = loaded
        return loaded

    def error(self, message: str, loaded: LoadedFile, inner: str) -> SpecError:
        return SpecError(
            [Diagnostic(message, inner, Location(_display(loaded.path), loaded.line_of(inner)))]
        )

    def target_of(self, ref: str, loaded: LoadedFile, inner: str) -> _Target:
        file_part, _, fragment = ref.partition("#")
        if file_part.startswith(("http://", "https://")):
            raise self.error(f"remote $ref {ref!r} is not supported: download it", loaded, inner)
        path = (loaded.path.parent / unquote(file_part)).resolve() if file_part else loaded.path
        if not path.is_file():
            raise self.error(f"$ref {ref!r}: file {_display(path)} not found", loaded, inner)
        return path, fragment

    def run(self) -> Bundle:
        root = self.load(self.root_path)
        if not isinstance(root.data, dict):
            raise self.error("the document is not a mapping", root, "")
        components = root.data.get("components") or {}
        if isinstance(components, dict):
            for kind in COMPONENT_KINDS:
                entries = components.get(kind)
                if not isinstance(entries, dict):
                    continue
                for name, value in entries.items():
                    if isinstance(value, dict) and set(value) == {"$ref"}:
                        ref = value["$ref"]
                        if isinstance(ref, str) and not ref.startswith("#"):
                            inner = join_pointer("/components", kind, name)
                            target = self.target_of(ref, root, inner)
                            self.registry.setdefault(target, "#" + inner)
        document = self.walk(root.data, root, "", "", at_component=False)
        for kind, entries in self.auto_components.items():
            comps = document.setdefault("components", {})
            comps.setdefault(kind, {}).update(entries)
        return Bundle(document, self.root_path, self.origins)

    def walk(
        self, node: Any, loaded: LoadedFile, inner: str, out: str, *, at_component: bool
    ) -> Any:
        if isinstance(node, dict):
            self.origins[out] = (loaded, inner)
            ref = node.get("$ref")
            if isinstance(ref, str) and not (loaded.path == self.root_path and ref.startswith("#")):
                return self.follow(node, ref, loaded, inner, out, at_component=at_component)
            result: dict[str, Any] = {}
            is_components = out == "/components"
            for key, value in node.items():
                result[key] = self.walk(
                    value,
                    loaded,
                    join_pointer(inner, key),
                    join_pointer(out, key),
                    at_component=is_components is False
                    and out.startswith("/components/")
                    and out.count("/") == 2,
                )
            return result
        if isinstance(node, list):
            self.origins[out] = (loaded, inner)
            return [
                self.walk(
                    v, loaded, join_pointer(inner, i), join_pointer(out, i), at_component=False
                )
                for i, v in enumerate(node)
            ]
        return node

    def follow(
        self,
        node: dict[str, Any],
        ref: str,
        loaded: LoadedFile,
        inner: str,
        out: str,
        *,
        at_component: bool,
    ) -> Any:
        target = self.target_of(ref, loaded, inner + "/$ref")
        siblings = {
            k: self.walk(
                v, loaded, join_pointer(inner, k), join_pointer(out, k), at_component=False
            )
            for k, v in node.items()
            if k != "$ref"
        }
        local = self.registry.get(target)
        if local is not None and not (at_component and local == "#" + out):
            return {"$ref": local, **siblings}
        if local is None and not at_component:
            local = self.auto_register(target)
            if local is not None:
                return {"$ref": local, **siblings}
        if target in self.stack:
            raise self.error(
                f"circular $ref {ref!r}: register the target under components so it can be "
                "referenced by name",
                loaded,
                inner,
            )
        target_file = self.load(target[0])
        try:
            resolved = lookup_ref(target_file.data, "#" + target[1])
        except KeyError:
            raise self.error(f"$ref {ref!r}: no such location", loaded, inner + "/$ref") from None
        self.stack.append(target)
        try:
            value = self.walk(resolved, target_file, target[1], out, at_component=False)
        finally:
            self.stack.pop()
        if siblings and isinstance(value, dict):
            value = self.with_siblings(value, siblings, out)
        return value

    def with_siblings(self, value: dict[str, Any], siblings: dict[str, Any], out: str) -> Any:
        """An inlined target with its reference's siblings, as :mod:`specfirst.document`
        reads them: a schema's apply in addition (``allOf``) in 3.1 and later; a Reference
        Object keeps its ``summary`` and ``description``; anything else (all of it in 3.0)
        is ignored."""
        if str(self.files[self.root_path].data.get("openapi", "")).startswith("3.0"):
            return value
        if _in_schema(out):
            return {"allOf": [value], **siblings}
        return {**value, **{k: v for k, v in siblings.items() if k in OVERRIDES}}

    def auto_register(self, target: _Target) -> str | None:
        path, fragment = target
        try:
            parts = split(unquote(fragment))
        except ValueError:
            return None
        if path == self.root_path:
            return None
        if len(parts) == 3 and parts[0] == "components" and parts[1] in COMPONENT_KINDS:
            kind, name = parts[1], parts[2]
        elif len(parts) == 2 and parts[0] in ("definitions", "$defs"):
            kind, name = "schemas", parts[1]
        else:
            return None
        existing = self.auto_components.setdefault(kind, {})
        root_entries = (self.files[self.root_path].data.get("components") or {}).get(kind) or {}
        unique = name
        n = 2
        while unique in existing or unique in root_entries:
            unique = f"{name}{n}"
            n += 1
        pointer = "#" + join_pointer("/components", kind, unique)
        self.registry[target] = pointer
        target_file = self.load(path)
        try:
            resolved = lookup_ref(target_file.data, "#" + fragment)
        except KeyError:
            return None
        existing[unique] = {}
        self.stack.append(target)
        try:
            existing[unique] = self.walk(
                resolved, target_file, fragment, pointer[1:], at_component=True
            )
        finally:
            self.stack.pop()
        return pointer


def bundle(root: Path) -> Bundle:
    """Load ``root`` and every file it references into one document."""
    return _Bundler(root).run()


__all__ = ["COMPONENT_KINDS", "Bundle", "bundle", "escape_pointer_token"]
