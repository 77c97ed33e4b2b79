"""A learned linear scorer for prompt injection, read beside the rules of
:mod:`fleet.detect.injection`.

The rules find the phrasings they list and the cue combinations they foresee; new
phrasings, and languages they list few phrases in, slip past them. This scorer weighs the
words of a text instead: a logistic regression over word unigrams and bigrams of the
folded, lower-cased text (character bigrams for scripts written without spaces: Chinese,
Japanese, Thai) and a few indicator features, trained by
``scripts/train_injection_model.py`` on the labelled corpus in ``tests/guardrails/corpus``.
The weights, the bias, the threshold and how they were trained are in
``injection_model.json`` beside this module.

A text is read in windows, so that one order buried in a long benign document is not
diluted by it: the text is cut into chunks of about :data:`CHUNK` characters at spaces, and
a window is two chunks in a row (each chunk is in two windows). A window's score is the
bias plus the weights of its features (an unknown feature weighs 0); a window whose score
reaches the threshold is a span. Work is a fixed number of dictionary look-ups per word,
so linear in the text whatever it holds; the only regex (for text that is not ASCII) is
one character class repeated, or another, linear on Python's engine.
"""

from __future__ import annotations

import functools
import json
import re
from itertools import pairwise, repeat
from math import sqrt
from pathlib import Path

from .text import View, folded

WEIGHTS = Path(__file__).with_name("injection_model.json")

CHUNK = 120  # characters: a window is two chunks, about 240
_SLACK = 32  # a chunk ends at the last space within this many characters of its length

# ASCII (lower-cased already): every character but a letter, digit or underscore a space
# (the same words as ``\w+`` on ASCII). Same length, so offsets are kept. On bytes: a
# quarter of the cost of ``str.translate``.
_ASCII_TABLE = bytes(c if (chr(c).isalnum() and c < 128) or c == 95 else 32 for c in range(256))


def _plain(low: str) -> str:
    """An ASCII text's words, with spaces for everything else."""
    return low.encode("ascii").translate(_ASCII_TABLE).decode("ascii")


# Scripts written without spaces between words: Thai, kana, CJK ideographs. Their runs
# give character bigrams; other word characters give words. Each alternative is one
# character class repeated: linear.
_NO_SPACE = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORDS = re.compile(f"([{_NO_SPACE}]+)|[^\\W{_NO_SPACE}]+")


FLOOR = 16  # features: a window's weights are summed, then divided by the square root of
# their number (at least this), so that a long window is not favoured by its length
GRAM = 4  # characters: the n-grams of the words of a chunk that is not ASCII (shared
# across languages and their scripts' spellings)


def _may_indicate(low: str) -> bool:
    """Whether an indicator can be in the text (a few searches of it, not of each chunk)."""
    return "://" in low or "|" in low or "[inst]" in low or "<<sys>>" in low


def _indicators(chunk: str) -> list[str]:
    """A few features the words miss (``chunk`` lower-cased, punctuation kept)."""
    out = []
    if "://" in chunk:
        out.append("!url")
        if "?" in chunk and "=" in chunk:
            out.append("!url-query")
    if "| sh" in chunk or "|sh" in chunk or "| bash" in chunk:
        out.append("!pipe-shell")
    if "<|" in chunk or "[inst]" in chunk or "<<sys>>" in chunk:
        out.append("!turn-marker")
    return out


def _cuts(low: str) -> list[int]:
    """Where the chunks of ``low`` start, and its length last."""
    n = len(low)
    cuts = [0]
    pos = 0
    while n - pos > CHUNK:
        hi = pos + CHUNK
        lo = hi - _SLACK
        at = max(low.rfind(" ", lo, hi), low.rfind("\n", lo, hi))
        pos = at + 1 if at > lo else hi
        cuts.append(pos)
    cuts.append(n)
    return cuts


def _lowered(text: str) -> str:
    """``text`` lower-cased, the same length (a few characters grow when lower-cased, such
    as ``İ``: then the text is left as it is)."""
    low = text.lower()
    return low if len(low) == len(text) else text


class Chunks:
    """A folded text cut in chunks: where they start (the text's length last), and per
    chunk its words, its indicators and (text that is not ASCII) its words' n-grams."""

    __slots__ = ("cuts", "grams", "marks", "words")

    def __init__(self, view_text: str) -> None:
        ascii = view_text.isascii()
        low = view_text.lower() if ascii else _lowered(view_text)
        self.cuts = cuts = _cuts(low)
        self.words: list[list[str]] = []
        self.marks: list[list[str]] = []
        self.grams: list[list[str]] = []
        if ascii:
            plain = _plain(low)
            self.words = [plain[s:e].split() for s, e in pairwise(cuts)]
            self.grams = [[]] * len(self.words)  # never appended to
            if _may_indicate(low):
                self.marks = [_indicators(low[s:e]) for s, e in pairwise(cuts)]
            else:
                self.marks = [[]] * len(self.words)
            return
        for s, e in pairwise(cuts):
            piece = low[s:e]
            marks = _indicators(piece) if _may_indicate(piece) else []
            if piece.isascii():
                self.words.append(_plain(piece).split())
                self.marks.append(marks)
                self.grams.append([])
                continue
            toks: list[str] = []
            for m in _WORDS.finditer(piece):
                run = m.group()
                if m.group(1) is None or len(run) == 1:
                    toks.append(run)
                else:
                    toks.extend(run[i : i + 2] for i in range(len(run) - 1))
            grams = []
            for tok in toks:
                if len(tok) < GRAM and tok.isascii():
                    continue
                w = f"<{tok}>"
                grams.extend(["#" + w[i : i + GRAM] for i in range(len(w) - GRAM + 1)] or ["#" + w])
            self.words.append(toks)
            self.marks.append(marks)
            self.grams.append(grams)


