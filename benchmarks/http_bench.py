"""`just bench`: Storefront against a typical FastAPI + SQLAlchemy ORM app, side by side.

Seeds the benchmark database (`bench_setup.py`), serves both apps (one uvicorn worker each,
pinned to CPU 0 when the machine has two), and drives each scenario from autocannon in its
own Node process (`load.mjs`, pinned to CPU 1): a warm-up, then the measured run, alternating
between the apps so both see the same background load. Prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
DATA = ROOT / "build" / "bench" / "data.json"
SCENARIOS = ("get_product", "list_products", "create_order")
WRITES = frozenset({"create_order"})
CONNECTIONS = (16, 64)


@dataclass(frozen=True, slots=True)
class Shape:
    """A run's load: `connections` each sending a request as soon as the last one is
    answered or, with `rate`, `rate` requests per second in all, evenly spaced."""

    connections: int
    rate: int | None = None

    @property
    def label(self) -> str:
        return f"{self.connections}" if self.rate is None else f"{self.connections}@{self.rate}/s"


APPS = {
    "storefront": "impl.app:create_app",
    "baseline": "benchmarks.baseline_app:create_app",
}


@dataclass(frozen=True, slots=True)
class Pinning:
    server: list[str]
    load: list[str]
    note: str


def pinning() -> Pinning:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and shutil.which("taskset"):
        server, load = cpus[0], cpus[1]
        return Pinning(
            ["taskset", "-c", str(server)],
            ["taskset", "-c", str(load)],
            f"server pinned to CPU {server}, load generator to CPU {load} (taskset)",
        )
    return Pinning([], [], "not pinned (needs taskset and two CPUs)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(
    factory: str,
    port: int,
    pin: Pinning,
    *,
    ready: str = "/healthz",
    python_path: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """The ASGI app ``factory`` makes, under one uvicorn worker pinned as ``pin`` says, on
    loopback ``port``; returned once ``ready`` answers 2xx. ``python_path`` goes ahead of the
    repository on the server's import path, ``env`` on top of this process's environment."""
    environment = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join([*map(str, python_path), str(ROOT)]),
    }
    command = [
        *pin.server,
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--no-server-header",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=environment, cwd=ROOT)  # noqa: S603
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:  # urlopen raises (an OSError) for a 4xx or 5xx too
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=1):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"{factory} exited with status {process.returncode}") from None
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"{factory} did not answer {ready} on port {port} within 30 s")


def serve_storefront(
    factory: str, port: int, database_url: str, pin: Pinning, src: Path | None = None
) -> subprocess.Popen[bytes]:
    """Storefront (or the baseline app) on ``database_url``; ``src`` serves it from another
    source tree (an older commit), ahead of ours."""
    # One token at thousands of requests a second: counted, as in production, never refused.
    env = {"DATABASE_URL": database_url, "RATE_LIMIT_SCALE": "1000000"}
    return serve(factory, port, pin, python_path=[src] if src else [], env=env)


def export_source(ref: str) -> Path:
    """`src/` as of git `ref`, extracted under build/bench/."""
    target = ROOT / "build" / "bench" / f"src-{ref.replace('/', '_')}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", "--format=tar", ref, "src"],  # noqa: S607
        check=True,
        capture_output=True,
        cwd=ROOT,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)  # noqa: S603, S607
    return target / "src"


def maintain(database_url: str, command: str) -> None:
    """Run PostgreSQL's `CHECKPOINT` or `ANALYZE` around a writing run (see `main`)."""

    async def run() -> None:
        connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            await connection.execute(command)
        finally:
            await connection.close()

    asyncio.run(run())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds() -> float:
    """User + system CPU time so far of this machine's PostgreSQL processes (its backends,
    WAL writer, checkpointer: all named `postgres`); 0 if the database runs elsewhere. A
    backend that exits between two readings takes its time with it: the apps' pools keep
    theirs open for the whole benchmark."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except OSError:  # it exited while we looked
            continue
    return total


def load(
    pin: Pinning,
    data: dict[str, object],
    port: int,
    scenario: str,
    load_shape: Shape,
    seconds: int,
) -> dict[str, float]:
    job = {
        **data,
        "url": f"http://127.0.0.1:{port}",
        "scenario": scenario,
        "connections": load_shape.connections,
        "rate": load_shape.rate,
        "duration": seconds,
    }
    # The load generator's own CPU time: what it takes from the machine the servers share.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(  # noqa: S603
        [*pin.load, "node", str(BENCH_DIR / "load.mjs"), json.dumps(job)],
        check=True,
        capture_output=True,
        text=True,
        cwd=BENCH_DIR,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    result["load_us"] = used / max(result["ok"], 1) * 1e6
    return result


def cell(result: dict[str, float]) -> str:
    failed = int(result["non2xx"] + result["errors"] + result["timeouts"])
    text = (
        f"{result['rps']:7.0f} {result['p50'] or 0:6.1f} {result['p95'] or 0:6.1f}"
        f" {result['p99'] or 0:6.1f} {result['cpu_us']:7.0f} {result['db_us']:6.0f}"
        f" {result['load_us']:7.0f}"
    )
    return text + (f" ({failed} failed)" if failed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
    )
    parser.add_argument("--seconds", type=int, default=8, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per run")
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--apps", nargs="+", choices=list(APPS), default=list(APPS))
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also serve Storefront as of this git ref (same database), as a third column",
    )
    parser.add_argument(
        "--rate",
        type=int,
        metavar="N",
        help="also run each scenario with N requests/s in all, evenly spaced, over 64 "
        "connections: latency at a load the server keeps up with, not set by Little's law",
    )
    args = parser.parse_args()
    shapes = [Shape(connections) for connections in CONNECTIONS]
    if args.rate:
        shapes.append(Shape(CONNECTIONS[-1], args.rate))

    if not (BENCH_DIR / "node_modules" / "autocannon").is_dir():
        subprocess.run(["npm", "ci", "--silent"], check=True, cwd=BENCH_DIR)  # noqa: S607
    # One pair of keys for the setup's token and every server, of this commit or an older one
    # (`--before`: older commits had keys of their own in the source).
    for name in ("JWT_SECRET", "CURSOR_SECRET"):
        os.environ.setdefault(name, secrets.token_urlsafe(48))
    started = time.monotonic()
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            str(BENCH_DIR / "bench_setup.py"),
            "--database-url",
            args.database_url,
            "--products",
            str(args.products),
            "--out",
            str(DATA),
        ],
        check=True,
    )
    data = json.loads(DATA.read_text())
    pin = pinning()
    sources: dict[str, Path | None] = dict.fromkeys(args.apps)
    if args.before:
        sources[f"@{args.before}"] = export_source(args.before)
    apps = list(sources)
    ports = {name: free_port() for name in apps}
    servers = {
        name: serve_storefront(
            APPS.get(name, APPS["storefront"]), ports[name], args.database_url, pin, src
        )
        for name, src in sources.items()
    }
    results: dict[tuple[str, Shape, str], dict[str, float]] = {}
    try:
        for scenario in args.scenarios:
            for shape in shapes:
                for name in apps:
                    # Around a run that writes, what a live PostgreSQL would have done by
                    # itself, so no run pays for another's writes (both matter here):
                    # - CHECKPOINT first: one is due every few minutes, and after a gigabyte
                    #   of WAL (this benchmark writes that much); whichever run it fell in
                    #   paid for it, then for a burst of full-page images, which the warm-up
                    #   now absorbs.
                    # - ANALYZE after the warm-up, as autovacuum would (it is off on this
                    #   machine's PostgreSQL). A foreign key check is planned once per
                    #   connection; planned on the freshly seeded, empty orders table it scans
                    #   the table, ever longer as orders are placed: create order fell from
                    #   796 to 485 requests/s over six runs. ANALYZE makes it planned again.
                    if scenario in WRITES:
                        maintain(args.database_url, "CHECKPOINT")
                    if args.warmup:
                        load(pin, data, ports[name], scenario, shape, args.warmup)
                    if scenario in WRITES:
                        maintain(args.database_url, "ANALYZE")
                    cpu_before = cpu_seconds(servers[name].pid)
                    database_before = database_cpu_seconds()
                    result = load(pin, data, ports[name], scenario, shape, args.seconds)
                    cpu = cpu_seconds(servers[name].pid) - cpu_before
                    database = database_cpu_seconds() - database_before
                    result["cpu_us"] = cpu / max(result["ok"], 1) * 1e6
                    result["db_us"] = database / max(result["ok"], 1) * 1e6
                    results[scenario, shape, name] = result
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=10)

    print()
    print(
        f"Storefront vs baseline (FastAPI + SQLAlchemy ORM): one uvicorn worker each, PostgreSQL, "
        f"{args.products} products; {pin.note}; {args.warmup} s warm-up + {args.seconds} s per "
        f"run; latency in ms over 2xx responses; cpu µs: server CPU time per 2xx response; "
        f"db µs: PostgreSQL's CPU time (all its processes on this machine) per 2xx response; "
        f"load µs: the load generator's CPU time per 2xx response; "
        f"ratios: storefront over baseline (rps), baseline over storefront (cpu)"
    )
    compare = "storefront" in apps and "baseline" in apps
    header = f"{'scenario':<14} {'conn':>9} | "
    header += " | ".join(
        f"{name:<9}{'rps':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'cpu µs':>7} {'db µs':>6}"
        f" {'load µs':>7}"
        for name in apps
    )
    if compare:
        header += " | rps ratio | cpu ratio"
    print(header)
    print("-" * len(header))
    for scenario in args.scenarios:
        for shape in shapes:
            row = f"{scenario:<14} {shape.label:>9} | "
            row += " | ".join(f"{'':<8}{cell(results[scenario, shape, name])}" for name in apps)
            if compare:
                ours, base = (
                    results[scenario, shape, name]["rps"] for name in ("storefront", "baseline")
                )
                row += f" | {ours / base:8.2f}x" if base else " |        -"
                ours_cpu, base_cpu = (
                    results[scenario, shape, name]["cpu_us"] for name in ("storefront", "baseline")
                )
                row += f" | {base_cpu / ours_cpu:8.2f}x"
            print(row)
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
