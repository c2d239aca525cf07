"""Run the real app under uvicorn for the contract tests, with response validation on."""

from __future__ import annotations

import sys

import uvicorn

from impl.app import create_app
from impl.observability.logs import configure_logging
from impl.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging("WARNING")
    app = create_app(settings, validate_responses=True)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
