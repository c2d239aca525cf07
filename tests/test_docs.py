"""The repository's docs stand alone: what they point to is in the repository.

Every relative Markdown link in README.md and docs/ names a tracked file, every mention of a
`docs/` file anywhere names one that exists, and nothing names the notes of a folder
outside the repository (they do not travel with the code).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
_DOCS_MENTION = re.compile(r"(?<![\w/.-])docs/[\w-]+(?:\.[a-z]+)?")
# Spelled in pieces, so this file does not name them itself.
_OUTSIDE = [re.compile(p) for p in (r"\.\./" + "shared", r"\banchors" + r"\.md\b")]
_OUTSIDE_NOTES = re.compile(r"(?<![\w/.-])(?:design|style)" + r"\.md\b")


def tracked_files() -> list[Path]:
    """The files git tracks (that exist in the working tree)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


TRACKED = tracked_files()
MARKDOWN = [p for p in TRACKED if p.suffix == ".md" and "tests/codegen/data" not in str(p)]


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_name_tracked_files(path: Path) -> None:
    tracked = set(TRACKED)
    broken = []
    for match in _LINK.finditer(path.read_text(encoding="utf-8")):
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL, or an anchor in the same file
        file = (path.parent / target.split("#", 1)[0]).resolve()
        if file not in tracked and not (file.is_dir() and file.is_relative_to(ROOT)):
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)} links to files not in the repository: {broken}"


# URL paths the runtime serves beside `/docs` (Swagger UI's page loads them relatively), not files.
SERVED = {"docs/assets", "docs/init.js"}


def test_docs_mentioned_anywhere_exist() -> None:
    missing: set[str] = set()
    for path in TRACKED:
        if path == Path(__file__).resolve():
            continue  # its own examples
        text = _text(path)
        for mention in _DOCS_MENTION.findall(text or ""):
            if mention in SERVED:
                continue
            if not ((ROOT / mention).exists() or (ROOT / f"{mention}.md").is_file()):
                missing.add(f"{path.relative_to(ROOT)}: {mention}")
    assert not missing, sorted(missing)


def test_nothing_names_notes_outside_the_repository() -> None:
    found: set[str] = set()
    for path in TRACKED:
        if path == Path(__file__).resolve():
            continue
        text = _text(path) or ""
        for pattern in (*_OUTSIDE, _OUTSIDE_NOTES):
            found.update(f"{path.relative_to(ROOT)}: {m}" for m in pattern.findall(text))
    assert not found, sorted(found)


def test_the_checks_catch_what_they_are_for() -> None:
    assert _DOCS_MENTION.findall("docs/style.md, docs/style: not /docs/assets/x.css") == [
        "docs/style.md",
        "docs/style",
    ]
    # A path to one (docs/...) is the mention check's; a bare name is a note from outside.
    design, style = "design" + ".md", "style" + ".md"
    assert _OUTSIDE_NOTES.findall(f"the {design}, {style} and docs/{style}") == [design, style]
    assert [m["target"] for m in _LINK.finditer("[a](docs/x.md#y) [b](https://e.org)")] == [
        "docs/x.md#y",
        "https://e.org",
    ]
