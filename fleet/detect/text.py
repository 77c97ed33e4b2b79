"""Text as the detectors match it: Unicode folded, invisible characters dropped, and
every match mapped back onto the string the caller gave.

Fullwidth letters, ligatures, zero-width joiners, bidi controls, tag characters ("ASCII
smuggling"), combining accents and Cyrillic or Greek look-alikes must not hide a token or
a phrase; but findings must name spans of the caller's string, so that redaction
replaces the right characters. So normalization works one character at a time: each
original character becomes a string of zero or more characters (NFKC of that character
alone, then our maps), and every span of the normalized form has an exact original span,
the characters whose images it touches. A match that begins or ends inside one
character's image (``ﬁ`` → ``fi``) widens to that whole character; a dropped character
inside a match is part of its span. Whole-string NFKC could compose across characters and
lose that mapping, which is why it is not used.

Two forms:

- ``exact`` (secrets, personal data): NFKC per character; invisible characters dropped;
  tag characters U+E0020–E007E read as the ASCII they hide; other spaces, dashes and
  decimal digits as their ASCII counterparts. Case is kept: tokens are case-sensitive.
- ``folded`` (prompt injection): ``exact``, then NFKD with every combining mark dropped
  (``é`` → ``e``), typographic quotes dropped, and look-alike letters read as Latin. Case
  is left to the patterns, which are compiled case-insensitive; they are put through the
  same map (:func:`fold_pattern`), so a pattern written with accents or in Cyrillic meets
  the text in the same form.

Cost: ASCII text is used as it is (one ``isascii`` check). Other text takes whole-string
C-speed steps when they give the same result as the per-character map (text already in
NFKC; Latin text whose only non-ASCII characters are accents), and the per-character
``str.translate`` otherwise; the offset maps are built only when a detector reports a
finding.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from typing import Any

import re2

from .offsets import Offsets

# RE2 runs in time linear in the text, whatever the pattern: no backtracking. Its DFA
# caches states in this much memory per pattern; past it RE2 falls back to a slower (still
# linear) engine, so the large combined patterns get room.
_MAX_MEM = 64 << 20


def compile(pattern: str, capture: bool = True) -> Any:
    """A compiled RE2 pattern (linear-time matching; no lookaround, no backreferences)."""
    options = re2.Options()
    options.max_mem = _MAX_MEM
    options.log_errors = False
    options.never_capture = not capture
    return re2.compile(pattern, options)


_NULL_SPAN = (-1, -1)


class Pattern:
    """An RE2 pattern compiled twice: without its groups, to find each match (RE2 with a
    hundred groups pays for all of them on every call, match or not), and with them, run
    anchored at a match only, to say which group matched where. Same matches either way:
    the groups change what RE2 reports, not what it matches. A large union is found in
    slices (:class:`_Split`), and its groups are read from the slice that matched: the
    whole union is never compiled (a union of a hundred phrases holds megabytes, its
    slices together a quarter of that)."""

    __slots__ = ("_find", "_groups_at", "full", "groups", "pattern", "plain", "split")

    def __init__(self, pattern: str, split: _Split | None = None) -> None:
        """``split``: the same union in slices, to find matches and read groups with."""
        self.pattern = pattern
        self.split = split
        if split is not None:
            self.full = self.plain = None
            self.groups: int = split.groups
            self._find = split.find
            self._groups_at = split.groups_at
            return
        self.full = compile(pattern)
        self.groups = self.full.groups
        raw_full = getattr(self.full, "_regexp", None)
        anchor = getattr(re2, "_Anchor", None)
        self.plain = compile(pattern, capture=False)
        # The binding's own Match (spans of every group, as a list) saves the wrapper's
        # generator per call; the wrapper's methods stand in where it is missing.
        raw_plain = getattr(self.plain, "_regexp", None)
        if raw_plain is not None and raw_full is not None and anchor is not None:
            unanchored, start = anchor.UNANCHORED, anchor.ANCHOR_START
            self._find = lambda data, pos: raw_plain.Match(unanchored, data, pos, len(data))[0]
            self._groups_at = lambda data, pos: raw_full.Match(start, data, pos, len(data))
        else:
            self._find = self._find_slowly
            self._groups_at = self._groups_slowly

    @classmethod
    def union(
        cls, alternatives: Sequence[str], flags: str = "", groups: bool = True, parts: int = 1
    ) -> Pattern:
        """The alternation of ``alternatives`` (each its own group when ``groups``), searched
        as ``parts`` smaller unions of consecutive alternatives: see :class:`_Split`."""
        joined = flags + "|".join(f"({a})" if groups else f"(?:{a})" for a in alternatives)
        return cls(joined, _split(alternatives, flags, parts, "({})" if groups else None))

    @classmethod
    def sliced(cls, pattern: str, flags: str = "", parts: int = 1) -> Pattern:
        """``flags + pattern`` (its groups numbered across its top-level alternatives), its
        matches found by searching those alternatives in ``parts`` slices."""
        return cls(flags + pattern, _split(top_alternatives(pattern), flags, parts, "{}"))

    def _find_slowly(self, data: bytes, pos: int) -> tuple[int, int]:
        assert self.full is not None  # compiled whenever the binding's Match is missing
        m = self.full.search(data, pos)
        return _NULL_SPAN if m is None else m.span()

    def _groups_slowly(self, data: bytes, pos: int) -> list[tuple[int, int]]:
        assert self.full is not None
        m = self.full.match(data, pos)
        return [m.span(g) for g in range(self.groups + 1)]

    def finditer(self, view: View) -> Iterator[Hit]:
        """Every match in ``view``'s subject, left to right, as :class:`Hit`."""
        data = view.subject
        pos, end = 0, len(data)
        find, groups_at, grouped = self._find, self._groups_at, bool(self.groups)
        while pos <= end:
            s, e = find(data, pos)
            if s < 0:
                return
            yield Hit(view, groups_at(data, s) if grouped else [(s, e)])
            pos = e if e > s else e + 1


