"""The README's "Try it" walk-through, run as written against a live server.

Every ``sh`` block of that section is joined into one script, in order, with only ``API``
pointed at the test server, and run by bash with ``curl`` and ``jq``: the examples a reader
copies must work, and print what the README says they show.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.contract.conftest import ROOT, fresh_server

API_LINE = "API=http://127.0.0.1:8000"


def try_it_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) >= 4
    script = "\n".join(blocks)
    assert script.count(API_LINE) == 1
    return script


def test_the_walk_through_runs_as_written(tmp_path: Path) -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the README walk-through needs {', '.join(missing)}")
        pytest.skip(f"needs {', '.join(missing)}")
    with fresh_server(tmp_path) as base_url:
        script = try_it_script().replace(API_LINE, f"API={base_url}")
        run = subprocess.run(
            ["bash", "-e", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    lines = out.splitlines()
    user = json.loads(lines[0])
    assert user["email"] == "ada@example.com"
    expected = [
        '{"sku":"TENT-1","price":"119.00","version":2}',
        '{"status":412,"title":"Precondition Failed"}',
        '["TENT-1"]',
        '{"delta":10,"on_hand_after":10}',
        '{"status":"paid","total":"238.00"}',
        '{"status":"fulfilled"}',
        '{"status":409,"current_status":"fulfilled"}',
        '{"status":"refunded"}',
        '{"on_hand":8}',
        '{"role":"viewer"}',
        '{"status":403,"title":"Forbidden"}',
        '{"status":400,"title":"Bad Request"}',
        "204",
    ]
    for line in expected:
        assert line in lines, f"{line!r} not printed:\n{out}"
    assert "idempotent-replayed: true" in out.lower()
    audit = [json.loads(line) for line in lines if line.startswith('{"action":')]
    assert [event["action"] for event in audit] == ["update_product", "create_product"]
    assert audit[1]["changes"]["tags"] == {"after": ["outdoor"]}
    assert lines.index(expected[-1]) == len(lines) - 1
