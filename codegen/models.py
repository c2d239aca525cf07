"""Pydantic v2 models of a document's schemas, written by datamodel-code-generator.

datamodel-code-generator spends a few milliseconds per schema, in pure Python. Large documents
are therefore split into groups of schemas that do not reference each other, generated in two
processes, and merged. The split depends only on the document, never on the machine, so the
output is the same everywhere; if two groups would define the same helper class, the document
is generated in one piece instead.
"""

from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from codegen.errors import Diagnostic, SpecError

# Below this many schemas a second process costs more (start-up, imports) than it saves.
SPLIT_THRESHOLD = 400
WORKERS = 2


def _run_dcg(document: dict[str, Any], class_names: dict[str, str]) -> str:
    from datamodel_code_generator import (
        DataModelType,
        GenerateConfig,
        InputFileType,
        PythonVersion,
        ReadOnlyWriteOnlyModelType,
        generate,
    )

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
        # readOnly fields are not expected in requests, writeOnly ones never sent back.
        read_only_write_only_model_type=ReadOnlyWriteOnlyModelType.RequestResponse,
        formatters=[],
        # Only real renames: an identity entry makes the generator reserve the name twice
        # when it derives helper models from that schema (oneOf variants, for instance).
        model_name_map={name: cls for name, cls in class_names.items() if name != cls},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            source = generate(document, config=config)
        except Exception as exc:  # the generator's own errors carry no pointer; name the step
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
    # MISSING left pydantic.experimental in Pydantic 2.14.
    return source.replace(
        "from pydantic.experimental.missing_sentinel import MISSING", "from pydantic import MISSING"
    )


def _refs(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                yield ref.rsplit("/", 1)[1].replace("~1", "/").replace("~0", "~")
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


def _in_parallel(document: dict[str, Any], class_names: dict[str, str]) -> str | None:
    schemas = document["components"]["schemas"]
    parts = _partition(_groups(schemas), WORKERS)
    if len(parts) < 2:
        return None
    # A copy through JSON: the workers need plain data, and the parent's dicts may be shared.
    jobs = [json.loads(json.dumps(_document_with(document, part))) for part in parts]
    names = [{n: class_names[n] for n in part if n in class_names} for part in parts]
    with ProcessPoolExecutor(max_workers=WORKERS) as pool:
        sources = list(pool.map(_run_dcg, jobs, names))
    seen: set[str] = set()
    for source in sources:
        classes = set(_classes(source))
        if classes & seen:
            return None  # helper classes named alike in two groups: one run names them apart
        seen |= classes
    return _merge([_strip_header(s) for s in sources])


def generate_models(document: dict[str, Any], class_names: dict[str, str]) -> tuple[str, set[str]]:
    """Source of ``models.py`` and the names of the classes it defines."""
    schemas = (document.get("components") or {}).get("schemas") or {}
    if not schemas:  # nothing to model; the generator would call that an error
        return '"""This API defines no schemas."""\n', set()
    source = None
    if len(schemas) >= SPLIT_THRESHOLD:
        source = _in_parallel(document, class_names)
    if source is None:
        source = _strip_header(_run_dcg(document, class_names))
    return source, set(_classes(source))
