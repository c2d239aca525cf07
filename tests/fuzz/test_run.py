from __future__ import annotations

import asyncio
import os
import tomllib
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from impl.settings import normalise_database_url
from tests.contract.conftest import ROOT
from tests.contract.test_contract import POSITIVE_EXPECTED, REFERENCES_IN_BODY
from tests.fuzz.run import reproductions, scratch_database, summary_markdown

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites errors="0" failures="1" skipped="0" tests="2" time="0.2">
  <testsuite name="schemathesis" errors="0" failures="1" skipped="0" tests="2" time="0.2">
    <testcase name="GET /healthz" time="0.2">
      <failure type="failure" message="ST108">1. Test Case ID: urzi95

- ST108 Response violates schema

    "ok" is not one of "nope"

Reproduce with:

    curl -X GET http://127.0.0.1:35099/healthz</failure>
    </testcase>
    <testcase name="GET /readyz" time="0.1" />
  </testsuite>
</testsuites>
"""


def _report(failures: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemathesis_version": "4.32.5",
        "seed": 1234,
        "running_time": 61.2,
        "stop_reason": "max_time",
        "operations": {"total": 37, "selected": 37, "tested": 37, "errored": 0, "skipped": 0},
        "phases": {"examples": {"status": "success"}, "stateful": {"status": "failure"}},
        "test_cases": {"generated": 1808, "with_failures": 1, "unique_failures": 1},
        "failures": failures,
        "errors": [],
        "warnings": {"missing_auth": ["GET /v1/admin/users"], "rate_limited": []},
    }


HEALTHZ_FAILURE = {
    "code": "ST108",
    "title": "Response violates schema",
    "count": 1,
    "operations": ["GET /healthz"],
}


def test_the_cli_is_tuned_like_the_contract_tests() -> None:
    config = tomllib.loads((ROOT / "schemathesis.toml").read_text())
    tuned = config["checks"]["positive_data_acceptance"]["expected-statuses"]
    assert tuned == POSITIVE_EXPECTED
    per_operation = {
        entry["include-operation-id"]: entry["checks"]["positive_data_acceptance"][
            "expected-statuses"
        ]
        for entry in config["operations"]
    }
    assert per_operation == {key: [*POSITIVE_EXPECTED, "422"] for key in REFERENCES_IN_BODY}


def test_reproductions_are_the_curl_commands_of_failing_operations() -> None:
    assert reproductions(JUNIT) == {"GET /healthz": ["curl -X GET http://127.0.0.1:35099/healthz"]}


def test_summary_counts_failures_by_check_and_says_how_to_reproduce() -> None:
    summary = summary_markdown(_report([HEALTHZ_FAILURE]), JUNIT, 0, "uv run … --seed 1234")
    assert summary.startswith("# Fuzz run: FAILED\n")
    assert "| operations | 37 tested of 37 selected (0 errored, 0 skipped) |" in summary
    assert "| test cases | 1808 generated, 1 with failures, 1 unique failures |" in summary
    assert "| ST108 | Response violates schema | 1 | `GET /healthz` |" in summary
    assert "curl -X GET http://127.0.0.1:35099/healthz" in summary
    assert "`uv run … --seed 1234`" in summary
    assert "- missing auth: `GET /v1/admin/users`" in summary
    assert "rate limited" not in summary


def test_a_traceback_in_the_server_log_fails_the_run() -> None:
    passing = _report([])
    assert summary_markdown(passing, JUNIT, 0, "rerun").startswith("# Fuzz run: passed\n")
    failing = summary_markdown(passing, JUNIT, 2, "rerun")
    assert failing.startswith("# Fuzz run: FAILED\n")
    assert "| server log | 2 traceback(s) |" in failing


async def _databases(server_url: str) -> set[str]:
    engine = create_async_engine(server_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT datname FROM pg_database"))
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


def test_scratch_database_is_created_and_dropped() -> None:
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    server_url = normalise_database_url(os.environ["TEST_DATABASE_URL"])
    before = asyncio.run(_databases(server_url))
    with scratch_database(server_url) as url:
        name = make_url(url).database
        assert name not in before
        assert name in asyncio.run(_databases(server_url))
        scratch, server = make_url(url), make_url(server_url)
        assert (scratch.host, scratch.port) == (server.host, server.port)
    assert name not in asyncio.run(_databases(server_url))
