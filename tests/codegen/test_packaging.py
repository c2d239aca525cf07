"""The generator and the runtime as a FastAPI team gets them: two wheels built with `uv build`,
installed in a fresh environment with only their declared dependencies, generating a package
that imports the runtime (never a copy), checks its version, and type-checks strictly there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import codegen
import specfirst
from specfirst._version import IncompatibleRuntimeError

ROOT = Path(__file__).resolve().parents[2]
PETS = ROOT / "tests/codegen/data/pets.yaml"


def _uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    uv = shutil.which("uv")
    assert uv is not None, "uv runs this suite"
    # Not the project's environment: each install below is a fresh one of its own.
    unset = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [uv, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    for package in ("specfirst-runtime", "specfirst-codegen"):
        _uv("build", "--package", package, "--wheel", "--out-dir", str(out), "--quiet")
    return out


def _venv(folder: Path, wheels: Path, *requirements: str) -> Path:
    _uv("venv", "--quiet", "--python", sys.executable, str(folder))
    python = folder / "bin" / "python"
    _uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        "--find-links",
        str(wheels),
        *requirements,
    )
    return python


@pytest.fixture(scope="module")
def installed(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FastAPI team's environment: the generator (which brings the runtime) and nothing else."""
    folder = tmp_path_factory.mktemp("team")
    return _venv(folder / "venv", wheels, "specfirst-codegen[mock]")


def _generate(installed: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """The installed generator's command line, as a team runs it, on the pets document."""
    command = installed.parent / "specfirst-codegen"
    arguments = ["generate", "--spec", str(PETS), "--out", str(out), "--package", "pets"]
    return subprocess.run(
        [str(command), *arguments], check=True, capture_output=True, text=True, cwd=out
    )


def test_the_wheels_are_versioned_and_hold_their_own_package(wheels: Path) -> None:
    names = sorted(p.name for p in wheels.glob("*.whl"))
    assert names == [
        f"specfirst_codegen-{codegen.__version__}-py3-none-any.whl",
        f"specfirst_runtime-{specfirst.__version__}-py3-none-any.whl",
    ]


def test_a_team_generates_imports_and_serves_with_the_installed_wheels(
    installed: Path, tmp_path: Path
) -> None:
    done = _generate(installed, tmp_path)
    assert "generated" in done.stdout
    package = tmp_path / "pets"
    assert not (package / "runtime.py").exists()
    assert not (package / "mock.py").exists()
    assert "import specfirst as _runtime" in (package / "__init__.py").read_text()
    script = (
        "import fastapi, specfirst, sys, pets\n"
        "app = pets.build_app(None, mock=True)\n"
        "assert isinstance(app, fastapi.FastAPI)\n"
        "host = fastapi.FastAPI()\n"
        "host.include_router(pets.build_router(None, mock=True), prefix='/api')\n"
        "print(specfirst.__file__)\n"
    )
    ran = subprocess.run(
        [str(installed), "-c", script], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    # The installed runtime, not a copy in the package or this checkout's.
    assert "site-packages/specfirst/__init__.py" in ran.stdout


def test_the_runtime_type_checks_strictly_with_only_its_declared_dependencies(
    wheels: Path, tmp_path: Path, installed: Path
) -> None:
    # The runtime with its extras and mypy: no stubs, plugins or settings of this repository's.
    python = _venv(tmp_path / "venv", wheels, "specfirst-runtime[all]", "mypy")
    _generate(installed, tmp_path)
    checked = subprocess.run(
        [
            str(python),
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "-p",
            "specfirst",
            "-p",
            "pets",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_an_incompatible_runtime_is_named_at_import() -> None:
    specfirst.require(codegen.RUNTIME_REQUIREMENT, generator="specfirst-codegen test")
    major = int(specfirst.__version__.split(".")[0])
    with pytest.raises(IncompatibleRuntimeError) as refused:
        specfirst.require(f"{major + 1}.0", generator="specfirst-codegen 9.9.9")
    message = str(refused.value)
    assert "specfirst-codegen 9.9.9" in message
    assert f"specfirst-runtime >={major + 1}.0,<{major + 2}" in message
    assert f"specfirst-runtime {specfirst.__version__} is installed" in message
    with pytest.raises(IncompatibleRuntimeError):
        specfirst.require(f"{major}.{int(specfirst.__version__.split('.')[1]) + 1}", generator="x")


def test_importing_the_runtime_changes_nothing_outside_it() -> None:
    # A fresh interpreter: email-validator's process-wide list of refused domains is intact.
    script = (
        "import email_validator\n"
        "before = list(email_validator.SPECIAL_USE_DOMAIN_NAMES)\n"
        "import specfirst, specfirst.mock\n"
        "from pydantic import TypeAdapter\n"
        "assert TypeAdapter(specfirst.Email).validate_python('a@b.local') == 'a@b.local'\n"
        "assert email_validator.SPECIAL_USE_DOMAIN_NAMES == before, 'changed'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_the_versions_are_the_distributions(wheels: Path) -> None:
    for pyproject, version in (
        (ROOT / "codegen/generator/pyproject.toml", codegen.__version__),
        (ROOT / "codegen/runtime/pyproject.toml", specfirst.__version__),
    ):
        assert f'\nversion = "{version}"\n' in pyproject.read_text()
