"""Recall and false positives of the built-in detectors on a labelled corpus.

A corpus is JSON lines, one text each: ``{"text": …, "expect": ["secrets", …]}``, the
detectors that must fire on it (``[]`` for a benign text; ``kind`` may name the expected
finding's kind, for reading only). Recall of a detector is the share of the texts that
expect it on which it fires; its false-positive rate is the share of benign texts on
which it fires. ``tests/guardrails/test_corpus.py`` holds the targets, ``bench/detect.py``
prints the same table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fleet.detect import DETECTORS, Finding

CORPUS = Path(__file__).parent / "corpus"

# Whether each built-in detector fires on a text, read once per process: the corpus tests,
# the prefilter's soundness test and the benchmark ask of the same texts.
_FIRED: dict[tuple[str, str], bool] = {}


def fires(name: str, text: str) -> bool:
    """Whether the built-in detector ``name`` finds anything in ``text``."""
    key = (name, text)
    got = _FIRED.get(key)
    if got is None:
        got = _FIRED[key] = bool(DETECTORS[name](text))
    return got


@dataclass
class Score:
    detector: str
    expected: int = 0
    found: int = 0
    benign: int = 0
    false_alarms: int = 0
    misses: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    @property
    def fp_rate(self) -> float:
        return self.false_alarms / self.benign if self.benign else 0.0


def load(paths: Iterable[Path] | None = None) -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []
    for path in sorted(paths if paths is not None else CORPUS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                cases.append(json.loads(line))
    return cases


def score(
    cases: list[dict[str, object]],
    detectors: dict[str, Callable[[str], list[Finding]]] | None = None,
) -> dict[str, Score]:
    built_in = detectors is None
    detectors = detectors if detectors is not None else DETECTORS
    scores = {name: Score(name) for name in detectors}
    for case in cases:
        text = str(case["text"])
        expect = set(case["expect"])  # type: ignore[call-overload]
        for name, detect in detectors.items():
            fired = fires(name, text) if built_in else bool(detect(text))
            s = scores[name]
            if name in expect:
                s.expected += 1
                s.found += fired
                if not fired:
                    s.misses.append(text)
            elif not expect:
                s.benign += 1
                s.false_alarms += fired
                if fired:
                    s.alarms.append(text)
    return scores


def any_alarm_rate(cases: list[dict[str, object]]) -> float:
    """The share of benign texts on which at least one detector fires."""
    benign = [c for c in cases if not c["expect"]]
    hits = sum(any(fires(name, str(c["text"])) for name in DETECTORS) for c in benign)
    return hits / len(benign) if benign else 0.0


def table(scores: dict[str, Score]) -> str:
    rows = [f"{'detector':18} {'recall':>14} {'false positives on benign':>28}"]
    for s in scores.values():
        rows.append(
            f"{s.detector:18} {s.recall:7.1%} {s.found:3}/{s.expected:<3} {s.fp_rate:12.1%} {s.false_alarms:3}/{s.benign:<3}"
        )
    return "\n".join(rows)
