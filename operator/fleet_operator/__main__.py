"""``python -m fleet_operator``: run the operator (kopf, all namespaces, standalone)."""

from __future__ import annotations

import sys


def main() -> None:
    from kopf import cli

    args = sys.argv[1:] or ["--all-namespaces"]
    sys.exit(
        cli.main(
            ["run", "-m", "fleet_operator.handlers", "--standalone", *args], standalone_mode=False
        )
        or 0
    )


if __name__ == "__main__":
    main()
