"""The command line: determinism, check mode, idempotent writes, located errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = "tests/codegen/data/pets.yaml"


def run_codegen(*args: str, seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run(
        [sys.executable, "-m", "codegen", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.py"))}


def test_output_is_identical_across_hash_seeds(tmp_path: Path) -> None:
    for seed in ("0", "1"):
        done = run_codegen("generate", "--spec", SPEC, "--out", str(tmp_path / seed), seed=seed)
        assert done.returncode == 0, done.stderr
    assert _tree(tmp_path / "0") == _tree(tmp_path / "1")
    assert _tree(tmp_path / "0")


def test_regenerating_rewrites_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_codegen("generate", "--spec", SPEC, "--out", str(out)).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.py")}
    again = run_codegen("generate", "--spec", SPEC, "--out", str(out))
    assert again.returncode == 0
    assert "0 of" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.py")} == before


def test_check_names_stale_missing_and_extra_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(ROOT / "tests/codegen/data/pets_expected", out)
    assert run_codegen("generate", "--spec", SPEC, "--out", str(out), "--check").returncode == 0
    models = out / "models.py"
    models.write_text(models.read_text() + "\n# hand edit\n")
    (out / "routes/auth.py").unlink()
    header = (out / "app.py").read_text().splitlines()[0]
    (out / "leftover.py").write_text(header + "\n")
    done = run_codegen("generate", "--spec", SPEC, "--out", str(out), "--check")
    assert done.returncode == 1
    for name in ("models.py", "routes/auth.py", "leftover.py"):
        assert str(out / name) in done.stderr
    assert "app.py" not in done.stderr.replace(str(out / "app.py"), "")


def test_invalid_spec_names_file_line_and_pointer(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.1.0\n"
        "info: {title: t, version: '1'}\n"
        "paths: {}\n"
        "components:\n"
        "  schemas:\n"
        "    Thing:\n"
        "      $ref: ./schemas/thing.yaml\n"
    )
    (tmp_path / "schemas/thing.yaml").write_text(
        "type: object\nproperties:\n  size:\n    type: integer\n    minimum: large\n"
    )
    done = run_codegen(
        "generate", "--spec", str(tmp_path / "api.yaml"), "--out", str(tmp_path / "o")
    )
    assert done.returncode == 2
    assert "thing.yaml:5:" in done.stderr
    assert "/components/schemas/Thing/properties/size/minimum" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_broken_ref_and_bad_yaml_are_located(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    $ref: ./missing.yaml\n"
    )
    done = run_codegen(
        "generate", "--spec", str(tmp_path / "api.yaml"), "--out", str(tmp_path / "o")
    )
    assert done.returncode == 2
    assert "api.yaml:5" in done.stderr
    assert "missing.yaml" in done.stderr
    (tmp_path / "bad.yaml").write_text("openapi: 3.1.0\ninfo: [unclosed\n")
    done = run_codegen(
        "generate", "--spec", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o")
    )
    assert done.returncode == 2
    assert "invalid YAML" in done.stderr
    assert "bad.yaml:" in done.stderr


def test_webhooks_and_callbacks_get_senders(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.1.0\n"
        "info: {title: t, version: '1'}\n"
        "paths:\n"
        "  /subscribe:\n"
        "    post:\n"
        "      operationId: subscribe\n"
        "      responses: {'204': {description: ok}}\n"
        "      callbacks:\n"
        "        onEvent:\n"
        "          '{$request.body#/url}':\n"
        "            post:\n"
        "              responses: {'200': {description: ok}}\n"
        "webhooks:\n"
        "  newThing:\n"
        "    post:\n"
        "      responses: {'200': {description: ok}}\n"
    )
    done = run_codegen(
        "generate", "--spec", str(tmp_path / "api.yaml"), "--out", str(tmp_path / "o")
    )
    assert done.returncode == 0, done.stderr
    senders = (tmp_path / "o/webhooks.py").read_text()
    assert "async def send_post_new_thing(" in senders
    assert "async def send_post_request_body_url(" in senders
    assert "not generated" not in done.stderr