def _split(
    alternatives: Sequence[str], flags: str, parts: int, grouped: str | None
) -> _Split | None:
    """``alternatives`` searched in ``parts`` slices, where the binding allows it
    (``grouped``: how each alternative is written in the union with its groups)."""
    if parts > 1 and len(alternatives) > 1 and hasattr(re2, "_Anchor"):
        return _Split(alternatives, flags, parts, grouped)
    return None


def top_alternatives(pattern: str) -> list[str]:
    """``pattern``'s alternatives at its top level (not inside a group or a class)."""
    out: list[str] = []
    depth, start, i, n = 0, 0, 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":  # a class: a ']' right after '[' or '[^' is a member
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    out.append(pattern[start:])
    return out


class _Split:
    """A union's unanchored search, answered by searching slices of its alternatives.

    RE2 builds the states of its automaton as a text needs them and caches them. For a
    union of a hundred phrases whose word gaps are counted, the states are the
    combinations of partial matches alive at a point, and prose RE2 has not read before
    brings new ones at nearly every byte: built one by one, they cost milliseconds per
    KB (the guardrail corpus read in diverse 2 KB texts: 1.5 ms per KB for the cue
    anchors, 1.3 for the open phrases, 1.9 for the token formats), where a text read
    before costs microseconds. A slice of a few alternatives has far fewer combinations,
    and its states recur from text to text: 4-16 slices cost 4-8 times less in all.

    The union's answer is kept exactly: the leftmost match of any slice, and at a tie the
    earlier slice's (its alternatives come first, and leftmost-first prefers them). Each
    slice's next match is kept per text and searched again only when the text has moved
    past its start, so a pass over a text reads it about once per slice."""

    __slots__ = ("_grouped", "_local", "_offsets", "_raw", "groups", "starts")

    def __init__(
        self, alternatives: Sequence[str], flags: str, parts: int, grouped: str | None = None
    ) -> None:
        """``grouped``: how each alternative is written in the union with its groups
        (``"({})"``: each alternative its own group; ``"{}"``: the groups they hold), to
        read the union's groups from the slice that matched; None: the union has none."""
        size = -(-len(alternatives) // parts)
        self.starts = list(range(0, len(alternatives), size))  # each slice's first alternative
        slices = [alternatives[i : i + size] for i in self.starts]
        self._raw = [
            compile(flags + "|".join(f"(?:{a})" for a in part), capture=False)._regexp
            for part in slices
        ]
        # Each slice with its groups, run anchored at a match only; a slice's first group
        # is the union's group after the groups of the slices before it.
        self._grouped: list[Any] = []
        self._offsets: list[int] = []
        self.groups = 0
        if grouped is not None:
            for part in slices:
                raw = compile(flags + "|".join(grouped.format(a) for a in part))._regexp
                self._grouped.append(raw)
                self._offsets.append(self.groups)
                self.groups += raw.NumberOfCapturingGroups()
        self._local = threading.local()  # the text being read, per thread

    def find(self, data: bytes, pos: int) -> tuple[int, int]:
        local = self._local
        if getattr(local, "data", None) is not data:
            local.data = data
            local.next = [None] * len(self._raw)  # per slice: (from, (start, end))
        kept = local.next
        unanchored, size = re2._Anchor.UNANCHORED, len(data)
        best = _NULL_SPAN
        for i, raw in enumerate(self._raw):
            got = kept[i]
            # A slice's match from ``frm`` is its match from any ``pos`` between ``frm``
            # and the match's start (none starts before it); no match from ``frm``, none
            # from any later ``pos``.
            if got is None or pos < got[0] or (got[1][0] >= 0 and got[1][0] < pos):
                got = kept[i] = (
                    pos,
                    raw.Match(unanchored, data, pos, size)[0] if pos <= size else _NULL_SPAN,
                )
            span = got[1]
            if span[0] >= 0 and (best[0] < 0 or span[0] < best[0]):
                best = span
        return best

    def starting_at(self, data: bytes, pos: int) -> list[int]:
        """The slices with a match that starts at ``pos``, where :meth:`find` has just
        found the union's match (each slice's kept match is then its next from there)."""
        local = self._local
        if getattr(local, "data", None) is not data:
            return list(range(len(self._raw)))
        return [i for i, got in enumerate(local.next) if got is not None and got[1][0] == pos]

    def groups_at(self, data: bytes, pos: int) -> list[tuple[int, int]]:
        """The spans of the union's groups in its match anchored at ``pos`` (where
        :meth:`find` found one): read from the first slice that matches there, as the
        union's leftmost-first choice. The slices known, from the matches kept, to have none
        starting at ``pos`` are not run."""
        local = self._local
        kept = local.next if getattr(local, "data", None) is data else None
        start, size = re2._Anchor.ANCHOR_START, len(data)
        for i, raw in enumerate(self._grouped):
            got = kept[i] if kept is not None else None
            if got is not None and got[0] <= pos and (got[1][0] < 0 or got[1][0] > pos):
                continue  # this slice's next match from at or before ``pos`` starts later
            spans = raw.Match(start, data, pos, size)
            if spans[0] == _NULL_SPAN:
                continue
            out = [_NULL_SPAN] * (self.groups + 1)
            out[0] = spans[0]
            at = self._offsets[i] + 1
            out[at : at + len(spans) - 1] = spans[1:]
            return out
        return [_NULL_SPAN] * (self.groups + 1)


class Hit:
    """One match: its byte spans per group, read as character spans of the view's text."""

    __slots__ = ("_spans", "_view")

    def __init__(self, view: View, spans: list[tuple[int, int]]) -> None:
        self._view = view
        self._spans = spans

    @property
    def group(self) -> int:
        """The first group that took part in the match (the alternative that matched)."""
        for i in range(1, len(self._spans)):
            if self._spans[i] != _NULL_SPAN:
                return i
        return 0

    def has(self, group: int) -> bool:
        return self._spans[group] != _NULL_SPAN

    def span(self, group: int = 0) -> tuple[int, int]:
        s, e = self._spans[group]
        return self._view.char(s), self._view.char(e)

    def text(self, group: int = 0) -> str:
        s, e = self.span(group)
        return self._view.text[s:e]


# ------------------------------------------------------------------ character maps

# Invisible in print but not category Cf: variation selectors, the combining grapheme
# joiner, Hangul and Mongolian fillers, Khmer inherent vowels.
_INVISIBLE = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180E, 0x180F),
        *(0x3164, 0xFFA0),
        *range(0xFE00, 0xFE10),
        *range(0xE0100, 0xE01F0),
    ]
)

