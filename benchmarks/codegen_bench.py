"""Generation time and peak memory on a synthetic spec (default 1,000 operations, 3,000 schemas).

Runs the real command line in a child process, so peak memory is that process's own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from specfirst.document import Document


def synthesise(operations: int, schemas: int) -> dict[str, Any]:
    """A document shaped like real ones: CRUD paths, nested objects, enums, arrays, refs."""
    components: dict[str, Any] = {}
    for i in range(schemas):
        kind = i % 3
        if kind == 0:
            components[f"Status{i}"] = {"type": "string", "enum": ["draft", "active", f"v{i}"]}
        else:
            ref = f"#/components/schemas/Status{i - kind}"
            components[f"Thing{i}"] = {
                "type": "object",
                "required": ["id", "name"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "count": {"type": "integer", "minimum": 0},
                    "price": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"},
                    "status": {"$ref": ref},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
                    "created_at": {"type": "string", "format": "date-time"},
                    "note": {"type": ["string", "null"]},
                },
            }
    things = [name for name in components if name.startswith("Thing")]
    paths: dict[str, Any] = {}
    for i in range(operations):
        thing = things[i % len(things)]
        body = {"$ref": f"#/components/schemas/{thing}"}
        ok = {"description": "OK", "content": {"application/json": {"schema": body}}}
        problem = {"description": "Not found"}
        if i % 2 == 0:
            paths[f"/r{i}"] = {
                "get": {
                    "operationId": f"list_r{i}",
                    "tags": [f"tag{i % 40}"],
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "maximum": 100},
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": ok, "404": problem},
                }
            }
        else:
            paths[f"/r{i - 1}/{{id}}"] = {
                "put": {
                    "operationId": f"put_r{i}",
                    "tags": [f"tag{i % 40}"],
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        },
                        {"name": "If-Match", "in": "header", "schema": {"type": "string"}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": body}},
                    },
                    "responses": {"200": ok, "404": problem},
                }
            }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Synthetic", "version": "1.0.0"},
        "paths": paths,
        "components": {"schemas": components},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operations", type=int, default=1000)
    parser.add_argument("--schemas", type=int, default=3000)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--memory-limit-mib", type=float, default=1024.0)
    parser.add_argument("--spec", type=Path, help="time this document instead of a synthetic one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.spec:
            spec = args.spec.resolve()
            document = json.loads(spec.read_text()) if spec.suffix == ".json" else None
            label = spec.name
        else:
            spec = Path(tmp) / "synthetic.json"
            document = synthesise(args.operations, args.schemas)
            spec.write_text(json.dumps(document))
            label = "synthetic"
        size_mib = spec.stat().st_size / 2**20
        command = [
            sys.executable,
            "-m",
            "codegen",
            "generate",
            "--spec",
            str(spec),
            "--out",
            str(Path(tmp) / "out"),
        ]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        elapsed = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        files = sum(1 for _ in (Path(tmp) / "out").rglob("*.py"))
        # The output must also work: import it and build the app (every operation routed).
        check = (
            "import sys, time; sys.path.insert(0, sys.argv[1]); t = time.perf_counter();"
            "import out; app = out.build_app(None, allow_missing=True);"
            "print(len(out.OPERATIONS), round(time.perf_counter() - t, 1))"
        )
        imported = subprocess.run(  # noqa: S603
            [sys.executable, "-c", check, tmp], capture_output=True, text=True, check=False
        )
    if document is not None:
        operations = len(Document(document).operations(strict=False))
        schemas = len(document.get("components", {}).get("schemas", {}))
        print(f"spec: {label}, {operations} operations, {schemas} schemas, {size_mib:.1f} MiB")
    else:
        print(f"spec: {label}, {size_mib:.1f} MiB")
    print(f"{'':24}{'measured':>12}{'target':>12}")
    print(f"{'generation time (s)':24}{elapsed:>12.1f}{args.time_limit:>12.1f}")
    print(f"{'peak memory (MiB)':24}{peak_mib:>12.0f}{args.memory_limit_mib:>12.0f}")
    print(f"files written: {files}")
    if imported.returncode == 0:
        routed, seconds = imported.stdout.split()
        print(f"generated package imported, {routed} operations routed, in {seconds}s")
    else:
        print(f"generated package failed to import:\n{imported.stderr[-2000:]}", file=sys.stderr)
    if done.returncode != 0 or imported.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        sys.exit(1)
    if elapsed > args.time_limit or peak_mib > args.memory_limit_mib:
        print("over target", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
