"""The breaking-change gate: the spec at a git ref against the working tree.

``python -m spectools.breaking [--base REF] [--spec PATH] [--markdown-out FILE]`` bundles the
spec's folder as it was at ``REF`` (default: the merge base with ``main``) and as it is now,
prints a Markdown changelog by operation, with every change marked breaking or not and the
generated handler methods whose signatures change, and exits

- 0 when nothing breaks, or when ``info.version``'s major was bumped;
- 1 on breaking changes without a major bump;
- 2 when the ref is unknown or either version of the spec is invalid.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from codegen.bundle import Bundle
from codegen.errors import SpecError
from codegen.generate import load_bundle
from spectools.diff import Change, DocumentDiff, diff_documents
from spectools.signatures import SignatureChange, parse_api, signature_changes

DEFAULT_BRANCH = "main"


class GateError(Exception):
    """The comparison cannot be made (unknown ref, spec missing at the ref, invalid spec)."""


@dataclass(frozen=True, slots=True)
class Report:
    """What the gate found, and what it concludes."""

    base_label: str
    spec: str
    diff: DocumentDiff
    signatures: tuple[SignatureChange, ...]

    @property
    def major_bumped(self) -> bool:
        was, now = _major(self.diff.base_version), _major(self.diff.head_version)
        return was is not None and now is not None and now > was

    @property
    def passes(self) -> bool:
        return not self.diff.breaking or self.major_bumped


def _major(version: str) -> int | None:
    match = re.match(r"v?(\d+)\.", version.strip())
    return int(match.group(1)) if match else None


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    # No shell: a ref from the command line reaches git as one argument, never as code.
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False)  # noqa: S603, S607


def _resolve_ref(repo: Path, ref: str | None) -> tuple[str, str]:
    """(commit, label) of ``ref``, or of the merge base of HEAD and ``main`` when None."""
    if ref is None:
        done = _git(repo, "merge-base", "HEAD", DEFAULT_BRANCH)
        if done.returncode != 0:
            raise GateError(
                f"no merge base between HEAD and {DEFAULT_BRANCH!r}; pass --base REF "
                f"({done.stderr.decode(errors='replace').strip()})"
            )
        commit = done.stdout.decode().strip()
        return commit, f"merge base with `{DEFAULT_BRANCH}` ({commit[:10]})"
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise GateError(f"unknown git ref {ref!r}")
    commit = done.stdout.decode().strip()
    return commit, f"`{ref}` ({commit[:10]})"


def _extract(repo: Path, commit: str, folder: str, into: Path) -> None:
    """Write ``folder`` (relative to the repository root) as it is at ``commit`` under ``into``."""
    done = _git(repo, "archive", "--format=tar", commit, "--", folder or ".")
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise GateError(f"cannot read {folder or '.'}/ at {commit[:10]}: {message}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(into, filter="data")


def _load(spec: Path, shown_as: str, temporary: Path | None = None) -> Bundle:
    try:
        return load_bundle(spec)
    except SpecError as exc:
        lines = [str(d) for d in exc.diagnostics]
        if temporary is not None:  # name the ref, not the temporary folder it was extracted to
            lines = [line.replace(f"{temporary}/", f"{shown_as}:") for line in lines]
        raise GateError(f"the spec at {shown_as} is invalid:\n" + "\n".join(lines)) from None


def compare(spec: Path, base: str | None = None, generated: str = "src/generated") -> Report:
    """Compare ``spec`` in the working tree with the same file at git ref ``base``."""
    spec = spec.resolve()
    if not spec.is_file():
        raise GateError(f"{spec} does not exist")
    top = _git(spec.parent, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise GateError(f"{spec.parent} is not in a git repository")
    repo = Path(top.stdout.decode().strip()).resolve()
    relative = spec.relative_to(repo)
    commit, label = _resolve_ref(repo, base)
    with tempfile.TemporaryDirectory(prefix="breaking-") as tmp:
        folder = Path(tmp)
        parent = relative.parent.as_posix()
        _extract(repo, commit, "" if parent == "." else parent, folder)
        old_spec = folder / relative
        if not old_spec.is_file():
            raise GateError(f"{relative} does not exist at {label}")
        old = _load(old_spec, base or commit[:10], folder)
        new = _load(spec, "the working tree")
        diff = diff_documents(old.document, new.document)
        signatures: tuple[SignatureChange, ...] = ()
        if diff.operations:
            try:
                signatures = tuple(signature_changes(parse_api(old), parse_api(new), generated))
            except SpecError as exc:
                raise GateError(
                    "codegen cannot read the spec:\n" + "\n".join(map(str, exc.diagnostics))
                ) from None
    return Report(label, relative.as_posix(), diff, signatures)


def _bullet(change: Change) -> str:
    mark = "**breaking**" if change.breaking else "non-breaking"
    where = f"`{change.pointer or '/'}`" + (" (base)" if change.in_base else "")
    return f"- {mark}: {change.message} ({where})"


def render_markdown(report: Report) -> str:
    """The report as Markdown, ready to paste into a review."""
    diff = report.diff
    breaking = len(diff.breaking)
    others = len(diff.changes) - breaking
    lines = [
        "## Contract changes",
        "",
        f"`{report.spec}`: {report.base_label} (version {diff.base_version or '?'}) → "
        f"working tree (version {diff.head_version or '?'}).",
        "",
    ]
    if not diff.operations:
        lines += ["No changes to the operations of the contract.", ""]
    else:
        lines += [
            f"{breaking} breaking and {others} non-breaking change(s) "
            f"in {len(diff.operations)} operation(s).",
            "",
        ]
    for op in diff.operations:
        name = f"`{op.operation_id}` " if op.operation_id else ""
        lines += [f"### {name}`{op.method} {op.path}`", ""]
        lines += [_bullet(c) for c in sorted(op.changes, key=lambda c: not c.breaking)]
        lines.append("")
    if report.signatures:
        lines += ["### Generated handler methods that change", ""]
        lines += [f"- {s}" for s in report.signatures]
        lines.append("")
    if not breaking:
        verdict = "no breaking changes."
    elif report.major_bumped:
        verdict = (
            f"breaking changes allowed: `info.version`'s major was bumped "
            f"({diff.base_version} → {diff.head_version})."
        )
    else:
        verdict = (
            f"**fails**: {breaking} breaking change(s) and `info.version`'s major was not "
            f"bumped ({diff.base_version or '?'} → {diff.head_version or '?'})."
        )
    lines += [f"Gate: {verdict}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 pass, 1 breaking, 2 cannot compare)."""
    parser = argparse.ArgumentParser(
        prog="python -m spectools.breaking",
        description="Classify the changes of an OpenAPI document since a git ref.",
    )
    parser.add_argument(
        "--base", help=f"git ref to compare with (default: merge base with {DEFAULT_BRANCH})"
    )
    parser.add_argument("--spec", default="openapi/openapi.yaml", help="root OpenAPI file")
    parser.add_argument("--markdown-out", help="also write the Markdown report to this file")
    parser.add_argument(
        "--generated", default="src/generated", help="generated package, to name interface files"
    )
    args = parser.parse_args(argv)
    try:
        report = compare(Path(args.spec), args.base or None, args.generated)
    except GateError as exc:
        print(f"breaking: {exc}", file=sys.stderr)
        return 2
    text = render_markdown(report)
    sys.stdout.write(text)
    if args.markdown_out:
        out = Path(args.markdown_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return 0 if report.passes else 1


if __name__ == "__main__":
    sys.exit(main())