# Letters that render like Latin ones, read as those (a phrase written "іgnоrе" with
# Cyrillic і, о and е is still "ignore"); looked up in lower case. Applied to patterns
# too, so a pattern written in Cyrillic still matches Cyrillic text.
_LOOKALIKES = {
    # Cyrillic
    "а": "a", "в": "b", "г": "r", "е": "e", "ё": "e", "з": "3", "и": "u", "й": "u",
    "к": "k", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ь": "b", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ү": "y", "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ζ": "z",
    # Latin small capitals and dotless letters
    "ı": "i", "ȷ": "j", "ɑ": "a", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e",
    "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m",
    "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v",
    "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    # Latin letters with a stroke or bar, which NFKD leaves whole
    "ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ŧ": "t", "ƀ": "b", "ɨ": "i", "ʉ": "u",
}  # fmt: skip
# Regional indicator symbols (🇦 … 🇿) spell letters too.
_LOOKALIKES.update({chr(0x1F1E6 + i): chr(ord("a") + i) for i in range(26)})
# Typographic quotes: dropped in the folded form (patterns allow an apostrophe or none).
_QUOTES = frozenset("‘’‚‛“”„‟«»‹›′″")


def _exact_char(cp: int) -> str:
    if 0xE0020 <= cp <= 0xE007E:  # tag characters hide ASCII: read it
        return chr(cp - 0xE0000)
    if 0xD800 <= cp <= 0xDFFF:  # a lone surrogate (from a JSON \\ud800 escape) has no UTF-8
        return "\ufffd"
    ch = chr(cp)
    if cp in _INVISIBLE or unicodedata.category(ch) == "Cf":
        return ""
    out: list[str] = []
    for c in unicodedata.normalize("NFKC", ch):
        if c < "\x80":
            out.append(c)
            continue
        cat = unicodedata.category(c)
        if cat == "Zs":
            out.append(" ")
        elif cat in ("Zl", "Zp"):
            out.append("\n")
        elif cat == "Pd" or c == "\u2212":
            out.append("-")
        elif cat == "Nd":
            out.append(str(unicodedata.decimal(c)))
        elif cat != "Cf" and ord(c) not in _INVISIBLE:
            out.append(c)
    return "".join(out)


