"""`just bench-runtime`: one in-memory GET served by the generated layer and written by hand in
FastAPI, side by side in one run (and included as a router, and bare Starlette as the floor).

Generates benchmarks/runtime/products.yaml with specfirst-codegen into build/bench/runtime,
serves each app (benchmarks/runtime/apps.py) in one uvicorn worker pinned to CPU 0, drives it
with autocannon pinned to CPU 1, alternating apps round by round, and prints server CPU time
per request (the figure that matters on a busy server) with requests/s and latency.
"""

from __future__ import annotations

import argparse
import subprocess

from benchmarks.http_bench import (
    BENCH_DIR,
    ROOT,
    Shape,
    cpu_seconds,
    free_port,
    load,
    pinning,
    serve,
)
from benchmarks.runtime.apps import PATH
from codegen.generate import generate, write

OUT = ROOT / "build" / "bench" / "runtime"
APPS = {
    "generated": ("benchmarks.runtime.apps:generated_app", PATH),
    "starlette-shaped": ("benchmarks.runtime.apps:starlette_shaped_app", PATH),
    "included": ("benchmarks.runtime.apps:included_app", "/api" + PATH),
    "fastapi": ("benchmarks.runtime.apps:fastapi_app", PATH),
    "starlette": ("benchmarks.runtime.apps:starlette_app", PATH),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="per app, before the rounds")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per app")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--apps", default=",".join(APPS), help="comma-separated")
    args = parser.parse_args()
    names = [name for name in args.apps.split(",") if name]
    write(generate(BENCH_DIR / "runtime" / "products.yaml").files, OUT / "bench_runtime_api")
    if not (BENCH_DIR / "node_modules" / "autocannon").is_dir():
        subprocess.run(["npm", "ci", "--silent"], check=True, cwd=BENCH_DIR)  # noqa: S607
    pin = pinning()
    ports = {name: free_port() for name in names}
    servers = {
        name: serve(APPS[name][0], ports[name], pin, ready=APPS[name][1], python_path=[OUT])
        for name in names
    }
    totals = {name: {"ok": 0.0, "cpu": 0.0, "rps": 0.0, "p50": 0.0, "p99": 0.0} for name in names}
    shape = Shape(args.connections)
    try:
        for name in names:
            load(pin, {"path": APPS[name][1]}, ports[name], "path", shape, args.warmup)
        for _ in range(args.rounds):
            for name in names:
                before = cpu_seconds(servers[name].pid)
                result = load(
                    pin, {"path": APPS[name][1]}, ports[name], "path", shape, args.seconds
                )
                totals[name]["cpu"] += cpu_seconds(servers[name].pid) - before
                totals[name]["ok"] += result["ok"]
                totals[name]["rps"] += result["rps"] / args.rounds
                totals[name]["p50"] += (result["p50"] or 0) / args.rounds
                totals[name]["p99"] += (result["p99"] or 0) / args.rounds
                failed = result["non2xx"] + result["errors"] + result["timeouts"]
                if failed:
                    raise SystemExit(f"{name}: {failed:.0f} requests failed")
    finally:
        for process in servers.values():
            process.terminate()
            process.wait()
    cpu_us = {name: totals[name]["cpu"] / max(totals[name]["ok"], 1) * 1e6 for name in names}
    print(
        f"one in-memory GET, {args.connections} connections, {args.rounds} x {args.seconds} s "
        f"per app, alternating; {pin.note}"
    )
    print(f"{'app':<17}{'rps':>8}{'p50 ms':>8}{'p99 ms':>8}{'cpu µs':>8}  vs fastapi (cpu)")
    for name in names:
        ratio = cpu_us[name] / cpu_us["fastapi"] if "fastapi" in cpu_us else float("nan")
        row = totals[name]
        print(
            f"{name:<17}{row['rps']:8.0f}{row['p50']:8.2f}{row['p99']:8.2f}"
            f"{cpu_us[name]:8.0f}  {ratio:5.2f}x"
        )


if __name__ == "__main__":
    main()
