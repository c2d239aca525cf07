"""``just fuzz``: the schemathesis CLI against the real server over HTTP.

Creates a PostgreSQL database of its own (a random name on the server of ``TEST_DATABASE_URL``,
default the local one), migrates and seeds it, serves the app under uvicorn on a loopback port
with response validation on, signs a user up, and runs ``schemathesis run`` on the bundle of
``openapi/`` with every check and every phase (examples, coverage, fuzzing, stateful), tuned
by ``schemathesis.toml``. Writes ``build/fuzz/junit.xml``, ``build/fuzz/summary.md`` and the
server log, drops the database, and exits 1 on any failure, including a traceback in the log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from sqlalchemy import make_url

from codegen.generate import load_bundle
from impl.kit.migrate import server_admin
from impl.settings import normalise_database_url
from tests.contract.conftest import ROOT, migrate, running_server, server_env, sign_up

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url``, dropped afterwards."""
    name = f"storefront_fuzz_{uuid.uuid4().hex[:12]}"
    asyncio.run(server_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(server_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def schemathesis_command(
    *,
    spec: Path,
    base_url: str,
    token: str,
    out: Path,
    max_examples: int,
    max_time: int,
    seed: int | None,
) -> list[str]:
    return [
        "schemathesis",
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        str(spec),
        "--url",
        base_url,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(max_examples),
        "--max-time",
        str(max_time),
        "--header",
        f"Authorization: Bearer {token}",
        "--report",
        "junit,json",
        "--report-junit-path",
        str(out / "junit.xml"),
        "--report-json-path",
        str(out / "run.json"),
        *(["--seed", str(seed)] if seed is not None else []),
    ]


def reproductions(junit: str) -> dict[str, list[str]]:
    """The ``curl`` commands schemathesis prints for each failing operation, from its JUnit XML."""
    found: dict[str, list[str]] = {}
    # Our own schemathesis run wrote this file a moment ago: it is not untrusted input.
    for testcase in ElementTree.fromstring(junit).iter("testcase"):  # noqa: S314
        for failure in testcase.iter("failure"):
            found.setdefault(testcase.get("name", "?"), []).extend(
                line.strip()
                for line in (failure.text or "").splitlines()
                if line.strip().startswith("curl ")
            )
    return {operation: commands for operation, commands in found.items() if commands}


def summary_markdown(report: dict[str, Any], junit: str, tracebacks: int, rerun: str) -> str:
    """build/fuzz/summary.md: operations, cases, failures by check, and how to reproduce them."""
    operations, cases = report["operations"], report["test_cases"]
    failures: list[dict[str, Any]] = report["failures"]
    errors: list[dict[str, Any]] = report["errors"]
    failed = sum(failure["count"] for failure in failures) + tracebacks
    lines = [
        f"# Fuzz run: {'passed' if not failed and not errors else 'FAILED'}",
        "",
        f"schemathesis {report['schemathesis_version']}, {report['running_time']:.0f} s, "
        f"seed {report['seed']}, stop reason: {report['stop_reason']}.",
        "",
        "| | |",
        "|---|---|",
        f"| operations | {operations['tested']} tested of {operations['selected']} selected "
        f"({operations['errored']} errored, {operations['skipped']} skipped) |",
        f"| test cases | {cases['generated']} generated, {cases['with_failures']} with failures, "
        f"{cases['unique_failures']} unique failures |",
        "| phases | "
        + ", ".join(f"{name} {phase['status']}" for name, phase in report["phases"].items())
        + " |",
        f"| server log | {tracebacks} traceback(s) |",
        "",
        "## Failures by check",
        "",
    ]
    if failures:
        lines += ["| code | check | count | operations |", "|---|---|--:|---|"]
        lines += [
            f"| {failure['code']} | {failure['title']} | {failure['count']} | "
            + "<br>".join(f"`{operation}`" for operation in failure["operations"])
            + " |"
            for failure in failures
        ]
    else:
        lines.append("None.")
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {error['title']} ({error['count']})" for error in errors]
    warnings = {kind: labels for kind, labels in report["warnings"].items() if labels}
    if warnings:
        lines += ["", "## Coverage warnings (informational)", ""]
        lines += [
            f"- {kind.replace('_', ' ')}: " + ", ".join(f"`{label}`" for label in labels)
            for kind, labels in warnings.items()
        ]
    commands = reproductions(junit)
    if commands or tracebacks:
        lines += ["", "## Reproduce", ""]
        lines += [
            "Against a server started with `uv run just serve` (the port and ids differ: "
            "substitute yours, and a bearer token for `[Filtered]`):",
            "",
        ]
        for operation, operation_commands in commands.items():
            lines += [f"`{operation}`:", "", "```sh", *operation_commands, "```", ""]
        if tracebacks:
            lines += ["Tracebacks: see `build/fuzz/server.log`.", ""]
        lines.append(f"The same generated cases (same seed): `{rerun}`")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--max-time", type=int, default=300, help="seconds")
    parser.add_argument("--seed", type=int, help="replay the generation of an earlier run")
    parser.add_argument("--out", type=Path, default=ROOT / "build/fuzz")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "openapi.json"
    spec.write_text(json.dumps(load_bundle(ROOT / "openapi/openapi.yaml").document))
    server_url = normalise_database_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL)
    with scratch_database(server_url) as database_url:
        env = server_env(database_url)
        migrate(env)
        subprocess.run([sys.executable, "-m", "impl", "seed"], cwd=ROOT, env=env, check=True)
        with running_server(env, out / "server.log") as base_url:
            _, token = sign_up(base_url, "fuzz@example.com", "fuzz-password-1")
            command = schemathesis_command(
                spec=spec,
                base_url=base_url,
                token=token,
                out=out,
                max_examples=args.max_examples,
                max_time=args.max_time,
                seed=args.seed,
            )
            result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    report = json.loads((out / "run.json").read_text())
    # An unhandled error is a failure even when the client only saw a conforming 500.
    tracebacks = (out / "server.log").read_text().count("Traceback")
    rerun = (
        f"uv run python -m tests.fuzz.run --max-examples {args.max_examples} "
        f"--max-time {args.max_time} --seed {report['seed']}"
    )
    summary = summary_markdown(report, (out / "junit.xml").read_text(), tracebacks, rerun)
    (out / "summary.md").write_text(summary)
    print(f"\n{summary}\nReports: {out / 'junit.xml'}, {out / 'summary.md'}")
    return 1 if result.returncode or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
