"""Score one fresh guardrail probe: recall per detector, false positives on its benign
texts, and every miss and false alarm, so that a probe can be measured before any
detector change reads it (the untuned figure) and again after.

Run: ``.venv/bin/python bench/probes/score.py bench/probes/probe-g12-1.jsonl [--quiet]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.guardrails.scoring import any_alarm_rate, load, score, table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("probe", type=Path, nargs="+")
    parser.add_argument("--quiet", action="store_true", help="figures only, no misses")
    args = parser.parse_args()
    cases = load(args.probe)
    scores = score(cases)
    print(table(scores))
    print(f"any detector on benign: {any_alarm_rate(cases):.1%}")
    if args.quiet:
        return
    for s in scores.values():
        for text in s.misses:
            print(f"MISS {s.detector}: {text!r}")
        for text in s.alarms:
            print(f"FP   {s.detector}: {text!r}")


if __name__ == "__main__":
    main()
