"""The CI workflow and Dependabot's configuration, held to what the repository has.

actionlint and zizmor (`just lint`) check that both files are valid and safe; these check
that they still cover the repository as it grows: every lock file gets updates, and the
workflow runs the same gates as `.ci/run` on every supported Python.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _load(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text())


def _tracked(name: str) -> set[str]:
    """Folders (as Dependabot writes them: "/", "/clients") holding a tracked file NAME."""
    files = subprocess.run(
        ["git", "ls-files", f"*{name}", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {"/" + str(Path(file).parent).removeprefix(".") for file in files}


def _directories(ecosystem: str) -> set[str]:
    (update,) = [
        u for u in _load(".github/dependabot.yml")["updates"] if u["package-ecosystem"] == ecosystem
    ]
    return set(update.get("directories", [update.get("directory")]))


def test_every_uv_lock_gets_updates() -> None:
    assert _tracked("uv.lock") == {"/", "/tools/audit", "/benchmarks/peers"}
    assert _directories("uv") == _tracked("uv.lock")


def test_every_npm_lock_gets_updates() -> None:
    assert _directories("npm") == _tracked("package-lock.json")


def test_actions_get_updates() -> None:
    assert _directories("github-actions") == {"/"}


def test_the_workflow_runs_ci_run_on_each_supported_python() -> None:
    workflow = _load(".github/workflows/ci.yml")
    (job,) = workflow["jobs"].values()
    assert job["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    assert {"run": "bash .ci/run", "name": ".ci/run"} in job["steps"]
    assert set(job["services"]) == {"postgres", "redis"}
    assert any("nats" in step.get("run", "") and "-js" in step["run"] for step in job["steps"])


def test_the_workflow_holds_no_token_and_writes_nothing() -> None:
    workflow = _load(".github/workflows/ci.yml")
    assert workflow["permissions"] == {}
    for job in workflow["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_ci_run_runs_every_gate() -> None:
    script = (ROOT / ".ci/run").read_text()
    for gate in ("just lint-spec", "just breaking", "just audit", "just fuzz", "just test-cov"):
        assert f"uv run {gate}" in script
