"""docs/architecture.md, "Adding an endpoint", followed step by step on a scratch copy.

The git-tracked files are copied to a temporary folder, and there a small operation,
``GET /v1/teams/{team_id}/summary``, is added as the section says: the YAML, `just lint-spec`,
`just gen`, mypy and start-up naming the missing handler method, the method in the teams
domain (thin handler, service, repository), then the running server checked against the
spec by schemathesis. The recipes run through `just` with this interpreter's environment
(`uv run` neither syncs nor downloads anything); the repository itself is never written to.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.contract.conftest import migrate, running_server, server_env, sign_up
from tests.test_docs import tracked_files
from tests.test_justfile import JUSTFILE, doc_comments, just_executable

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs/architecture.md"
OPERATION = "get_team_summary"
PATH = "/v1/teams/{team_id}/summary"

_PATH_ITEM = """
summary:
  parameters:
    - $ref: "../components/parameters.yaml#/TeamId"

  get:
    operationId: get_team_summary
    tags:
      - teams
    summary: Get a team's summary
    description: Figures about a team the caller is a member of. Any role may read them.
    security:
      - OAuth2Password: []
    x-team-roles: [owner, admin, member, viewer]
    responses:
      "200":
        description: The team's summary.
        headers:
          RateLimit-Policy:
            $ref: "../components/headers.yaml#/RateLimitPolicy"
          RateLimit:
            $ref: "../components/headers.yaml#/RateLimit"
        content:
          application/json:
            schema:
              $ref: "../components/schemas/team_summary.yaml"
            examples:
              three:
                value:
                  member_count: 3
      "401":
        $ref: "../components/responses.yaml#/Unauthorized"
      "404":
        $ref: "../components/responses.yaml#/NotFound"
      "422":
        $ref: "../components/responses.yaml#/UnprocessableContent"
      "429":
        $ref: "../components/responses.yaml#/TooManyRequests"
      "503":
        $ref: "../components/responses.yaml#/ServiceUnavailable"
"""

_SCHEMA = """title: TeamSummary
description: Figures about one team.
type: object
required:
  - member_count
properties:
  member_count:
    type: integer
    minimum: 1
    description: How many members the team has (at least one owner).
    examples:
      - 3
"""

_HANDLER = """
async def get_team_summary(self, ctx: RequestContext, *, team_id: UUID) -> r.GetTeamSummary200:
    members = await self._teams.count_members(ctx.session, ctx.team_access())
    return r.GetTeamSummary200(body=models.TeamSummary(member_count=members))
"""

_SERVICE = """
async def count_members(self, session: AsyncSession, access: TeamAccess) -> int:
    await self._load(session, access)  # 404 if the team was deleted since the check
    return await TeamRepository(session).count_members(access.team_id)
"""

_REPOSITORY = """
async def count_members(self, team_id: uuid.UUID) -> int:
    statement = select(func.count()).select_from(Membership)
    return await self.session.scalar(statement.where(Membership.team_id == team_id)) or 0
