"""Prompt injection read as a combination of cues, for phrasings no listed phrase has.

:mod:`fleet.detect.phrases` lists whole phrases, which an attacker rewords at will
("set your usual policies to one side", "the constraints you started this chat with
have been lifted"). Here an injection is a sentence that holds cues from several
families at once: a verb or state that dismisses orders (``ignore``, ``set aside``,
``no longer binds``, ``revoked``) *and* orders that are the model's own (``your
policies``, ``the preceding configuration``, ``restrictions placed on you``); a text
addressed to an AI reading it *and* a sensitive act (approve, merge, grant, reveal…);
a destructive tool's name *and* an order to call it now; a mode switch (``developer
mode``, ``sudo mode``) *and* what the mode is for; a forged role marker *and* an order;
a payload to assemble *and* an order to run it. A benign ticket has one family ("ignore
the previous error", "your rules for returns", "the merge_pr button"), seldom two in one
sentence.

Cost: one RE2 pass over the text finds the rare anchor cues; only the sentences around
an anchor (bounded, each read at most twice) are matched against all the families at
once with an ``RE2::Set``, which says which families occur without their matches
competing for the same characters. Linear in the text, whatever it holds.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

from .cue_families import ANCHORS, AT_CLAUSE_HEAD, AT_CLAUSE_START, COMBOS, FAMILIES, READS_BEFORE
from .text import Pattern, View, _Split, compile, fold_pattern

_SPAN = 300  # characters a sentence is read at most, either way from its anchor
_END = re.compile(r"[.!?](?:\s|\Z)|[\n。！？]")
# Python's engine, on at most a span: one greedy run, then back to the last sentence end.
_LAST_END = re.compile(r".*(?:[.!?]\s|[\n。！？])", re.S)


@functools.cache
def _family(name: str) -> Any:
    """One family's patterns as one RE2 pattern, compiled once for every anchor that reads
    it (a Set per anchor of the families its combinations name held each family once per
    anchor: 8 MB for 29 anchors, against 2 MB this way)."""
    joined = "|".join(f"(?:{_lookahead_free(fold_pattern(p))})" for p in FAMILIES[name])
    return compile("(?i)" + joined, capture=False)._regexp


class _Look:
    """What one anchor family needs read in a sentence: the families its combinations name
    (each one pattern, searched in the sentence), and the combinations as bit masks of
    them."""

    __slots__ = ("before", "combos", "extended", "reads")

    def __init__(self, anchor: str) -> None:
        names = sorted(
            {
                n
                for combo in COMBOS[anchor]
                for n in combo[2] + sum(combo[3], ()) + (combo[4] if len(combo) > 4 else ())
            }
        )
        bit = {name: 1 << i for i, name in enumerate(names)}
        self.reads = [(_family(name), bit[name]) for name in names]
        # One window is read per anchor: combinations that disagree on whether it takes the
        # next sentence in would narrow every one of them to the anchor's own sentence.
        flags = {combo[1] for combo in COMBOS[anchor]}
        if len(flags) > 1:
            raise ValueError(
                f"cue anchor {anchor!r}: its combinations disagree on reading the next sentence"
            )
        self.extended = flags == {True}
        self.before = anchor in READS_BEFORE
        self.combos = [
            (
                combo[0],
                combo[1],
                sum(bit[n] for n in combo[2]),
                tuple(sum(bit[n] for n in g) for g in combo[3]),
                sum(bit[n] for n in (combo[4] if len(combo) > 4 else ())),
            )
            for combo in COMBOS[anchor]
        ]

    def families(self, chunk: str) -> int:
        """The bits of the families found anywhere in ``chunk`` (a sentence, folded)."""
        if not self.reads:
            return 0
        data = chunk.encode("utf-8")
        unanchored, size = re2._Anchor.UNANCHORED, len(data)
        got = 0
        for raw, bit in self.reads:
            if raw.Match(unanchored, data, 0, size)[0][0] >= 0:
                got |= bit
        return got


def _options(max_mem: int) -> re2.Options:
    options = re2.Options()
    options.max_mem = max_mem
    options.log_errors = False
    options.case_sensitive = False
    options.never_capture = True
    return options


class _Whose:
    """Which anchors match at a point: an anchored ``RE2::Set`` per slice of the anchors'
    union (a slice's Set is a small automaton, and the slices' Sets together hold a
    fraction of one Set of them all), run only for the slices whose next match starts
    there."""

    __slots__ = ("sets", "split", "starts")

    def __init__(self, patterns: list[str], split: _Split | None) -> None:
        self.split = split
        self.starts = split.starts if split is not None else [0]
        self.sets = []
        for k, start in enumerate(self.starts):
            end = self.starts[k + 1] if k + 1 < len(self.starts) else len(patterns)
            one = re2.Set.MatchSet(_options(8 << 20))
            for p in patterns[start:end]:
                one.Add(p)
            one.Compile()
            self.sets.append(one)

    def at(self, data: bytes, pos: int, chunk: str) -> list[int]:
        """The anchors that match a prefix of ``chunk``, the text of the union's match at
        byte ``pos`` of ``data`` (found just before), by their index in the union."""
        slices = self.split.starting_at(data, pos) if self.split is not None else [0]
        out: list[int] = []
        for k in slices:
            got = self.sets[k].Match(chunk)
            if got:
                start = self.starts[k]
                out.extend(start + i for i in got)
        return out


@functools.cache
def _compiled() -> tuple[
    Pattern, _Whose, list[int], list[str], list[_Look], frozenset[int], frozenset[int]
]:
    """The anchors as one pattern without groups (groups make RE2 run its slow engine
    on every match), and as Sets anchored at a match, which say whose it is; and which
    of them must stand at the head of a clause (:func:`clause_head`), and which must open
    one (:func:`clause_start`)."""
    names = list(ANCHORS)
    entries = [(i, j, p) for i, n in enumerate(names) for j, p in enumerate(ANCHORS[n])]
    patterns = [(i, _lookahead_free(fold_pattern(p))) for i, _, p in entries]
    heads = frozenset(k for k, (i, j, _) in enumerate(entries) if (names[i], j) in AT_CLAUSE_HEAD)
    starts = frozenset(k for k, (i, j, _) in enumerate(entries) if (names[i], j) in AT_CLAUSE_START)
    # In slices (fleet.detect.text._Split): on diverse 2 KB texts, 1,466 µs per KB as one
    # union, 324 in 16. With the anchors of the g26 and g27 rounds, injection on unread
    # text cost 1,926-2,082 µs/KB with 16 slices and 1,625-1,775 with 24 (text read before:
    # the same within the spread).
    anchor = Pattern.union([p for _, p in patterns], "(?i)", groups=False, parts=24)
    whose = _Whose([p for _, p in patterns], anchor.split)
    return anchor, whose, [i for i, _ in patterns], names, [_Look(n) for n in names], heads, starts


# What ends a clause, and what may open one (a quote, a bracket, a list or heading mark).
_CLAUSE_STOPS = frozenset("\n.!?:：,।。！？")
_OPENERS = frozenset(">([/#*|-\"'{")
_SENTENCE_ENDS = frozenset(".!?।")
_WIDE_ENDS = frozenset("。！？")  # a sentence's end with no space after it (Chinese, Japanese)
_HEAD_REACH = 60  # characters from a clause's head to the name
_COLON_REACH = 90  # characters from the name's start to the colon or dash that closes it


def clause_head(text: str, at: int) -> bool:
    """Whether ``text[at]`` is at most ``_HEAD_REACH`` characters into a clause, with no
    clause stop between: after a line's start, an opening mark and any spaces, or a
    sentence's end and spaces. Reads back at most ``_HEAD_REACH`` characters, then over
    spaces only (an opening mark or a sentence's end may stand before any run of them)."""
    k = at - 1
    low = max(0, at - _HEAD_REACH - 1)
    while k >= low:
        c = text[k]
        if c == "n" and k > 0 and text[k - 1] == "\\":
            return True  # an escaped line break ("\\n" in a calendar's or a JSON's text)
        if c in _CLAUSE_STOPS:
            if c == "\n":
                return True  # a line's start within reach
            if c == ",":
                return _called_to(text, k)
            if c in _WIDE_ENDS:
                return True
            return c in _SENTENCE_ENDS and text[k + 1 : k + 2].isspace()
        if c in _OPENERS:
            return True
        k -= 1
    if k < 0:
        return True  # the text's start within reach
    # Past the reach: only a run of spaces may stand between the head and the clause.
    if not text[k + 1].isspace():
        return False
    while k >= 0 and text[k].isspace():
        k -= 1
    return k < 0 or text[k] in _OPENERS or text[k] in _SENTENCE_ENDS


_CALL_REACH = 16  # characters of an attention call before its comma


def _called_to(text: str, comma: int) -> bool:
    """Whether the comma at ``text[comma]`` ends a call for attention that opens its clause
    ("Let op, taalmodel:", "Achtung, KI:", "PS, assistant:"): at most two words, and
    ``_CALL_REACH`` characters, back to a line's start, an opening mark or a sentence's end."""
    k = comma - 1
    low = max(0, comma - _CALL_REACH - 1)
    while k >= low and text[k] not in _CLAUSE_STOPS and text[k] not in _OPENERS:
        k -= 1
    words = text[k + 1 : comma].split()
    if not 1 <= len(words) <= 2 or not all(w.isalpha() for w in words):
        return False
    if k < 0:
        return True  # the text's start
    if k < low:
        return False  # past the reach
    c = text[k]
    return c == "\n" or c in _OPENERS or (c in _SENTENCE_ENDS and text[k + 1 : k + 2].isspace())


_LEAD_IN = frozenset(" \t<!}") | _OPENERS


def clause_start(text: str, at: int) -> bool:
    """Whether ``text[at]`` opens a clause: before it on its line only spaces and opening
    marks, back to the line's start, a sentence's end or a label's colon ("NOTE:", "a; b;")."""
    if text[at : at + 1] == "\n":
        return True  # the match took the line break before its first word
    k = at - 1
    while k >= 0 and text[k] in _LEAD_IN:
        k -= 1
    if k < 0:
        return True
    c = text[k]
    if c == "\n" or c in ":;：" or (c == "n" and k > 0 and text[k - 1] == "\\"):
        return True
    return c in _SENTENCE_ENDS and k + 1 < len(text) and text[k + 1].isspace()


def anchor_pattern() -> str:
    """The anchors' one pattern, as its pass compiles it."""
    return _compiled()[0].pattern


def _lookahead_free(pattern: str) -> str:
    """RE2 has no lookahead: a negative tail (``(?!…)``) is dropped from the pattern and
    checked in Python on the match instead."""
    cut = pattern.find("(?!")
    return pattern if cut < 0 else pattern[:cut]


# "your prompt templates", "the system message field": a place in a product.
_A_PLACE_FOLLOWS = re.compile(
    r"\s+(?:for|on|about|regarding|options?|settings?|page|file|templates?|library|field|editor|"
    r"limit|length|size|banner|feature|box|button|tab)\b",
    re.I,
)


# The kinds a quotation may hold (injection drops them where the sentence quotes).
MAY_BE_QUOTED = frozenset(
    {"instruction-override", "role-hijack", "prompt-leak", "encoded-injection", "concealment"}
)
# A speaker's label at a line's start ("jenna:", "**bot**:", "[09:12] raj:"), and a name
# alone before its colon at a line's start.
_TURNS = re.compile(r"(?m)^[ \t]*(?:\[[\d:. ]{4,12}\][ \t]*)?\**([\w.\-]{2,24})\**:[ \t]")
_LABEL = re.compile(r"\s*\**([\w.\-]{2,24})\**\s*:")


def _turns(text: str) -> list[str]:
    """The labels of the lines that open with a speaker's name (in the text's first 20,000
    characters), in lower case."""
    return [m.lower() for m in _TURNS.findall(text, 0, 20_000)]


def _speaker_label(text: str, s: int, e: int) -> str | None:
    """The name, in lower case, where ``text[s:e]`` ends with a name and its colon alone
    at a line's start."""
    line = text.rfind("\n", s, e)
    start = line + 1 if line >= 0 else s
    if line < 0 and s > 0 and text[s - 1] != "\n":
        return None
    m = _LABEL.fullmatch(text, start, e)
    return m.group(1).lower() if m else None


def _sentence(text: str, s: int, e: int) -> tuple[int, int]:
    """The sentence around ``text[s:e]``, at most ``_SPAN`` characters either way."""
    lo = max(0, s - _SPAN)
    before = _LAST_END.match(text, lo, s)
    after = _END.search(text, e, min(len(text), e + _SPAN))
    return (before.end() if before else lo), (after.end() if after else min(len(text), e + _SPAN))


def scan_cues(view: View) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each sentence of the view's text whose cues combine."""
    anchor, whose, owner, names, looks, heads, starts = _compiled()
    text, data = view.text, view.subject
    found: list[tuple[int, int, str]] = []
    last: dict[int, int] = {}  # family: the end of the last sentence it read
    read: dict[tuple[int, str], tuple[str, int] | None] = {}
    # Sentences read, and anchors looked at, per text: a few per KB at most, so a text
    # made of anchors costs a bounded amount per KB. Past them, the listed phrases still
    # read the whole text; only the combinations stop.
    turns: list[str] | None = None  # the speakers' labels of a chat log, read once if asked
    budget = 8 + len(text) // 256
    anchors = 32 + len(text) // 64
    pos, size = 0, len(data)
    while pos <= size and budget > 0 and anchors > 0:
        bs, be = anchor._find(data, pos)
        if bs < 0:
            break
        anchors -= 1
        pos = be if be > bs else be + 1
        s, e = view.char(bs), view.char(be)
        which = whose.at(data, bs, text[s:e])
        for placed, stands in ((heads, clause_head), (starts, clause_start)):
            # anchors that must stand at a clause's head, or open it, and do not here
            if not placed.isdisjoint(which) and (e - s > _COLON_REACH or not stands(text, s)):
                which = [i for i in which if i not in placed]
        label = _speaker_label(text, s, e) if which else None
        if label is not None:
            if turns is None:
                turns = _turns(text)
            if len(turns) >= 3 and (turns.count(label) >= 2 or label.endswith("bot")):
                # "bot: ✅ canary healthy", twice in a chat log, or a named bot's account
                # ("pagerbot:") in one: the bot's own turns
                continue
        if not which:
            # Its match may hide another anchor that starts inside it ("Observação para a IA
            # do suporte:" holds "IA do suporte:"): search on from its next word.
            pos = _next_word(data, bs, be)
            continue
        # A family reads a sentence once: an anchor inside the last one it read adds
        # nothing (in text with no sentence ends, reads overlap by a span at most).
        families = sorted({f for i in which if last.get(f := owner[i], -1) <= s})
        if not families:
            continue
        start, end = _sentence(text, s, e)
        told = False
        for family in families:
            if looks[family].before and start > 0:
                start = _sentence(text, start - 1, start - 1)[0]
            last[family] = end
            if names[family] == "youprompt" and _A_PLACE_FOLLOWS.match(text, e):
                continue
            key = (family, text[start:end])
            if key in read:
                got = read[key]
            else:
                budget -= 1
                got = read[key] = _combine(looks[family], text, start, end)
            if got is not None:
                told = True
                found.append((start, got[1], got[0]))
                if got[0] not in MAY_BE_QUOTED:
                    # Go on after the sentence: its other anchors can add nothing.
                    pos = max(pos, be + len(text[e:end].encode("utf-8")))
                # A kind a quotation may hold is dropped where the sentence quotes (see
                # injection._quotes_in_discussion): the sentence's other anchors are read.
                break
        if not told and data[bs] not in _WORD_BYTES:
            # Nothing here, and the match opened with a mark or a space (a sentence's end, a
            # line's start) or in a script other than Latin: an anchor that starts inside it
            # may complete what this one did not (". Til AI-assistenten, der …:", "اے آئی
            # اسسٹنٹ کے لیے:" holds the postposition's note).
            pos = _next_word(data, bs, be)
    return found


def _next_word(data: bytes, bs: int, be: int) -> int:
    """Where the next word after the start of the match ``data[bs:be]`` begins: its first
    word's start when the match opens with marks or spaces (". Til AI-…"), else the word
    after its first one; never before ``bs + 1`` nor past ``be``. A word is ASCII letters,
    digits, ``-`` and ``_``, and every byte of other scripts (so it stops on a character's
    first byte)."""
    k = bs
    while k < be and data[k] < 0x80 and data[k] not in _WORD_BYTES:
        k += 1
    if k > bs:
        return k
    while k < be and (data[k] >= 0x80 or data[k] in _WORD_BYTES):
        k += 1
    return max(k, bs + 1)


_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _combine(look: _Look, text: str, start: int, end: int) -> tuple[str, int] | None:
    """The kind of the first of ``look``'s combinations the sentence ``text[start:end]``
    (and, where a combination allows, the sentence after it) completes, and where the
    text it read ends. One read of the text: the sentence, or both when every
    combination may use the second."""
    last = end
    if look.extended and end < len(text):
        last = _sentence(text, end, end)[1]
    have = look.families(text[start:last])
    for kind, _, needs, any_of, unless in look.combos:
        if have & needs == needs and all(have & g for g in any_of) and not have & unless:
            return kind, last
    return None
