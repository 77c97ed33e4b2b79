"""``python -m fleet_operator``: run the operator (kopf, all namespaces, standalone)."""

from __future__ import annotations

import sys

import kopf


def main() -> None:
    args = sys.argv[1:] or ["--all-namespaces"]
    sys.exit(
        kopf.cli.main(
            ["run", "-m", "fleet_operator.handlers", "--standalone", *args], standalone_mode=False
        )
        or 0
    )  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
