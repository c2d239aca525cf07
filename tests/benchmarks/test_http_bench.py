"""`just bench`, bounded: seeded, both apps served and loaded, every figure of the table filled.

The benchmark's figures are for people to read (`just bench`); this only proves it runs on
a fresh machine and measures what it says, on a small database of its own, in about 30 s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("get_product", "create_order")
# One cell of the table: rps p50 p95 p99 cpu µs db µs load µs (a failure count would follow).
_CELL = re.compile(r"\s*(\d+)" + r"\s+([\d.]+)" * 3 + r"\s+(\d+)" * 3 + r"\s*")


def _database_url() -> str:
    external = os.environ.get("TEST_DATABASE_URL", "")
    missing = None
    if make_url(external or "sqlite://").get_backend_name() != "postgresql":
        missing = "the benchmark needs PostgreSQL: set TEST_DATABASE_URL"
    elif shutil.which("node") is None or shutil.which("npm") is None:
        missing = "the benchmark's load generator needs Node.js (node and npm)"
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)
    return make_url(external).set(database="bench_smoke").render_as_string(hide_password=False)


def test_the_benchmark_measures_both_apps() -> None:
    url = _database_url()
    command = [
        sys.executable,
        "benchmarks/http_bench.py",
        "--database-url",
        url,
        "--products",
        "20",
        "--seconds",
        "1",
        "--warmup",
        "0",
        "--scenarios",
        *SCENARIOS,
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(SCENARIOS)]
    # Two shapes (16 and 64 connections) per scenario.
    assert [row.split()[:2] for row in rows] == [
        [scenario, connections] for scenario in SCENARIOS for connections in ("16", "64")
    ]
    for row in rows:
        cells = row.split("|")
        storefront, baseline = cells[1], cells[2]
        for cell in (storefront, baseline):
            match = _CELL.fullmatch(cell)
            assert match is not None, f"a cell has no figure, or failures: {row}"
            rps, _, _, p99, cpu, database, generator = (float(v) for v in match.groups())
            assert rps > 0
            assert p99 > 0
            assert cpu > 0
            # PostgreSQL runs here, so its CPU per request is measured as well.
            assert database > 0
            assert generator > 0
        ratios = cells[3:]
        assert len(ratios) == 2
        assert all(ratio.strip().endswith("x") for ratio in ratios)
