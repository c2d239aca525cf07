"""The justfile's recipe docs: `just --list` shows one line per recipe, so each is one line.

just takes a recipe's doc from the comment line right above it (only the last line of a longer
block), so a multi-line doc comment lists as a fragment of its own last sentence. Longer notes
go in a plain comment block, separated from the recipe by a blank line, or in the README.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JUSTFILE = ROOT / "justfile"
# `name params...:` at the start of a line; not `name := value` (an assignment or a setting).
_RECIPE = re.compile(r"^@?(?P<name>[A-Za-z_][A-Za-z0-9_-]*)(?:\s[^:]*)?:(?!=)")
_ATTRIBUTE = re.compile(r"^\[.*\]\s*$")


def doc_comments(text: str) -> dict[str, list[str]]:
    """Each recipe's name and the comment lines directly above it (attributes skipped)."""
    lines = text.splitlines()
    docs: dict[str, list[str]] = {}
    for index, line in enumerate(lines):
        match = _RECIPE.match(line)
        if match is None:
            continue
        above = index - 1
        while above >= 0 and _ATTRIBUTE.match(lines[above]):
            above -= 1
        comment: list[str] = []
        while above >= 0 and lines[above].startswith("#"):
            comment.insert(0, lines[above].removeprefix("#").strip())
            above -= 1
        docs[match["name"]] = comment
    return docs


def just_executable() -> str:
    """The `just` of this environment (the rust-just package), else the one on PATH."""
    beside = Path(sys.executable).with_name("just")
    found = str(beside) if beside.exists() else shutil.which("just")
    assert found, "just is not installed: `uv sync` installs it (the rust-just package)"
    return found


def _just_recipes() -> dict[str, str | None]:
    """Each recipe's doc as just itself reads it (`just --dump --dump-format json`)."""
    dump = subprocess.run(
        [just_executable(), "--justfile", str(JUSTFILE), "--dump", "--dump-format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    recipes = json.loads(dump.stdout)["recipes"]
    return {name: recipe["doc"] for name, recipe in recipes.items()}


def test_every_recipe_has_a_one_line_doc_comment() -> None:
    docs = doc_comments(JUSTFILE.read_text())
    long = {name: comment for name, comment in docs.items() if len(comment) > 1}
    missing = sorted(name for name, comment in docs.items() if not comment)
    assert not long, f"multi-line doc comments (`just --list` shows only the last line): {long}"
    assert not missing, f"recipes without a doc comment: {missing}"


def test_the_parser_reads_what_just_lists() -> None:
    # Proof that the check above sees every recipe, and each doc just shows, whole.
    docs = doc_comments(JUSTFILE.read_text())
    assert {name: " ".join(comment) or None for name, comment in docs.items()} == _just_recipes()


def test_a_multi_line_doc_comment_is_caught() -> None:
    text = (
        'spec := "openapi/openapi.yaml"\n'
        "set dotenv-load := false\n\n"
        "# Notes that are not the doc.\n\n"
        "# First line of a doc,\n# second line of it.\n"
        "[no-cd]\n"
        'serve port="8000": gen\n    echo {{port}}\n\n'
        "# One line.\n"
        "gen:\n    true\n"
    )
    assert doc_comments(text) == {
        "serve": ["First line of a doc,", "second line of it."],
        "gen": ["One line."],
    }
