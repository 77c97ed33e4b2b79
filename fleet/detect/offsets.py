"""Offsets of a normalized form mapped back to the string it was made from, without a
table of every character.

A form is its source with each character replaced by its image (one character for most,
none for an invisible one, several for a ligature). A span of the form maps back to the
characters whose images hold it; with the running total of image lengths per character
(``starts``), that is ``bisect_right(starts, start) - 1`` and ``bisect_left(starts, end)``.
Building ``starts`` takes a step of Python per character, which on text with accents was
most of the detectors' cost. Every ASCII character is its own image, and so are most
others; only the characters whose image is not one character long (the irregular ones)
change the running total. So the total is kept as segments between them, each a run of
characters of one-character images, where ``starts[i] = i + shift``: the same two answers
come from a bisection over the segments and one subtraction, and building them costs a
step per irregular character and a C-speed pass over the others.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping

# Python's engine for one character class repeated: linear (nothing to retry).
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")
_ANY_RUN = re.compile(".+", re.S)
_IRREGULAR = re.compile(b"[^\x01]")
_REGULAR_ASCII: dict[int, bool] = {}  # per table: whether every ASCII image is one character


def _ascii_regular(table: Mapping[int, str]) -> bool:
    key = id(table)
    if key not in _REGULAR_ASCII:
        _REGULAR_ASCII[key] = all(len(table[c]) == 1 for c in range(128))
    return _REGULAR_ASCII[key]


class Offsets:
    """The running total of image lengths of ``source``'s characters under ``table``,
    stored as segments: segment ``k`` holds the indices ``first[k]`` to ``last[k]``,
    where the total is the index plus ``shift[k]``."""

    __slots__ = ("_first", "_high", "_last", "_low", "_shift")

    def __init__(self, source: str, table: Mapping[int, str]) -> None:
        first, last, shift = [0], [], [0]
        total = 0
        runs = _NON_ASCII_RUN if _ascii_regular(table) else _ANY_RUN
        for m in runs.finditer(source):
            at = m.start()
            lengths = bytes(map(len, map(table.__getitem__, map(ord, m.group()))))
            for irregular in _IRREGULAR.finditer(lengths):
                i = at + irregular.start()
                total += lengths[irregular.start()] - 1
                last.append(i)  # the segment ends at the irregular character's index,
                first.append(i + 1)  # and the next starts past it, shifted
                shift.append(total)
        last.append(len(source))
        self._first, self._last, self._shift = first, last, shift
        self._low = [a + d for a, d in zip(first, shift, strict=True)]  # each segment's least total
        self._high = [b + d for b, d in zip(last, shift, strict=True)]  # and its greatest

    def at_or_before(self, x: int) -> int:
        """The last index whose total is at most ``x`` (``bisect_right(starts, x) - 1``)."""
        k = bisect_right(self._low, x) - 1
        if k < 0:
            return -1
        return min(self._last[k], x - self._shift[k])

    def at_or_after(self, x: int) -> int:
        """The first index whose total is at least ``x`` (``bisect_left(starts, x)``)."""
        k = bisect_left(self._high, x)
        if k == len(self._high):
            return self._last[-1] + 1
        return max(self._first[k], x - self._shift[k])
