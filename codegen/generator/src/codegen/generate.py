"""The pipeline: bundle -> validate -> parse (with models) -> render -> write or check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from codegen.bundle import Bundle, bundle
from codegen.errors import Diagnostic, SpecError
from codegen.models import generate_models
from codegen.parser import parse
from codegen.render import HEADER_MARK, render_package
from codegen.repair import repair, repair_examples
from codegen.validate import validate_bundle

MAX_EXAMPLE_ROUNDS = 10


@dataclass
class Result:
    files: dict[str, str]
    warnings: list[Diagnostic] = field(default_factory=list)


def _source_name(spec: Path) -> str:
    try:
        return spec.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return spec.name


def load_bundle(spec: Path, repairs: list[Diagnostic] | None = None) -> Bundle:
    """Bundle, repair (:mod:`codegen.repair`, each repair a warning added to ``repairs``) and
    validate ``spec``; raises :class:`codegen.errors.SpecError`."""
    result, warnings = repair(bundle(spec))
    for _ in range(MAX_EXAMPLE_ROUNDS):  # validation reports at most MAX_REPORTED errors
        try:
            validate_bundle(result)
            break
        except SpecError as exc:
            repaired = repair_examples(result, exc.diagnostics)
            if repaired is None:
                raise
            result, more = repaired
            warnings += more
    else:
        validate_bundle(result)
    if repairs is not None:
        repairs.extend(warnings)
    return result


def generate(spec: Path) -> Result:
    """Every file of the generated package for ``spec``."""
    repairs: list[Diagnostic] = []
    loaded = load_bundle(spec, repairs)
    models: dict[str, str] = {}

    def emit(document: dict[str, object]) -> tuple[set[str], dict[str, str]]:
        source, classes, by_schema = generate_models(document)
        models["source"] = source
        return classes, by_schema

    parsed = parse(loaded, emit)
    files = render_package(
        parsed.api, models["source"], loaded.document, _source_name(spec), parsed.positions
    )
    return Result(files, repairs + parsed.warnings)


def _existing(out: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    if not out.is_dir():
        return found
    for path in sorted(out.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.startswith(HEADER_MARK):
            found[path.relative_to(out).as_posix()] = text
    return found


def stale_files(files: dict[str, str], out: Path) -> list[str]:
    """Files under ``out`` that differ from, are missing from, or are not in ``files``."""
    existing = _existing(out)
    stale = [rel for rel, text in files.items() if existing.get(rel) != text]
    stale += [rel for rel in existing if rel not in files]
    return sorted(stale)


def write(files: dict[str, str], out: Path) -> list[str]:
    """Write what changed (others keep their timestamps); remove obsolete generated files."""
    changed = stale_files(files, out)
    for rel in changed:
        path = out / rel
        if rel in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[rel], encoding="utf-8")
        elif path.exists():
            path.unlink()
    return changed
