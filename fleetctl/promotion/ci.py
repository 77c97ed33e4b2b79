"""CI: run `fleetctl eval` for every loop whose pins a pull request changes, into the PR comment.

    python -m fleetctl.promotion.ci FLEET_DIR BASE_REV OUT.md     (fleetctl installed)
    python3 ACTION_DIR/fleetctl/promotion/ci.py FLEET_DIR BASE_REV OUT.md   (the composite action)

The loops come from `fleetctl diff --base BASE_REV -o json` (a change under instructions,
skills or model, the loop's or a sub-agent's; an added loop's pins too) and `fleetctl ls -o
json` (which loops are staging twins). A staging twin's new pins run as
`fleetctl eval FLEET PROD --pins candidate` against its production loop's pins; a production
loop's new pins (a promotion, a rollback) as `--pins current`. A loop with no recorded cases
(no FLEET/evals/PROD/) is named in the section as not evaluated.

The section (one table per loop, what `fleetctl eval` prints) is appended to OUT.md, the
body of the pull request's comment. Exit 0: no regression; 1: a case regressed (or failed);
2: a fleetctl command could not run. Only the standard library, and fleetctl through its
command line: the composite action runs this file from its own checkout with whichever
Python the job has, which need not be the one fleetctl was installed into.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PIN_ROOTS = ("instructions", "skills", "model")
FENCE = "```"
TABLE_LIMIT = 8_000
"""Characters of one eval's output in the comment (GitHub takes 65,536 in all)."""


def pin_change(path: str) -> bool:
    """``instructions.x``, ``skills.y``, ``model``, ``subagents.reviewer.model``: a pin."""
    parts = path.split(".")
    if parts[0] == "subagents" and len(parts) >= 3:
        parts = parts[2:]
    return parts[0] in PIN_ROOTS


def changed_loops(diff: dict) -> list[str]:
    return sorted(
        lp["name"]
        for lp in diff.get("loops", [])
        if lp.get("status") in ("added", "changed")
        and lp.get("name") != "(fleet)"
        and any(pin_change(c.get("path", "")) for c in lp.get("changes", []))
    )


def production_of(inventory: list[dict]) -> dict[str, str]:
    """Staging twin → the production loop it promotes to (``stage: staging -> PROD``)."""
    out = {}
    for row in inventory:
        stage = str(row.get("stage", ""))
        if "->" in stage:
            out[row["loop"]] = stage.split("->", 1)[1].strip()
    return out


def plan(fleet: Path, loops: list[str], twins: dict[str, str]) -> list[tuple[str, str, str]]:
    """(production loop, pins, why) per eval to run, in order, each once."""
    runs: list[tuple[str, str, str]] = []
    for loop in loops:
        if loop in twins:
            item = (twins[loop], "candidate", f"the pins of staging twin `{loop}`")
        else:
            item = (loop, "current", "its own new pins")
        if item[:2] not in [r[:2] for r in runs]:
            runs.append(item)
    return runs


def fleetctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["fleetctl", *args], capture_output=True, text=True, check=False)


def need_json(proc: subprocess.CompletedProcess[str], what: str, ok: tuple[int, ...]) -> object:
    if proc.returncode not in ok:
        sys.stderr.write(proc.stderr)
        sys.stderr.write(
            f"fleetctl.promotion.ci: `fleetctl {what}` failed (exit {proc.returncode})\n"
        )
        sys.exit(2)
    return json.loads(proc.stdout)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    fleet, base, out = Path(argv[0]), argv[1], Path(argv[2])
    diff = need_json(fleetctl("diff", str(fleet), "--base", base, "-o", "json"), "diff", (0, 1))
    loops = changed_loops(diff)  # type: ignore[arg-type]
    if not loops:
        return 0
    inventory = need_json(fleetctl("ls", str(fleet), "-o", "json"), "ls", (0,))
    twins = production_of(inventory)  # type: ignore[arg-type]
    lines = ["", "### fleetctl eval", ""]
    worst = 0
    for prod, pins, why in plan(fleet, loops, twins):
        if not (fleet / "evals" / prod).is_dir():
            lines += [
                f"- `{prod}` ({why}): not evaluated, no recorded cases in `evals/{prod}/`",
                "",
            ]
            continue
        proc = fleetctl("eval", str(fleet), prod, "--pins", pins)
        verdict = {0: "no regression", 1: "**regression**"}.get(
            proc.returncode, "**could not run**"
        )
        worst = max(worst, proc.returncode if proc.returncode in (0, 1) else 2)
        body = proc.stdout if proc.returncode in (0, 1) else proc.stderr
        if len(body) > TABLE_LIMIT:
            body = (
                body[:TABLE_LIMIT]
                + f"\n… cut at {TABLE_LIMIT:,} characters: run the command for all\n"
            )
        lines += [
            f"#### `{prod}` with {why}: {verdict}",
            "",
            FENCE + "text",
            body.rstrip("\n"),
            FENCE,
            "",
        ]
        sys.stdout.write(f"{prod} --pins {pins}: {verdict.strip('*')}\n")
    with out.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