def _folded_char(cp: int) -> str:
    out: list[str] = []
    for c in unicodedata.normalize("NFKD", chr(cp)):
        if c in _QUOTES or unicodedata.category(c) in ("Mn", "Mc", "Me"):
            continue
        if c >= "\x80" and c.lower() not in _LOOKALIKES and unicodedata.category(c) == "So":
            out.append(" ")  # an emoji between words ("ignore 👏 all") is a gap, not a word
            continue
        out.append(_LOOKALIKES.get(c.lower(), c) if c >= "\x80" else c)
    return "".join(out)


class _Table(dict[int, str]):
    """A ``str.translate`` table filled on first use; it stops growing at a bound, so a
    text of every code point costs time, not memory."""

    __slots__ = ("_fn",)
    _LIMIT = 65536

    def __init__(self, fn: Any) -> None:
        super().__init__({i: chr(i) for i in range(128)})
        self._fn = fn

    def __missing__(self, cp: int) -> str:
        value: str = self._fn(cp)
        if len(self) < self._LIMIT:
            self[cp] = value
        return value


_EXACT = _Table(_exact_char)
_FOLDED = _Table(_folded_char)


@functools.cache
def _digit_ranges() -> str:
    """Non-ASCII decimal digits as an RE2 class body (computed once, on first use)."""
    ranges: list[str] = []
    cp = 0x80
    while cp < 0x20000:
        if unicodedata.category(chr(cp)) == "Nd" and unicodedata.decimal(chr(cp)) == 0:
            ranges.append(f"\\x{{{cp:X}}}-\\x{{{cp + 9:X}}}")
            cp += 10
        else:
            cp += 1
    return "".join(ranges)


