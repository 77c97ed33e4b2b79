"""The Set that lets injection skip passes on a short text says of each pass's pattern
exactly what the pattern's own search says: it matches somewhere, or nowhere."""

from __future__ import annotations

from fleet.detect.cues import _compiled
from fleet.detect.injection import _AUX, _SPACERS, _TURNED
from fleet.detect.phrases import automata
from fleet.detect.presence import SHORT, _shared, injection_passes, quiet
from fleet.detect.text import folded

from .scoring import fires, load


def test_the_set_answers_as_each_pass_on_every_short_corpus_text() -> None:
    present, _ = injection_passes()
    passes = [a.pattern for a in automata()] + [_compiled()[0], _AUX, _TURNED, _SPACERS]
    checked = 0
    for case in load():
        subject = folded(str(case["text"])).subject
        which = present.which(subject)
        if len(subject) > SHORT:
            assert which is None
            continue
        assert which is not None
        for i, p in enumerate(passes):
            assert (i in which) == (p._find(subject, 0)[0] >= 0), (i, str(case["text"])[:80])
        checked += 1
    assert checked > 3000


def test_a_text_without_cues_costs_one_search() -> None:
    present, _ = injection_passes()
    assert present.which(b"Summarise the failing build in one line.") == frozenset()
    assert present.which(b"x" * (SHORT + 1)) is None


def test_a_detector_declared_quiet_finds_nothing_over_the_whole_corpus() -> None:
    """``quiet`` lets the gateway skip a detector: it must never name one that would find
    something. For injection that takes the learned scorer too, whose findings start from
    no pass: texts that it alone flags are not declared quiet."""
    declared = 0
    scorer_only = 0
    for case in load():
        text = str(case["text"])
        clear = quiet(text)
        for name in clear:
            assert not fires(name, text), (name, text[:80])
            declared += 1
        if len(text) <= SHORT and text.isascii() and "prompt-injection" not in clear:
            found = injection_passes()[0].which(text.encode("ascii"))
            owners = _shared()[2]
            scorer_only += not any(owners[i] == "prompt-injection" for i in found or ())
    assert declared > 3000
    assert scorer_only > 0  # the scorer's look is what keeps these from being skipped
