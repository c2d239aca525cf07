"""Pydantic v2 models of a document's schemas, written by datamodel-code-generator.

datamodel-code-generator spends a few milliseconds per schema, in pure Python. Large documents
are therefore split into groups of schemas that do not reference each other, generated in two
processes, and merged. The split depends only on the document, never on the machine, so the
output is the same everywhere; helper classes that two groups name alike are renamed in the
later group.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import tempfile
import tokenize
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from codegen.errors import Diagnostic, SpecError
from codegen.naming import NameTable
from specfirst.document import escape, unescape

# Below this many schemas a second process costs more (start-up, imports) than it saves.
SPLIT_THRESHOLD = 400
WORKERS = 2


def _run_dcg(document: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """The models' source, and (class name, source $ref) for each model it defines."""
    from datamodel_code_generator import (
        DataModelType,
        GenerateConfig,
        InputFileType,
        PythonVersion,
        ReadOnlyWriteOnlyModelType,
        generate,
    )

    handle, metadata_path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    config = GenerateConfig(
        input_file_type=InputFileType.OpenAPI,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        disable_timestamp=True,
        use_annotated=True,
        field_constraints=True,
        use_standard_collections=True,
        use_union_operator=True,
        strict_nullable=True,
        use_schema_description=True,
        use_field_description=True,
        collapse_root_models=True,
        capitalise_enum_members=True,
        snake_case_field=True,
        use_double_quotes=True,
        set_default_enum_member=True,
        use_missing_sentinel=True,
        # URIs stay the strings the client sent: AnyUrl rewrites them (a trailing slash) and
        # rejects defaults such as "" that real documents use (a `format: uri` string comes
        # as a placeholder for the parser's checked str). A ULID too: its type would need
        # python-ulid, which neither the runtime nor the generated package depends on.
        type_mappings=[f"string+{fmt}=string" for fmt in ("uri", "uri-reference", "iri", "ulid")],
        # readOnly fields are not expected in requests, writeOnly ones never sent back.
        read_only_write_only_model_type=ReadOnlyWriteOnlyModelType.RequestResponse,
        formatters=[],
        # Which class each schema became: names are the generator's (a name map of ours
        # would match nested properties of the same name too), read back from here.
        emit_model_metadata=metadata_path,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            source = generate(document, config=config)
        except Exception as exc:  # the generator's own errors carry no pointer; name the step
            reordered = _references_first(document)
            try:
                if reordered is None:
                    raise
                # Its readOnly/writeOnly variants depend on the order schemas are met in
                # (datamodel-code-generator 0.89): a schema named before the ones it
                # references (an allOf child before its parent, a oneOf before its members)
                # can fail where the same schemas, referenced first, do not.
                source = generate(reordered, config=config)
            except Exception:
                raise SpecError(
                    [
                        Diagnostic(
                            f"datamodel-code-generator failed on the schemas: {exc}",
                            "/components/schemas",
                        )
                    ]
                ) from exc
    if not isinstance(source, str):
        raise SpecError(
            [Diagnostic("datamodel-code-generator produced several modules", "/components/schemas")]
        )
    try:
        metadata = json.loads(Path(metadata_path).read_text(encoding="utf-8"))
    finally:
        os.unlink(metadata_path)
    models = [(str(m["class_name"]), str(m.get("source_ref") or "")) for m in metadata["models"]]
    # MISSING left pydantic.experimental in Pydantic 2.14.
    source = source.replace(
        "from pydantic.experimental.missing_sentinel import MISSING", "from pydantic import MISSING"
    )
    return source, models


def _references_first(document: dict[str, Any]) -> dict[str, Any] | None:
    """``document`` with each schema after the schemas it references (a cycle keeps the
    document's order); None when that is the order it has."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    order: list[str] = []
    seen: set[str] = set()
    for root in schemas:
        stack = [(root, False)]
        while stack:
            name, done = stack.pop()
            if done:
                order.append(name)
                continue
            if name in seen:
                continue
            seen.add(name)
            stack.append((name, True))
            targets = [t for t in dict.fromkeys(_refs(schemas[name])) if t in schemas]
            stack.extend((t, False) for t in reversed(targets) if t not in seen)
    if order == list(schemas):
        return None
    return {**document, "components": {"schemas": {name: schemas[name] for name in order}}}


def _refs(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                yield unescape(ref.rsplit("/", 1)[1])
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _groups(schemas: dict[str, Any]) -> list[list[str]]:
    """Schemas joined by references (in either direction), in document order."""
    parent = {name: name for name in schemas}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for name, schema in schemas.items():
        for target in _refs(schema):
            if target in parent:
                parent[find(target)] = find(name)
    groups: dict[str, list[str]] = {}
    for name in schemas:
        groups.setdefault(find(name), []).append(name)
    return list(groups.values())


def _partition(groups: list[list[str]], parts: int) -> list[list[str]]:
    """Deal groups, largest first, to the lightest part: deterministic and balanced."""
    buckets: list[list[str]] = [[] for _ in range(parts)]
    for group in sorted(groups, key=lambda g: (-len(g), g[0])):
        min(buckets, key=len).extend(group)
    return [bucket for bucket in buckets if bucket]


def _split_source(source: str) -> tuple[dict[str, dict[str, str | None]], list[str], list[str]]:
    """Imports (module -> name -> alias), plain imports, and the body after the imports."""
    tree = ast.parse(source)
    imports: dict[str, dict[str, str | None]] = {}
    plain: list[str] = []
    last = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            names = imports.setdefault(node.module, {})
            for alias in node.names:
                names[alias.name] = alias.asname
            last = node.end_lineno or last
        elif isinstance(node, ast.Import):
            plain.append(ast.unparse(node))
            last = node.end_lineno or last
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and last == 0:
            continue
        else:
            break
    body = source.splitlines()[last:]
    return imports, plain, body


def _merge(sources: list[str]) -> str:
    imports: dict[str, dict[str, str | None]] = {}
    plain: list[str] = []
    bodies: list[str] = []
    for source in sources:
        part_imports, part_plain, body = _split_source(source)
        for module, names in part_imports.items():
            imports.setdefault(module, {}).update(names)
        plain.extend(p for p in part_plain if p not in plain)
        bodies.append("\n".join(body).strip("\n"))
    lines = []
    future = imports.pop("__future__", None)
    if future:
        lines.append("from __future__ import " + ", ".join(sorted(future)))
    lines.extend(sorted(plain))
    for module in sorted(imports):
        names = imports[module]
        rendered = [f"{n} as {a}" if a else n for n, a in sorted(names.items())]
        lines.append(f"from {module} import {', '.join(rendered)}")
    return "\n".join(lines) + "\n\n\n" + "\n\n\n".join(bodies) + "\n"


def _classes(source: str) -> list[str]:
    return [node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)]


def _strip_header(source: str) -> str:
    lines = source.splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines) + "\n"


def _document_with(document: dict[str, Any], names: list[str]) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    return {**document, "components": {"schemas": {name: schemas[name] for name in names}}}


_Run = tuple[str, list[tuple[str, str]]]


def _in_parallel(document: dict[str, Any]) -> _Run | None:
    schemas = document["components"]["schemas"]
    parts = _partition(_groups(schemas), WORKERS)
    if len(parts) < 2:
        return None
    # A copy through JSON: the workers need plain data, and the parent's dicts may be shared.
    jobs = [json.loads(json.dumps(_document_with(document, part))) for part in parts]
    with ProcessPoolExecutor(max_workers=WORKERS) as pool:
        runs = list(pool.map(_run_dcg, jobs))
    # Groups are generated apart, so two may name a helper class alike (two inline `status`
    # enums both become `Status`): later groups rename theirs, as one run would have.
    table = NameTable({c for source, _ in runs for c in _classes(source)})
    seen: set[str] = set()
    merged: list[str] = []
    models: list[tuple[str, str]] = []
    for source, part_models in runs:
        classes = _classes(source)
        renames = {c: table.claim(c) for c in classes if c in seen}
        seen |= set(classes) | set(renames.values())
        merged.append(rename(_strip_header(source), renames) if renames else _strip_header(source))
        models += [(renames.get(c, c), ref) for c, ref in part_models]
    return _merge(merged), models


def rename(source: str, renames: dict[str, str]) -> str:
    """Rename identifiers (NAME tokens only: strings and comments stay as they are)."""
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string in renames:
            (row, start), (_, end) = token.start, token.end
            edits.append((row - 1, start, end, renames[token.string]))
    for row, start, end, name in reversed(edits):
        lines[row] = lines[row][:start] + name + lines[row][end:]
    return "".join(lines)


def _stem(class_name: str) -> str:
    """The class name without its one variant suffix (`XResponseRequest` -> `XResponse`)."""
    for suffix in ("Request", "Response"):
        if class_name.endswith(suffix):
            return class_name[: -len(suffix)]
    return class_name


def _schema_classes(models: list[tuple[str, str]]) -> dict[str, str]:
    """Component schema name -> its class (for a readOnly/writeOnly pair, the shared stem)."""
    prefix = "#/components/schemas/"
    by_schema: dict[str, list[str]] = {}
    for class_name, ref in models:
        if ref.startswith(prefix) and "/" not in ref[len(prefix) :]:
            name = unescape(ref[len(prefix) :])
            by_schema.setdefault(name, []).append(class_name)
    found: dict[str, str] = {}
    for name, classes in by_schema.items():
        stems = {_stem(c) for c in classes}
        found[name] = stems.pop() if len(classes) > 1 and len(stems) == 1 else classes[0]
    return found


Models = tuple[str, set[str], dict[str, str]]


def _cache_dir() -> Path | None:
    if os.environ.get("CODEGEN_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openapi-codegen"


def _cache_key(document: dict[str, Any]) -> str:
    from importlib.metadata import version

    digest = hashlib.sha256()
    # The output is a pure function of the schemas, this module and the generator's version.
    digest.update(json.dumps(document, sort_keys=True).encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(version("datamodel-code-generator").encode())
    return digest.hexdigest()


def generate_models(document: dict[str, Any]) -> Models:
    """Source of ``models.py``, the classes it defines, and each component schema's class.

    Results are cached by content (``~/.cache/openapi-codegen``; ``CODEGEN_NO_CACHE=1``
    turns it off): the model generator dominates a small document's generation time, and
    most edits of a spec leave its schemas alone.
    """
    folder = _cache_dir()
    key = _cache_key(document) if folder is not None else ""
    if folder is not None:
        cached = folder / f"{key}.json"
        try:
            data = json.loads(cached.read_text(encoding="utf-8"))
            return data["source"], set(data["classes"]), data["by_schema"]
        except (OSError, ValueError, KeyError):
            pass
    result = _generate_models(document)
    if folder is not None:
        source, classes, by_schema = result
        payload = {"source": source, "classes": sorted(classes), "by_schema": by_schema}
        try:
            folder.mkdir(parents=True, exist_ok=True)
            temporary = folder / f"{key}.{os.getpid()}.tmp"
            temporary.write_text(json.dumps(payload), encoding="utf-8")
            temporary.replace(folder / f"{key}.json")
        except OSError:
            pass  # a read-only home only costs the next run its speed
    return result


_SCHEMA_REF = "#/components/schemas/"


def _without_dots(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The document with dots in schema names replaced (the generator reads ``a.b`` as a
    module path), and a map back to the original names."""
    schemas = document["components"]["schemas"]
    if not any("." in name for name in schemas):
        return document, {}
    table = NameTable({name for name in schemas if "." not in name})
    renamed = {
        name: table.claim(name.replace(".", "_")) if "." in name else name for name in schemas
    }
    refs = {
        _SCHEMA_REF + escape(old): _SCHEMA_REF + escape(new)
        for old, new in renamed.items()
        if old != new
    }

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref in refs:
                node = {**node, "$ref": refs[ref]}
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(value) for value in node]
        return node

    new_schemas = {renamed[name]: rewrite(schema) for name, schema in schemas.items()}
    back = {new: old for old, new in renamed.items() if old != new}
    return {**document, "components": {"schemas": new_schemas}}, back


def _generate_models(document: dict[str, Any]) -> Models:
    document, back = _without_dots(document)
    source, classes, by_schema = _generate_undotted(document)
    return source, classes, {back.get(name, name): cls for name, cls in by_schema.items()}


def _generate_undotted(document: dict[str, Any]) -> Models:
    schemas = (document.get("components") or {}).get("schemas") or {}
    if not schemas:  # nothing to model; the generator would call that an error
        return '"""This API defines no schemas."""\n', set(), {}
    run = None
    if len(schemas) >= SPLIT_THRESHOLD:
        run = _in_parallel(document)
    if run is None:
        source, models = _run_dcg(document)
        run = _strip_header(source), models
    source, models = run
    classes = set(_classes(source))
    return source, classes, _schema_classes(models)
