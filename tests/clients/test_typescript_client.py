"""The TypeScript clients type-check under `tsc --strict`: openapi-typescript's (with
openapi-fetch) accepts the usage file and rejects each deliberate mistake in the other one (the
types bite); openapi-generator's typescript-fetch output compiles as generated."""

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
            "--listFiles",
        ],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        check=False,
    )


def test_usage_passes_each_mistake_fails_and_typescript_fetch_compiles(
    typescript_client: Path, typescript_fetch_client: Path, tmp_path: Path
) -> None:
    # One tsc run (the slow part) over all: usage.ts and the whole typescript-fetch client must
    # be clean, usage-wrong.ts must fail on exactly the lines marked `wrong:`.
    fetch_index = typescript_fetch_client / "index.ts"
    result = _tsc(typescript_client, tmp_path, USAGE, WRONG, fetch_index)

    assert result.returncode == 2, result.stdout + result.stderr
    errors = [(Path(m["file"]).name, int(m["line"])) for m in DIAGNOSTIC.finditer(result.stdout)]
    marked = [
        (WRONG.name, number)
        for number, line in enumerate(WRONG.read_text().splitlines(), start=1)
        if "// wrong:" in line
    ]
    assert len(marked) == 4
    assert sorted(errors) == marked, result.stdout
    assert result.stdout.count("error TS") == len(errors), result.stdout
    # The generated files were in the program, not skipped: --listFiles names what it compiled.
    compiled = {Path(line).resolve() for line in result.stdout.splitlines() if line.startswith("/")}
    for generated in (
        typescript_client / "schema.d.ts",
        typescript_fetch_client / "apis" / "ProductsApi.ts",
        typescript_fetch_client / "models" / "TimeZone.ts",
    ):
        assert generated.resolve() in compiled, result.stdout