@functools.cache
def _needs_exact() -> Any:
    # What the exact map changes in text that is already NFKC: invisible characters, tag
    # characters, other dashes, spaces and digits.
    invisible = "".join(f"\\x{{{cp:X}}}" for cp in sorted(_INVISIBLE))
    return compile(
        f"[\\p{{Cf}}{invisible}\\x{{E0000}}-\\x{{E007F}}\\x{{2010}}-\\x{{2015}}\\x{{2212}}"
        f"\\x{{058A}}\\x{{05BE}}\\x{{1400}}\\x{{1806}}\\x{{2E17}}\\x{{2E1A}}\\x{{2E3A}}\\x{{2E3B}}"
        f"\\x{{2E40}}\\x{{301C}}\\x{{3030}}\\x{{30A0}}\\x{{FE31}}\\x{{FE32}}\\x{{FE58}}\\x{{FE63}}"
        f"\\x{{FF0D}}\\x{{1680}}\\x{{2028}}\\x{{2029}}{_digit_ranges()}]"
    )


@functools.cache
def _fold_classes() -> tuple[Any, Any]:
    quotes = re2.escape("".join(sorted(_QUOTES)))
    lookalikes = re2.escape("".join(sorted(set(_LOOKALIKES) | {c.upper() for c in _LOOKALIKES})))
    changes = compile(f"[\\p{{M}}\\p{{So}}{quotes}{lookalikes}]")  # what folding would change
    not_latin = compile(f"[^\\x00-\\x7F\\p{{M}}{quotes}]")  # what ASCII-only folding would lose
    return changes, not_latin


# ------------------------------------------------------------------ views


class View:
    """One normalized form of a string: ``text``, the UTF-8 ``subject`` the regex engine
    scans (its byte offsets are character offsets when the text is ASCII; :meth:`char`
    converts them otherwise), and :meth:`original` to map spans back."""

    __slots__ = ("_marks", "_parent", "_source", "_starts", "_table", "ascii", "subject", "text")

    def __init__(
        self,
        text: str,
        source: str | None = None,
        table: _Table | None = None,
        parent: View | None = None,
    ) -> None:
        self.text = text
        self.ascii: bool
        self.subject: bytes
        if parent is not None and source is None:  # the same text as its parent's
            self.ascii, self.subject = parent.ascii, parent.subject
        else:
            self.ascii = text.isascii()
            self.subject = text.encode("ascii") if self.ascii else text.encode("utf-8")
        self._source = source  # None: this form is its parent's text, unchanged
        self._table = table
        self._parent = parent
        self._starts: Offsets | None = None
        self._marks: tuple[list[int], list[int]] = ([0], [0])  # byte and char offsets seen

    def translated(self) -> bool:
        """Whether this form, or one it was made from, differs from the caller's string."""
        return self._source is not None or (self._parent is not None and self._parent.translated())

    def char(self, offset: int) -> int:
        """The character offset in ``text`` of a byte offset in ``subject`` (a character
        boundary, as RE2 reports them). Decodes from the nearest offset already converted,
        so a left-to-right pass costs one decode of the text."""
        if self.ascii or offset <= 0:
            return max(offset, 0)
        bytes_seen, chars_seen = self._marks
        k = bisect_right(bytes_seen, offset) - 1
        base, chars = bytes_seen[k], chars_seen[k]
        if base == offset:
            return chars
        chars += len(self.subject[base:offset].decode("utf-8"))
        # Keep every converted offset (in order), not only the rightmost: offsets that come
        # back left of the last one (a match's start after a long match's end) would otherwise
        # decode from far back each time, quadratic on a long text.
        bytes_seen.insert(k + 1, offset)
        chars_seen.insert(k + 1, chars)
        return chars

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the caller's string that the span ``[start, end)`` of this form covers."""
        if self._source is not None and self._table is not None:
            if self._starts is None:
                self._starts = Offsets(self._source, self._table)
            starts = self._starts
            # The character whose image holds ``start``, and the one whose image holds ``end - 1``.
            start, end = starts.at_or_before(start), starts.at_or_after(end)
        if self._parent is not None:
            return self._parent.original(start, end)
        return start, end


# Python's engine for one character class repeated: linear (nothing to retry).
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")


