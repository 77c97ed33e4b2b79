"""The detectors on the labelled corpus in ``tests/guardrails/corpus``: recall per
detector and false positives on benign support tickets, against the targets
(injection ≥ 85 %, secrets ≥ 95 %, personal data ≥ 95 %, false positives ≤ 2 %).
``bench/detect.py`` prints the same table."""

from __future__ import annotations

import pytest

from tests.guardrails.scoring import any_alarm_rate, load, score, table

TARGETS = {"prompt-injection": 0.85, "secrets": 0.95, "pii": 0.95}
MAX_FALSE_POSITIVES = 0.02


@pytest.fixture(scope="module")
def cases() -> list[dict[str, object]]:
    return load()


def test_the_corpus_is_large_and_mostly_hard(cases: list[dict[str, object]]) -> None:
    assert len(cases) >= 300
    benign = [c for c in cases if not c["expect"]]
    assert len(benign) >= 150
    for detector in TARGETS:
        assert sum(detector in c["expect"] for c in cases) >= 50  # type: ignore[operator]
    texts = [str(c["text"]) for c in cases]
    assert len(set(texts)) == len(texts), "a text appears twice"


@pytest.mark.timeout(60)
def test_recall_and_false_positives_meet_the_targets(cases: list[dict[str, object]]) -> None:
    scores = score(cases)
    report = table(scores)
    for name, target in TARGETS.items():
        s = scores[name]
        assert s.recall >= target, f"{name} recall {s.recall:.1%}; missed: {s.misses}\n{report}"
        assert s.fp_rate <= MAX_FALSE_POSITIVES, f"{name} fired on: {s.alarms}\n{report}"
    assert any_alarm_rate(cases) <= MAX_FALSE_POSITIVES


def test_the_fresh_probes_are_labelled_and_large(cases: list[dict[str, object]]) -> None:
    """The probes written to measure the detectors on texts they were not tuned on: each
    text says which probe it came from, and each probe has at least 100 injections and
    benign tickets and 40 secrets and personal-data texts (a near-miss set holds benign
    texts only)."""
    probes = {str(c["source"]) for c in cases if "source" in c}
    probes = {p for p in probes if not p.startswith("near-miss-")}
    assert len(probes) >= 2
    for probe in probes:
        part = [c for c in cases if c.get("source") == probe]
        kinds = [str(k) for c in part for k in c["expect"]]  # type: ignore[attr-defined]
        assert kinds.count("prompt-injection") >= 100, probe
        assert kinds.count("secrets") >= 40 and kinds.count("pii") >= 40, probe
        assert sum(not c["expect"] for c in part) >= 100, probe
