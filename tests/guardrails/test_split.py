"""A union searched in slices (``Pattern.union(..., parts=k)``) finds what the whole union
finds: the same matches, left to right, on every text of the corpus, in every form the
detectors read, and from threads reading different texts at once."""

from __future__ import annotations

import threading

import re2

from fleet.detect import prepare
from fleet.detect.cues import _compiled, _options
from fleet.detect.phrases import automata
from fleet.detect.secrets import _CONTEXT_RE, _TOKENS_RE
from fleet.detect.text import Pattern, _Split, compile, exact, folded, top_alternatives

from .scoring import load

_UNANCHORED = re2._Anchor.UNANCHORED
_START = re2._Anchor.ANCHOR_START


def _spans(find, data: bytes) -> list[tuple[int, int]]:
    out, pos = [], 0
    while pos <= len(data):
        s, e = find(data, pos)
        if s < 0:
            break
        out.append((s, e))
        pos = e if e > s else e + 1
    return out


def _whole(pattern: Pattern):
    """The whole union, compiled here: a sliced pattern keeps only its slices (and the
    union with its groups, run anchored)."""
    raw = compile(pattern.pattern, capture=False)._regexp
    return lambda data, pos: raw.Match(_UNANCHORED, data, pos, len(data))[0]


def _split_patterns() -> list[tuple[str, Pattern, bool]]:
    out = [(f"automaton {i}", a.pattern, True) for i, a in enumerate(automata())]
    out.append(("cue anchors", _compiled()[0], True))
    out.append(("token formats", _TOKENS_RE, False))
    out.append(("credential words", _CONTEXT_RE, False))
    return out


def test_the_large_unions_are_searched_in_slices() -> None:
    for name, pattern, _ in _split_patterns():
        split = getattr(pattern._find, "__self__", None)
        assert isinstance(split, _Split), name
        assert len(split._raw) > 1, name
        assert pattern.plain is None, name  # no unused copy of the whole union
        assert pattern.full is None, name  # its groups are read from its slices


def test_groups_read_from_the_slice_that_matched_are_the_whole_unions() -> None:
    """At each match, the union's groups (which phrase, which token format, which part of
    a credential) come from the first slice that matches there: the same spans as the
    whole union with its groups, run anchored at the match."""
    texts = [str(case["text"]) for case in load()]
    compared = 0
    for name, pattern, is_folded in _split_patterns():
        if not pattern.groups:
            continue
        raw = compile(pattern.pattern)._regexp
        assert raw.NumberOfCapturingGroups() == pattern.groups, name
        for text in texts:
            data = (folded(text) if is_folded else exact(text)).subject
            for s, _ in _spans(pattern._find, data):
                assert pattern._groups_at(data, s) == raw.Match(_START, data, s, len(data)), (
                    name,
                    text[:80],
                )
                compared += 1
    assert compared > 1000


def test_groups_at_a_point_found_elsewhere_are_still_the_unions() -> None:
    """Asked at a position :meth:`find` did not just report (another text read between),
    the slices are each tried in turn: the answer is unchanged."""
    pattern = Pattern.union(["a(b)+", "b", "(c)d", "a"], parts=3)
    assert pattern.groups == 6  # each alternative its own group, and the two inside
    raw = compile(pattern.pattern)._regexp
    data = b"xxabbbcd a cd b"
    for pos in [2, 6, 9, 11, 14, 3]:
        pattern._find(b"something else", 0)
        assert pattern._groups_at(data, pos) == raw.Match(_START, data, pos, len(data)), pos
    assert pattern._groups_at(data, 0)[0] == (-1, -1)  # no match there


def test_anchor_sets_per_slice_say_what_one_set_of_all_anchors_says() -> None:
    """Which anchors match where the anchors' union matched: what one Set of them all says
    of the match's text, less the anchors that match only because that text was cut at the
    match's end (a word boundary there): each left out does not match at that point of the
    whole text."""
    anchor, whose = _compiled()[:2]
    alternatives = [p[len("(?:") : -1] for p in top_alternatives(anchor.pattern[len("(?i)") :])]
    one = re2.Set.MatchSet(_options(64 << 20))
    for p in alternatives:
        one.Add(p)
    one.Compile()
    alone: dict[int, object] = {}
    compared = 0
    for case in load():
        view = folded(str(case["text"]))
        data = view.subject
        for s, e in _spans(anchor._find, data):
            anchor._find(data, s)  # as the cues read them: found, then asked whose
            chunk = view.text[view.char(s) : view.char(e)]
            got, every = set(whose.at(data, s, chunk)), set(one.Match(chunk) or [])
            assert got <= every, chunk
            for i in every - got:
                raw = alone.setdefault(i, compile("(?i)" + alternatives[i], capture=False)._regexp)
                assert raw.Match(_START, data, s, len(data))[0] == (-1, -1), (i, chunk)  # type: ignore[attr-defined]
            compared += 1
    assert compared > 1000


def test_prepare_compiles_the_built_in_detectors_named() -> None:
    assert prepare(["prompt-injection", "secrets", "example.module:scan"]) == [
        "prompt-injection",
        "secrets",
    ]
    assert automata.cache_info().currsize == 1
    assert _compiled.cache_info().currsize == 1


def test_slices_find_what_the_whole_union_finds_on_the_corpus() -> None:
    texts = [str(case["text"]) for case in load()]
    compared = 0
    for name, pattern, is_folded in _split_patterns():
        whole = _whole(pattern)
        for text in texts:
            data = (folded(text) if is_folded else exact(text)).subject
            assert _spans(pattern._find, data) == _spans(whole, data), (name, text[:80])
            compared += 1
    assert compared == len(texts) * len(_split_patterns())


def test_slices_answer_from_any_position_not_only_left_to_right() -> None:
    pattern = Pattern.union(["ab+", "b", "cd", "a"], parts=3)
    whole = _whole(pattern)
    data = b"xxabbbcd a cd b"
    for pos in [5, 0, 9, 3, 3, 14, 1, len(data), len(data) + 1, 0]:
        assert pattern._find(data, pos) == (whole(data, pos) if pos <= len(data) else (-1, -1))
    # at a tie the earlier alternative wins, as in the union
    assert pattern._find(b"ab", 0) == (0, 2)


def test_threads_reading_different_texts_get_their_own_answers() -> None:
    pattern = _compiled()[0]
    whole = _whole(pattern)
    texts = [folded(str(c["text"])).subject for c in load()[:400]]
    expected = [_spans(whole, t) for t in texts]
    errors: list[int] = []

    def work(offset: int) -> None:
        for k in range(len(texts)):
            i = (k + offset) % len(texts)
            if _spans(pattern._find, texts[i]) != expected[i]:
                errors.append(i)

    threads = [threading.Thread(target=work, args=(n * 97,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_top_level_alternatives_skip_groups_classes_and_escapes() -> None:
    assert top_alternatives(r"a(b|c)|[|)]x|\|y|[]|]z|[^]|]w") == [
        "a(b|c)",
        "[|)]x",
        r"\|y",
        "[]|]z",
        "[^]|]w",
    ]
    pattern = Pattern.sliced(r"k(e)y=(\d+)|p([a-z]+)|[|]x", flags="(?i)", parts=2)
    assert isinstance(pattern._find.__self__, _Split)
    assert pattern.groups == 3
    data = b"KEY=12 then Pw and | x|x"
    assert _spans(pattern._find, data) == _spans(_whole(pattern), data)
