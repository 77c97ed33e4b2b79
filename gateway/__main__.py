"""``python -m gateway --config FILE [--port N] [--store URL] [--otlp-endpoint URL]``: run the gateway without the CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="gateway")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--store", default="sqlite:gateway.sqlite3")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--otlp-endpoint", default=None)
    args = parser.parse_args()
    serve(
        args.config,
        host=args.host,
        port=args.port,
        store=args.store,
        log_level=args.log_level,
        otlp_endpoint=args.otlp_endpoint,
    )


if __name__ == "__main__":
    main()
