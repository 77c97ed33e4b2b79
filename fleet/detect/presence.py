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


@functools.cache
def injection_passes() -> tuple[Presence, tuple[int, int, int, int]]:
    """The Set over injection's passes on the folded text (the phrase automata, the cue
    anchors, spelling games and encodings, rot13 and reversed words, spacers), and the
    index in it of each pass after the automata."""
    from .cues import anchor_pattern
    from .injection import _AUX, _SPACERS, _TURNED
    from .phrases import automata

    patterns = [a.pattern.pattern for a in automata()]
    first = len(patterns)
    patterns += [anchor_pattern(), _AUX.pattern, _TURNED.pattern, _SPACERS.pattern]
    return Presence(patterns, b"rot13", first + 2), (first, first + 1, first + 2, first + 3)