def window_features(view_text: str) -> list[list[object]]:
    """The features of each window of a folded text, as the scorer reads them: the
    distinct words, the bigrams (pairs of words), indicators (``!``) and n-grams (``#``) of
    each of its two chunks, and the bigram across them. For training and tests;
    :meth:`Model.scores` sums the same features' weights without building these lists."""
    c = Chunks(view_text)
    words = c.words
    per_chunk: list[list[object]] = []
    for toks, extra, grams in zip(words, c.marks, c.grams, strict=True):
        feats: list[object] = list(dict.fromkeys(toks))
        feats.extend(pairwise(toks))  # a bigram twice in a chunk is rare: not worth a set
        feats.extend(extra)
        feats.extend(dict.fromkeys(grams))
        per_chunk.append(feats)
    if len(per_chunk) == 1:
        return per_chunk
    out = []
    for i in range(len(per_chunk) - 1):
        bridge: list[object] = []
        if words[i] and words[i + 1]:
            bridge.append((words[i][-1], words[i + 1][0]))
        out.append(per_chunk[i] + per_chunk[i + 1] + bridge)
    return out


class Model:
    """Weights ({feature: weight}; a bigram's key is a pair of words), bias, threshold."""

    __slots__ = ("bias", "threshold", "weights")

    def __init__(self, weights: dict[object, float], bias: float, threshold: float) -> None:
        self.weights = weights
        self.bias = bias
        self.threshold = threshold

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Model:
        weights: dict[object, float] = {}
        words: dict[str, str] = {}  # one string per word, shared by its bigrams
        word = words.setdefault
        for key, w in data["weights"].items():  # type: ignore[attr-defined]
            if key[:1] in "!#":
                weights[key] = float(w)
            else:
                a, sp, b = key.partition(" ")
                weights[(word(a, a), word(b, b)) if sp else word(a, a)] = float(w)
        return cls(weights, float(data["bias"]), float(data["threshold"]))  # type: ignore[arg-type]

    def scores(self, view_text: str) -> tuple[list[int], list[float]]:
        """The chunk starts of a folded text (its length last) and each window's score."""
        c = Chunks(view_text)
        cuts, words = c.cuts, c.words
        get = self.weights.get
        zero = repeat(0.0)
        sums: list[float] = []
        sizes: list[int] = []  # features per chunk
        for toks, extra, grams in zip(words, c.marks, c.grams, strict=True):
            unique = set(toks)
            total = sum(map(get, unique, zero)) + sum(map(get, pairwise(toks), zero))
            size = len(unique) + max(len(toks) - 1, 0)
            if extra:
                total += sum(map(get, extra, zero))
                size += len(extra)
            if grams:
                distinct = set(grams)
                total += sum(map(get, distinct, zero))
                size += len(distinct)
            sums.append(total)
            sizes.append(size)
        bias = self.bias
        if len(sums) == 1:
            return cuts, [bias + sums[0] / sqrt(max(sizes[0], FLOOR))]
        out = []
        for i in range(len(sums) - 1):
            a, b = words[i], words[i + 1]
            size = sizes[i] + sizes[i + 1]
            bridge = 0.0
            if a and b:
                bridge = get((a[-1], b[0]), 0.0)
                size += 1
            out.append(bias + (sums[i] + sums[i + 1] + bridge) / sqrt(max(size, FLOOR)))
        return cuts, out

    def short(self, text: str) -> float:
        """The score of an ASCII text of one chunk: what :meth:`scores` gives it, without
        the chunk bookkeeping (a one-line request costs a few look-ups)."""
        low = text.lower()
        toks = _plain(low).split()
        get = self.weights.get
        zero = repeat(0.0)
        unique = set(toks)
        total = sum(map(get, unique, zero)) + sum(map(get, pairwise(toks), zero))
        size = len(unique) + max(len(toks) - 1, 0)
        if _may_indicate(low):
            extra = _indicators(low)
            total += sum(map(get, extra, zero))
            size += len(extra)
        return self.bias + total / sqrt(max(size, FLOOR))

    def spans(self, view_text: str) -> list[tuple[int, int]]:
        """Spans of the folded text whose windows reach the threshold, merged."""
        if len(view_text) <= CHUNK and view_text.isascii():
            return [(0, len(view_text))] if self.short(view_text) >= self.threshold else []
        cuts, scores = self.scores(view_text)
        spans: list[tuple[int, int]] = []
        threshold = self.threshold
        last = len(cuts) - 1
        for i, score in enumerate(scores):
            if score < threshold:
                continue
            s, e = cuts[i], cuts[min(i + 2, last)]
            if spans and s < spans[-1][1]:
                spans[-1] = (spans[-1][0], e)
            else:
                spans.append((s, e))
        return spans


@functools.cache
def model() -> Model:
    """The shipped model (read once)."""
    return Model.from_json(json.loads(WEIGHTS.read_text(encoding="utf-8")))


def flagged(text: str, view: View | None = None) -> list[tuple[int, int]]:
    """Spans of ``text`` (the caller's string) whose windows the model scores as
    instructions to a model. ``view``: the folded form of ``text``, when the caller has it."""
    if len(text) < 6:
        return []
    if view is None and text.isascii():  # the folded form of ASCII is the text itself
        return [_trimmed(text, s, e) for s, e in model().spans(text)]
    if view is None:
        view = folded(text)
    spans = model().spans(view.text)
    if not spans:
        return []
    return [_trimmed(text, *view.original(s, e)) for s, e in spans]


def _trimmed(text: str, s: int, e: int) -> tuple[int, int]:
    """A span without the white space at its ends."""
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e
