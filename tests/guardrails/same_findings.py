"""Whether a change to the detectors left every finding as it was: each detector's
findings (kind, span, label) on every labelled text, on the hostile units of the
linear-time tests (at 4 KB), on the normalization fixtures and on a few disguised
variants of each text (full-width, accents, zero-width spacers), written to a JSON file
and compared with one written before the change.

A speed change to :mod:`fleet.detect` must leave this file unchanged. Run:
``.venv/bin/python tests/guardrails/same_findings.py --write /tmp/before.json`` before the
change, ``... --check /tmp/before.json`` after it (exit 1 and the first differences when
they differ).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fleet.detect import DETECTORS
from tests.guardrails.scoring import load
from tests.guardrails.test_linear import UNITS
from tests.guardrails.test_normalize import DISGUISES, PHRASE, TOKEN


def variants(text: str) -> list[str]:
    """The text, and disguises that take the normalizing and spacer paths."""
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text[:600])
    return [text, wide, text[:600].replace(" ", "\u200b"), text[:600].replace("e", "é")]


def texts() -> list[str]:
    out: list[str] = []
    for case in load():
        out.extend(variants(str(case["text"])))
    out.extend((unit * (4096 // len(unit) + 1))[:4096] for unit in UNITS.values())
    for disguise in DISGUISES.values():
        for base in (PHRASE, TOKEN):
            try:
                out.append(disguise(base))
            except Exception:  # a disguise meant for the other kind of text
                continue
    return out


def findings() -> list[list[object]]:
    rows: list[list[object]] = []
    for i, text in enumerate(texts()):
        for name, detect in DETECTORS.items():
            for f in detect(text):
                rows.append([i, name, f.kind, f.start, f.end, f.masked])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--check", type=Path)
    args = parser.parse_args()
    rows = findings()
    if args.write:
        args.write.write_text(json.dumps(rows))
        print(f"{len(rows)} findings on {len(texts())} texts written to {args.write}")
        return 0
    before = json.loads(args.check.read_text())
    if before == rows:
        print(f"same: {len(rows)} findings on {len(texts())} texts")
        return 0
    was, now = {tuple(r) for r in before}, {tuple(r) for r in rows}
    for r in sorted(was - now)[:10]:
        print("lost", r)
    for r in sorted(now - was)[:10]:
        print("new ", r)
    print(f"DIFFERENT: {len(before)} findings before, {len(rows)} now")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