def _translate(text: str, table: _Table) -> str:
    """``text.translate(table)``; for text with few non-ASCII characters, only their runs
    are translated (``translate`` costs about as much per ASCII character as per other)."""
    if (len(text.encode("utf-8", "surrogatepass")) - len(text)) * 8 > len(text):
        return text.translate(table)
    parts: list[str] = []
    pos = 0
    for m in _NON_ASCII_RUN.finditer(text):
        start, end = m.span()
        parts.append(text[pos:start])
        parts.append(text[start:end].translate(table))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


@functools.cache
def _composing() -> Any:
    """Characters around which NFKC of the whole string differs from NFKC of each
    character: combining marks, Hangul jamo, the kana sound marks."""
    return compile(
        "[\\p{M}\\x{1100}-\\x{11FF}\\x{3130}-\\x{318F}\\x{A960}-\\x{A97F}\\x{D7B0}-\\x{D7FF}"
        "\\x{FFA0}-\\x{FFDC}\\x{FF9E}\\x{FF9F}\\x{309B}\\x{309C}]"
    )


def _exact_view(text: str) -> View:
    if text.isascii():
        return View(text, None, None, None)
    try:
        if unicodedata.is_normalized("NFKC", text):
            if not _needs_exact().search(text):
                return View(text, None, None, None)
        elif not _composing().search(text):
            # Without composition, NFKC of the whole string is the per-character map (and
            # C-speed); when nothing else is left to map, it is the exact form.
            nfkc = unicodedata.normalize("NFKC", text)
            if not _needs_exact().search(nfkc):
                return View(nfkc, text, _EXACT, None)
    except UnicodeEncodeError:
        pass  # lone surrogates: the map replaces them
    return View(_translate(text, _EXACT), text, _EXACT, None)


def _folded_view(exact: View) -> View:
    base = exact.text
    if base.isascii():
        return View(base, None, None, exact)
    # Each branch gives what base.translate(_FOLDED) would, cheaper where it can.
    nfkd = base if unicodedata.is_normalized("NFKD", base) else unicodedata.normalize("NFKD", base)
    changes, not_latin = _fold_classes()
    if not changes.search(nfkd):
        text = nfkd  # nothing to drop or read differently: CJK, Cyrillic without look-alikes…
    elif not not_latin.search(nfkd):
        text = nfkd.encode("ascii", "ignore").decode("ascii")  # Latin text with accents
    else:
        text = _translate(base, _FOLDED)
    if text == base:
        return View(base, None, None, exact)
    return View(text, base, _FOLDED, exact)


# The gateway runs several detectors over one string in a row: prepare it once. One
# tuple, replaced whole, so a reader never pairs one text with another's views.
_last: tuple[str | None, View | None, View | None] = (None, None, None)


def exact(text: str) -> View:
    """``text`` in the exact form (see the module docstring)."""
    global _last
    last = _last
    if last[0] is text and last[1] is not None:
        return last[1]
    view = _exact_view(text)
    _last = (text, view, None)
    return view


def folded(text: str) -> View:
    """``text`` in the folded form (see the module docstring)."""
    global _last
    last = _last
    if last[0] is text and last[2] is not None:
        return last[2]
    base = last[1] if last[0] is text and last[1] is not None else _exact_view(text)
    view = _folded_view(base)
    _last = (text, base, view)
    return view


def fold_pattern(pattern: str) -> str:
    """A pattern put through the folded map, so that accents, Cyrillic or Greek in a pattern
    meet the text in the same form; an apostrophe outside a class becomes optional, as the
    folded form drops typographic ones. Only non-ASCII characters are mapped, so the
    pattern's syntax is left alone."""
    out: list[str] = []
    in_class = escaped = False
    for i, c in enumerate(pattern):
        if escaped:
            escaped = False
            out.append(c)
        elif c == "\\":
            escaped = True
            out.append(c)
        elif c == "[" and not in_class:
            in_class = True
            out.append(c)
        elif c == "]" and in_class:
            in_class = False
            out.append(c)
        elif c >= "\x80":
            out.append(_FOLDED[ord(c)])
        elif c == "'" and not in_class and pattern[i + 1 : i + 2] != "?":
            out.append("'?")
        else:
            out.append(c)
    return "".join(out)
