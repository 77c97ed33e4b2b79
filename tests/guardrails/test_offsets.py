"""The segment map of :mod:`fleet.detect.offsets` answers as the running total of image
lengths it stands for, on text full of characters whose images are not one long."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.detect.offsets import Offsets
from fleet.detect.text import _EXACT, _FOLDED

# One-character images, none (invisible, combining), several (ligatures, U+FDFA), a lone
# surrogate, astral letters and tags.
_CHARS = [*"aZ é中ßœ…№①２，。ﬁﬃ™½\u00a0\u3000’«\u200b\ufeff\u00ad\u0301\ufdfa\ud800"]
_CHARS += ["\U0001d41a", "\U000e0041"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(_CHARS), max_size=40))
def test_segments_answer_as_the_running_total(source: str) -> None:
    for table in (_FOLDED, _EXACT):
        starts = list(accumulate((len(table[ord(c)]) for c in source), initial=0))
        offsets = Offsets(source, table)
        for x in range(-1, starts[-1] + 3):
            assert offsets.at_or_before(x) == bisect_right(starts, x) - 1
            assert offsets.at_or_after(x) == bisect_left(starts, x)
