"""Command line: ``python -m codegen generate --spec PATH --out DIR [--check]``, ``bundle``,
and ``mock --spec PATH [--host H] [--port P]``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

from codegen.errors import Diagnostic, SpecError
from codegen.generate import generate, load_bundle, stale_files, write


def _generate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    result = generate(Path(args.spec))
    for warning in result.warnings:
        print(warning, file=sys.stderr)
    out = Path(args.out)
    if args.package:
        if not args.package.isidentifier():
            print(f"--package {args.package!r} is not a valid Python package name", file=sys.stderr)
            return 2
        out = out / args.package
    if args.check:
        stale = stale_files(result.files, out)
        if stale:
            print(f"{out} is stale; run the generator. Stale files:", file=sys.stderr)
            for rel in stale:
                print(f"  {out / rel}", file=sys.stderr)
            return 1
        print(f"{out} is up to date ({len(result.files)} files)")
        return 0
    changed = write(result.files, out)
    elapsed = time.perf_counter() - started
    print(f"generated {out}: {len(changed)} of {len(result.files)} files changed in {elapsed:.2f}s")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    repairs: list[Diagnostic] = []
    document = load_bundle(Path(args.spec), repairs).document
    for warning in repairs:
        print(warning, file=sys.stderr)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _mock(args: argparse.Namespace) -> int:
    import uvicorn

    result = generate(Path(args.spec))
    for warning in result.warnings:
        print(warning, file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="codegen-mock-") as tmp:
        write(result.files, Path(tmp) / MOCK_PACKAGE)
        sys.path.insert(0, tmp)
        package = importlib.import_module(MOCK_PACKAGE)
        app = package.build_app(None, mock=True)
        operations = len(package.OPERATIONS)
        title = f"{package.app.TITLE} {package.app.VERSION}".strip()
        print(
            f"mock of {title}: {operations} operation(s) on http://{args.host}:{args.port} "
            f"(spec at /openapi.json, docs at /docs)",
            flush=True,
        )
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


MOCK_PACKAGE = "codegen_mock_api"


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="codegen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="generate a server package from an OpenAPI document")
    gen.add_argument("--spec", required=True, help="root OpenAPI file (YAML or JSON)")
    gen.add_argument(
        "--out", required=True, help="folder of the generated package (with --package: its parent)"
    )
    gen.add_argument(
        "--package", help="write the package to OUT/PACKAGE (it imports itself relatively)"
    )
    gen.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 naming stale files"
    )
    gen.set_defaults(run=_generate)
    bun = commands.add_parser("bundle", help="print (or write) the bundled, validated document")
    bun.add_argument("--spec", required=True)
    bun.add_argument("--out")
    bun.set_defaults(run=_bundle)
    mock = commands.add_parser(
        "mock", help="serve the document's examples (or generated values) with no implementation"
    )
    mock.add_argument("--spec", required=True, help="root OpenAPI file (YAML or JSON)")
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=4010, help="default 4010 (Prism's)")
    mock.add_argument("--log-level", default="info", help="uvicorn's (default info)")
    mock.set_defaults(run=_mock)
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        return 2
    return status
