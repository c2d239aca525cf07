"""``just fuzz``: the schemathesis CLI against the real server over HTTP.

Creates a PostgreSQL database of its own (a random name on the server of ``TEST_DATABASE_URL``,
default the local one), migrates and seeds it, serves the app under uvicorn on a loopback port
with response validation on, logs in as the seeded demo account (a platform admin), gives it
resources through the API, and runs ``schemathesis run`` on the bundle of
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
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from codegen.generate import load_bundle
from impl.kit.migrate import server_admin
from impl.seed import DEMO_EMAIL, DEMO_PASSWORD
from impl.settings import normalise_database_url
from tests.contract.conftest import (
    ROOT,
    for_schemathesis,
    log_in,
    migrate,
    running_server,
    server_env,
    sign_up,
)

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


@dataclass(frozen=True)
class Resources:
    """What the fuzz user owns when schemathesis starts: ids it can aim path parameters at."""

    team_ids: list[str]
    doomed_team_ids: list[str]
    product_ids: list[str]
    order_ids: list[str]
    user_ids: list[str]

    def dictionaries(self) -> Mapping[str, list[str]]:
        return {
            "team_id": self.team_ids,
            "doomed_team_id": self.doomed_team_ids,
            "product_id": self.product_ids,
            "order_id": self.order_ids,
            "user_id": self.user_ids,
        }


def me(base_url: str, token: str) -> str:
    """The id of the account a token speaks for."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        response = client.get("/v1/me")
        response.raise_for_status()
        return str(response.json()["id"])


def provision(base_url: str, token: str, user_id: str) -> Resources:
    """A team of the fuzz user with a member, active stocked products and orders in each state.

    Written through the API itself, so every rule, the ledger and the audit trail hold. Without
    it, schemathesis draws random UUIDs for path parameters, and most operations under a team
    only ever answer 404 (its "missing test data" warning).
    """
    member_id, _ = sign_up(base_url, "fuzz-member@example.com", "fuzz-password-1")
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:

        def post(path: str, body: Any, **headers: str) -> Any:
            response = client.post(path, json=body, headers=headers)
            response.raise_for_status()
            return response.json() if response.content else None

        team = post("/v1/teams", {"name": "Fuzz team"})["id"]
        teams = f"/v1/teams/{team}"
        post(f"{teams}/members", {"email": "fuzz-member@example.com", "role": "member"})
        products = []
        for number in range(8):
            product = post(
                f"{teams}/products",
                {
                    "sku": f"FUZZ-{number}",
                    "name": f"Fuzz product {number}",
                    "price": f"{number + 1}.50",
                    "currency": "EUR",
                    "status": "active",
                },
            )["id"]
            post(
                f"{teams}/products/{product}/stock/movements",
                {"delta": 100000, "reason": "receive"},
            )
            products.append(product)
        orders = []
        for action in ("", "pay", "fulfill", "cancel"):
            order = post(
                f"{teams}/orders",
                {
                    "customer_email": "buyer@example.com",
                    "lines": [{"product_id": products[0], "quantity": 1}],
                },
                **{"Idempotency-Key": f"fuzz-setup-{action or 'pending'}"},
            )["id"]
            steps = {"pay": ["pay"], "fulfill": ["pay", "fulfill"], "cancel": ["cancel"]}
            for step in steps.get(action, []):
                post(f"{teams}/orders/{order}/{step}", None)
            orders.append(order)
        doomed = [post("/v1/teams", {"name": f"Fuzz team {n} to delete"})["id"] for n in range(3)]
    return Resources([team], doomed, products, orders, [user_id, member_id])


