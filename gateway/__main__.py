"""``python -m gateway --config FILE [--port N] [--store URL] [--otlp-endpoint URL] [limits]``: run the
gateway without the CLI. The connection limits' flags and env variables are listed in
:mod:`gateway.limits`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.limits import Limits
from gateway.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="gateway")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--store", default="sqlite:gateway.sqlite3")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--otlp-endpoint", default=None)
    limits = parser.add_argument_group(
        "connection limits (default: FLEET_GATEWAY_* env, then built-in)"
    )
    limits.add_argument("--header-timeout", type=float, metavar="SECONDS")
    limits.add_argument("--body-timeout", type=float, metavar="SECONDS")
    limits.add_argument("--min-body-rate", type=int, metavar="BYTES_PER_S")
    limits.add_argument("--body-rate-window", type=float, metavar="SECONDS")
    limits.add_argument("--keepalive-timeout", type=float, metavar="SECONDS")
    limits.add_argument("--max-header-bytes", type=int, metavar="BYTES")
    limits.add_argument("--max-connections", type=int, metavar="N")
    limits.add_argument("--max-requests-per-token", type=int, metavar="N")
    args = parser.parse_args()
    try:
        resolved = Limits.resolve(
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            min_body_rate=args.min_body_rate,
            body_rate_window=args.body_rate_window,
            keepalive_timeout=args.keepalive_timeout,
            max_header_bytes=args.max_header_bytes,
            max_connections=args.max_connections,
            max_requests_per_token=args.max_requests_per_token,
        )
    except ValueError as exc:
        print(f"gateway: error: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        serve(
            args.config,
            host=args.host,
            port=args.port,
            store=args.store,
            log_level=args.log_level,
            otlp_endpoint=args.otlp_endpoint,
            limits=resolved,
        )
    except ValueError as exc:  # a config or --store that cannot be used, said before serving
        print(f"gateway: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
