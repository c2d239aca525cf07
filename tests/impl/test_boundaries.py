"""Layering rules of docs/architecture.md, "The implementation": cheap to check, dear to lose."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

IMPL = Path(__file__).resolve().parents[2] / "src" / "impl"
WEB_FRAMEWORKS = ("fastapi", "starlette")
# Everything below the handler layer.
DOMAIN_FILES = sorted(
    path
    for path in IMPL.rglob("*.py")
    if path.parts[len(IMPL.parts)] in {"kit", "models", "jobs", "settings.py", "seed.py"}
    or path.name in {"service.py", "repository.py", "errors.py"}
    or path.relative_to(IMPL).as_posix()
    in {"auth/passwords.py", "auth/tokens.py", "auth/principal.py"}
)


def _imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_domain_files_found() -> None:
    assert len(DOMAIN_FILES) > 10


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda path: str(path.relative_to(IMPL)))
def test_no_web_framework_below_handlers(path: Path) -> None:
    offenders = {m for m in _imports(path) if m.split(".")[0] in WEB_FRAMEWORKS}
    assert not offenders


@pytest.mark.parametrize(
    "path",
    [path for path in IMPL.rglob("*.py") if path.name != "repository.py"],
    ids=lambda path: str(path.relative_to(IMPL)),
)
def test_only_repositories_build_queries(path: Path) -> None:
    builders = {"sqlalchemy.select", "sqlalchemy.update", "sqlalchemy.delete", "sqlalchemy.insert"}
    assert not _imports(path) & builders
