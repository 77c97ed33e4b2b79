"""Which of a detector's passes can match a short text at all, in one call.

On a short text (a chat message, a tool's name, a field of a schema) the detectors'
cost is mostly fixed: each RE2 pass is a call into the binding that sets up a search
(some 0.7 µs) whatever the text's length, and injection makes seven of them. An
``RE2::Set`` of the same patterns answers, in one search of about the same fixed cost,
which of them match somewhere in the text: the passes whose pattern matches nowhere find
nothing and are skipped, so findings are the same and a text that holds no cue costs one
call. A long text is read by every pass anyway (one of them almost always matches), so
the Set is asked about short ones only.

The Set's search is an RE2 automaton like the passes' own, linear in the text whatever it
holds. A Set that cannot search at all (out of memory) would answer "nothing matches":
it is asked once, when built, about a text it must match, and left unused if it does not
answer so.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import re2

from .model import flagged

# Bytes: the texts the Set is asked about. On prose (no cue) it halves injection's cost at
# 4 KB; on support tickets, where three of the passes match anyway, it adds some 15% there,
# and twice that past 4 KB, where its automaton meets more states than the passes' own.
SHORT = 4096


class Presence:
    """An ``RE2::Set`` over ``patterns`` (RE2 syntax, as their own passes compile them):
    :meth:`which` gives the indices of those that match a short subject somewhere."""

    __slots__ = ("_set",)

    def __init__(self, patterns: Sequence[str], probe: bytes, expect: int) -> None:
        options = re2.Options()
        options.max_mem = 256 << 20
        options.log_errors = False
        options.never_capture = True
        found = re2.Set.SearchSet(options)
        for pattern in patterns:
            if found.Add(pattern) < 0:
                raise ValueError(f"RE2 cannot add {pattern[:60]!r} to a Set")
        found.Compile()
        self._set: re2.Set | None = found
        if expect not in (found.Match(probe) or ()):
            self._set = None  # the Set cannot search (memory): every pass runs

    def which(self, subject: bytes) -> frozenset[int] | None:
        """The indices of the patterns that match ``subject`` somewhere, or None (every
        pass must run) for a long subject."""
        if self._set is None or len(subject) > SHORT:
            return None
        return frozenset(self._set.Match(subject) or ())


# Where injection reads a text without an RE2 pass first: markdown links and HTML images,
# HTML comments. In the shared Set, so that a text holding none of them is known clear.
_INJECTION_GUARDS = (r"\]\(|<img|<IMG", r"<!--")


@functools.cache
def _shared() -> tuple[Presence, tuple[int, int, int, int], tuple[str, ...]]:
    """One Set over every pass of the three built-in detectors: injection's (the phrase
    automata, the cue anchors, spelling games and encodings, rot13 and reversed words,
    spacers, then its link and comment guards), secrets' and PII's; the index in it of each
    injection pass after the automata; and the detector each pattern belongs to.

    Injection reads the folded form of a text and the other two the exact form; the two are
    the text itself when it is ASCII, so one search answers for all three there."""
    from .cues import anchor_pattern
    from .injection import _AUX, _SPACERS, _TURNED
    from .phrases import automata
    from .pii import _IBAN, _IDS, _RUN
    from .secrets import _CONTEXT_RE, _TOKENS_RE

    patterns = [a.pattern.pattern for a in automata()]
    first = len(patterns)
    patterns += [anchor_pattern(), _AUX.pattern, _TURNED.pattern, _SPACERS.pattern]
    patterns += _INJECTION_GUARDS
    owners = ["prompt-injection"] * len(patterns)
    patterns += [_TOKENS_RE.pattern, _CONTEXT_RE.pattern]
    owners += ["secrets"] * 2
    patterns += [_IDS.pattern, _IBAN.pattern, _RUN.pattern]
    owners += ["pii"] * 3
    present = Presence(patterns, b"rot13", first + 2)
    return present, (first, first + 1, first + 2, first + 3), tuple(owners)


def injection_passes() -> tuple[Presence, tuple[int, int, int, int]]:
    """The shared Set, and the index in it of each injection pass after the automata."""
    present, passes, _ = _shared()
    return present, passes


BUILT_IN = frozenset({"prompt-injection", "secrets", "pii"})
_NONE: frozenset[str] = frozenset()


def quiet(text: str) -> frozenset[str]:
    """The built-in detectors that certainly find nothing in ``text``: those none of whose
    passes match it anywhere (every finding of theirs starts from a match of one of them),
    and, for prompt injection, whose learned scorer (:mod:`fleet.detect.model`, which
    reads words, not a pass) flags nothing either. Known for a short ASCII text only, with
    one search and, when injection's passes are clear, one scoring; empty otherwise."""
    if not text.isascii() or len(text) > SHORT:
        return _NONE
    present, _, owners = _shared()
    # ASCII: the folded and exact forms are the text itself, and its bytes their subject.
    found = present.which(text.encode("ascii"))
    if found is None:
        return _NONE
    clear = BUILT_IN.difference([owners[i] for i in found]) if found else BUILT_IN
    if "prompt-injection" in clear and flagged(text):
        return clear - _INJECTION
    return clear


_INJECTION = frozenset({"prompt-injection"})
