"""``fleet-harness run --definition FILE [--resume RUN]``: the sandbox pod's entry point.

Exit codes (docs/harness.md): 0 the run ended or paused with its outcome
stored; 1 the gateway was lost (run again to resume); 2 a usage error. Errors
are one line on standard error, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback

from harness.errors import HarnessError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fleet-harness", description="Run one fleet loop until it is done."
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="Run (or resume) the loop of a definition file.")
    run.add_argument("--definition", help="The resolved definition (default: $FLEET_DEFINITION).")
    run.add_argument("--resume", metavar="RUN", help="Continue this run instead of $FLEET_RUN_ID.")
    run.add_argument(
        "--events",
        choices=("jsonl", "text", "none"),
        default="jsonl",
        help="Progress on standard output: JSON lines (default), text, or none.",
    )
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="fleet-harness: %(message)s"
    )
    from harness import settings
    from harness.cpu import Split, settle
    from harness.events import Events
    from harness.runner import run

    try:
        s = settings.load(args.definition, args.resume)
        asyncio.run(run(s, Events(args.events), Split.from_env(), settle))
    except HarnessError as exc:
        print(f"fleet-harness: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("fleet-harness: interrupted; run it again to resume", file=sys.stderr)
        raise SystemExit(1) from None
    except (Exception, asyncio.CancelledError) as exc:
        # A client library's failure we did not foresee (e.g. the MCP transport's background
        # task dying): nothing acknowledged is lost, so the Job's retry resumes the run.
        if os.environ.get("FLEET_HARNESS_DEBUG"):
            traceback.print_exc()
        print(
            f"fleet-harness: unexpected {type(exc).__name__}: {exc or 'no detail'}; nothing "
            "acknowledged is lost: run it again to resume (FLEET_HARNESS_DEBUG=1 shows the trace)",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    raise SystemExit(0)