def fuzz_config(resources: Resources, out: Path) -> Path:
    """``schemathesis.toml`` plus dictionaries of the provisioned ids, bound to path parameters.

    Each path parameter takes a provisioned id with probability 0.8 and a generated value
    otherwise, so both the found and the not-found sides of every operation are exercised;
    order lines name the provisioned products the same way.
    """
    folder = out / "dictionaries"
    folder.mkdir(parents=True, exist_ok=True)
    bind = '"{}" = {{ dictionary = "{}", probability = 0.8 }}'.format
    lines = [
        (ROOT / "schemathesis.toml").read_text().rstrip(),
        "",
        # delete_team aims at teams of its own, or it would soon delete the one the rest use.
        "[[operations]]",
        'include-operation-id = "delete_team"',
        f"parameters = {{ {bind('path.team_id', 'doomed_team_id')} }}",
        "",
        "[dictionaries]",
    ]
    for name, values in resources.dictionaries().items():
        (folder / f"{name}.dict").write_text("".join(f'"{value}"\n' for value in values))
        lines.append(f'{name} = {{ from-file = "{folder / name}.dict" }}')
    lines += ["", "[parameters]"]
    lines += [bind(f"path.{name}", name) for name in ("team_id", "product_id", "order_id")]
    lines += [bind("path.user_id", "user_id"), bind("body.lines[*].product_id", "product_id")]
    config = out / "schemathesis.toml"
    config.write_text("\n".join([*lines, ""]))
    return config


async def changes_by_operation(database_url: str) -> Counter[str]:
    """Requests that changed something, by operationId, from the audit trail."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT action, count(DISTINCT request_id) FROM audit_events"
                    " WHERE request_id IS NOT NULL GROUP BY action"
                )
            )
            return Counter({str(action): int(count) for action, count in rows})
    finally:
        await engine.dispose()


def schemathesis_command(
    *,
    config: Path,
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
        str(config),
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


def summary_markdown(
    report: dict[str, Any],
    junit: str,
    tracebacks: int,
    rerun: str,
    changes: Mapping[str, int] | None = None,
) -> str:
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
    if changes is not None:
        lines += ["", "## Changes made during the run (from the audit trail)", ""]
        lines.append(
            ", ".join(f"`{action}` {count}" for action, count in sorted(changes.items()))
            if changes
            else "None: no request changed anything."
        )
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
    spec.write_text(
        json.dumps(for_schemathesis(load_bundle(ROOT / "openapi/openapi.yaml").document))
    )
    server_url = normalise_database_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL)
    with scratch_database(server_url) as database_url:
        env = server_env(database_url)
        migrate(env)
        subprocess.run([sys.executable, "-m", "impl", "seed"], cwd=ROOT, env=env, check=True)
        with running_server(env, out / "server.log") as base_url:
            # The seeded demo account is a platform admin, so the admin API is fuzzed too.
            token = log_in(base_url, DEMO_EMAIL, DEMO_PASSWORD)
            user_id = me(base_url, token)
            resources = provision(base_url, token, user_id)
            before = asyncio.run(changes_by_operation(database_url))
            command = schemathesis_command(
                config=fuzz_config(resources, out),
                spec=spec,
                base_url=base_url,
                token=token,
                out=out,
                max_examples=args.max_examples,
                max_time=args.max_time,
                seed=args.seed,
            )
            hooks = {"SCHEMATHESIS_HOOKS": "tests.fuzz.hooks"}
            result = subprocess.run(command, cwd=ROOT, env={**env, **hooks}, check=False)
        changes = asyncio.run(changes_by_operation(database_url)) - before
    report = json.loads((out / "run.json").read_text())
    # An unhandled error is a failure even when the client only saw a conforming 500.
    tracebacks = (out / "server.log").read_text().count("Traceback")
    rerun = (
        f"uv run python -m tests.fuzz.run --max-examples {args.max_examples} "
        f"--max-time {args.max_time} --seed {report['seed']}"
    )
    summary = summary_markdown(report, (out / "junit.xml").read_text(), tracebacks, rerun, changes)
    (out / "summary.md").write_text(summary)
    print(f"\n{summary}\nReports: {out / 'junit.xml'}, {out / 'summary.md'}")
    return 1 if result.returncode or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
