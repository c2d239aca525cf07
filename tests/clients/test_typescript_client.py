"""The TypeScript client (openapi-typescript + openapi-fetch) type-checks the usage file, and
rejects each deliberate mistake in the other one: the types bite."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from spectools.clients import TOOLS

USAGE, WRONG = TOOLS / "usage.ts", TOOLS / "usage-wrong.ts"
DIAGNOSTIC = re.compile(r"^(?P<file>[^\s(]+)\((?P<line>\d+),\d+\): error (?P<code>TS\d+)", re.M)


def _tsc(typescript_client: Path, tmp_path: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    committed = json.loads((TOOLS / "tsconfig.json").read_text())
    options = committed["compilerOptions"] | {
        "paths": {
            "storefront-client": [str(typescript_client / "index.ts")],
            "openapi-fetch": [str(TOOLS / "node_modules" / "openapi-fetch")],
        }
    }
    config = tmp_path / "tsconfig.json"
    config.write_text(json.dumps({"compilerOptions": options, "files": [str(f) for f in files]}))
    return subprocess.run(
        [
            str(TOOLS / "node_modules" / ".bin" / "tsc"),
            "--project",
            str(config),
            "--pretty",
            "false",
        ],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        check=False,
    )


def test_usage_passes_and_each_mistake_fails(typescript_client: Path, tmp_path: Path) -> None:
    # One tsc run over both files: usage.ts must be clean, usage-wrong.ts must fail on
    # exactly the lines marked `wrong:`.
    result = _tsc(typescript_client, tmp_path, USAGE, WRONG)

    assert result.returncode == 2, result.stdout + result.stderr
    errors = [(Path(m["file"]).name, int(m["line"])) for m in DIAGNOSTIC.finditer(result.stdout)]
    marked = [
        (WRONG.name, number)
        for number, line in enumerate(WRONG.read_text().splitlines(), start=1)
        if "// wrong:" in line
    ]
    assert len(marked) == 4
    assert sorted(errors) == marked, result.stdout