"""


def _section() -> str:
    text = ARCHITECTURE.read_text()
    start = text.index("## Adding an endpoint\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_section_is_short_and_names_what_exists() -> None:
    section = _section()
    steps = re.findall(r"^\d+\. ", section, flags=re.MULTILINE)
    assert 5 <= len(steps) <= 10
    recipes = set(doc_comments(JUSTFILE.read_text()))
    named = set(re.findall(r"`uv run just ([a-z-]+)", section))
    assert {"lint-spec", "gen", "lint", "test"} <= named <= recipes
    paths = {
        p.rstrip("/") for p in re.findall(r"`((?:openapi|src|tests|migrations)/[^`\s]*)`", section)
    }
    assert len(paths) > 10
    missing = [p for p in paths if not list(ROOT.glob(re.sub(r"<[a-z]+>", "*", p)))]
    assert not missing, f"docs/architecture.md names paths that are not here: {missing}"


def _scratch_copy(destination: Path) -> Path:
    for source in tracked_files():
        (destination / source.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination / source.relative_to(ROOT))
    return destination


def _add_method(path: Path, class_name: str, source: str) -> None:
    """``source`` as the last method of ``class_name`` in ``path``."""
    lines = path.read_text().splitlines(keepends=True)
    found = [
        node
        for node in ast.parse("".join(lines)).body
        if isinstance(node, ast.ClassDef) and node.name == class_name
    ]
    assert found, f"no class {class_name} in {path}"
    end = found[0].end_lineno
    assert end is not None
    lines.insert(end, textwrap.indent(source, "    ", lambda line: bool(line.strip())))
    path.write_text("".join(lines))


def _insert_after(path: Path, anchor: str, text: str) -> None:
    content = path.read_text()
    assert content.count(anchor) == 1, f"{anchor!r} is not once in {path}"
    path.write_text(content.replace(anchor, anchor + text))


class Scratch:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            **server_env(f"sqlite+aiosqlite:///{root / 'var/app.db'}"),
            "PYTHONPATH": f"{root / 'src'}:{root}",
            "KEYS_DIR": str(root / "var/keys"),
            # `uv run` in the recipes: this environment as it is, no sync, no download.
            "UV_PROJECT_ENVIRONMENT": sys.prefix,
            "VIRTUAL_ENV": sys.prefix,
            "UV_NO_SYNC": "1",
            "UV_OFFLINE": "1",
        }
        # Under `just test-cov` the copy's modules would count as more files of the project.
        for name in ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START"):
            self.env.pop(name, None)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def just(self, recipe: str) -> subprocess.CompletedProcess[str]:
        done = self.run(just_executable(), recipe)
        assert done.returncode == 0, f"just {recipe}:\n{done.stdout}\n{done.stderr}"
        return done

    def mypy(self) -> subprocess.CompletedProcess[str]:
        # The composition root and everything it imports: the handlers against the Protocols.
        return self.run(sys.executable, "-m", "mypy", "src/impl/app.py", timeout=300)


def _contract_check(base_url: str, bundle: dict[str, Any], token: str, team_id: str) -> None:
    """schemathesis, every check, positive and negative cases, on the new operation only."""
    schema = schemathesis.openapi.from_dict(
        bundle, config=schemathesis.Config.from_dict({"checks": {"enabled": True}})
    )
    operation = schema[PATH]["GET"]
    statuses: dict[GenerationMode, set[int]] = {}

    def run(mode: GenerationMode, path_parameters: dict[str, str] | None) -> None:
        seen = statuses.setdefault(mode, set())

        @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            headers = dict(case.headers or {})
            headers.setdefault("Authorization", f"Bearer {token}")
            seen.add(case.call_and_validate(base_url=base_url, headers=headers).status_code)

        check()

    run(GenerationMode.POSITIVE, {"team_id": team_id})
    run(GenerationMode.NEGATIVE, None)
    # The checks passed on every case; the cases reached the handler, and invalid ones did not.
    assert 200 in statuses[GenerationMode.POSITIVE]
    assert 422 in statuses[GenerationMode.NEGATIVE]
    assert 200 not in statuses[GenerationMode.NEGATIVE]


def test_adding_an_endpoint_as_the_section_says(tmp_path: Path) -> None:
    scratch = Scratch(_scratch_copy(tmp_path / "repo"))
    root = scratch.root

    # 1. The operation, in its tag's paths file; its path and its schema registered.
    (root / "openapi/components/schemas/team_summary.yaml").write_text(_SCHEMA)
    with (root / "openapi/paths/teams.yaml").open("a") as paths:
        paths.write(_PATH_ITEM)
    spec = root / "openapi/openapi.yaml"
    _insert_after(spec, "\npaths:\n", f'  {PATH}:\n    $ref: "./paths/teams.yaml#/summary"\n')
    _insert_after(
        spec,
        "\n  schemas:\n",
        '    TeamSummary:\n      $ref: "./components/schemas/team_summary.yaml"\n',
    )

    # 2, 3. The spec lints clean; the generated Protocol gains the method.
    assert "0 error(s), 0 warning(s)" in scratch.just("lint-spec").stderr
    scratch.just("gen")
    assert f"async def {OPERATION}(" in (root / "src/generated/interfaces/teams.py").read_text()

    # 4. mypy names the handler class and the method it lacks; so does start-up.
    typed = scratch.mypy()
    assert typed.returncode == 1
    assert '"TeamsHandlers" is missing following "TeamsApi" protocol member' in typed.stdout
    assert f"    {OPERATION}\n" in typed.stdout
    started = scratch.run(sys.executable, "-m", "impl", "serve")
    assert started.returncode != 0
    assert f"have no implementation: {OPERATION}" in started.stderr
    assert "Traceback" not in started.stderr  # one line that says why, not a stack

    # 5, 6. A thin handler, the rule in the service, the query in the repository.
    teams = root / "src/impl/teams"
    _add_method(teams / "handlers.py", "TeamsHandlers", _HANDLER)
    _add_method(teams / "service.py", "TeamService", _SERVICE)
    _add_method(teams / "repository.py", "TeamRepository", _REPOSITORY)
    typed = scratch.mypy()
    assert typed.returncode == 0, typed.stdout
    touched = [str(teams / name) for name in ("handlers.py", "service.py", "repository.py")]
    linted = scratch.run(sys.executable, "-m", "ruff", "check", *touched)
    assert linted.returncode == 0, linted.stdout
    formatted = scratch.run(sys.executable, "-m", "ruff", "format", "--check", *touched)
    assert formatted.returncode == 0, formatted.stdout

    # 8. The running server: the operation answers, and keeps its contract.
    migrate(scratch.env, root=root)
    bundle = json.loads((root / "build/openapi.json").read_text())
    log = tmp_path / "server.log"
    with running_server(scratch.env, log, root=root) as base_url:
        _, token = sign_up(base_url, "ada@example.com", "a-long-password")
        sign_up(base_url, "grace@example.com", "another-long-password")
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base_url, headers=auth) as client:
            team = client.post("/v1/teams", json={"name": "Acme"}).json()["id"]
            summary = f"/v1/teams/{team}/summary"
            assert client.get(summary).json() == {"member_count": 1}
            added = client.post(
                f"/v1/teams/{team}/members", json={"email": "grace@example.com", "role": "viewer"}
            )
            assert added.status_code == 201, added.text
            assert client.get(summary).json() == {"member_count": 2}
            other = client.post("/v1/teams", json={"name": "Other"}).json()["id"]
            client.delete(f"/v1/teams/{other}").raise_for_status()
            assert client.get(f"/v1/teams/{other}/summary").status_code == 404
        _contract_check(base_url, bundle, token, team)
    assert "Traceback" not in log.read_text(), log.read_text()
