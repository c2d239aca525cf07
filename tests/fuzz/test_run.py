from __future__ import annotations

import asyncio
import os
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from impl.settings import normalise_database_url
from tests.contract.conftest import ROOT, fresh_server, sign_up
from tests.contract.test_contract import POSITIVE_EXPECTED, REFERENCES_IN_BODY
from tests.fuzz.hooks import fresh_key, map_headers
from tests.fuzz.run import (
    changes_by_operation,
    fuzz_config,
    provision,
    reproductions,
    scratch_database,
    summary_markdown,
)

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


def test_the_fuzz_user_gets_resources_and_schemathesis_aims_at_them(tmp_path: Path) -> None:
    with fresh_server(tmp_path) as base_url:
        user_id, token = sign_up(base_url, "fuzz@example.com", "fuzz-password-1")
        resources = provision(base_url, token, user_id)
    changes = asyncio.run(changes_by_operation(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"))
    # Written through the API: 1 + 3 teams, 8 stocked products, orders in four states.
    assert changes["create_team"] == 4
    assert changes["create_product"] == changes["adjust_stock"] == 8
    assert changes["create_order"] == 4
    assert (changes["pay_order"], changes["fulfill_order"], changes["cancel_order"]) == (2, 1, 1)
    assert changes["add_member"] == 1
    assert len(resources.product_ids) == 8
    assert len(resources.order_ids) == 4
    config_path = fuzz_config(resources, tmp_path / "fuzz")
    config = tomllib.loads(config_path.read_text())
    for name, values in resources.dictionaries().items():
        assert (tmp_path / "fuzz/dictionaries" / f"{name}.dict").read_text().split() == [
            f'"{value}"' for value in values
        ]
    bound = {key: value["dictionary"] for key, value in config["parameters"].items()}
    assert bound == {
        "path.team_id": "team_id",
        "path.product_id": "product_id",
        "path.order_id": "order_id",
        "path.user_id": "user_id",
        "body.lines[*].product_id": "product_id",
    }
    doomed = [op for op in config["operations"] if op["include-operation-id"] == "delete_team"]
    assert doomed[0]["parameters"]["path.team_id"]["dictionary"] == "doomed_team_id"
    # The tuning of schemathesis.toml is kept, and schemathesis itself accepts the file.
    assert config["checks"] == tomllib.loads((ROOT / "schemathesis.toml").read_text())["checks"]
    schemathesis.Config.from_path(config_path)


def test_about_half_the_drawn_idempotency_keys_are_made_fresh_per_request() -> None:
    drawn = [f"key-{n}" for n in range(200)]
    fresh = [key for key in drawn if fresh_key(key)]
    assert 60 < len(fresh) < 140
    for key in drawn:
        headers = {"Idempotency-Key": key, "Authorization": "Bearer t"}
        first, second = map_headers(None, headers), map_headers(None, headers)
        assert first is not None
        assert second is not None
        assert first["Authorization"] == "Bearer t"
        if key in fresh:
            assert first["Idempotency-Key"] != second["Idempotency-Key"]
            uuid.UUID(first["Idempotency-Key"])
        else:
            assert first["Idempotency-Key"] == second["Idempotency-Key"] == key
    assert map_headers(None, {"Authorization": "Bearer t"}) == {"Authorization": "Bearer t"}
