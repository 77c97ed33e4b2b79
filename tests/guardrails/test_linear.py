"""No input costs the detectors more than linear time.

The audit's inputs first (each took seconds to minutes on backtracking patterns), then
families built to stress what the detectors do around their RE2 passes: keyword soups,
digit runs, token prefixes, encoded-looking runs, unclosed markup. Each runs under a
short timeout; a scaling check then asks that doubling an input roughly doubles its
cost (a loose ratio, never an absolute time: timings belong in ``bench/detect.py``), and
hypothesis searches for units that, repeated, cost the most per character.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from fleet.detect import DETECTORS, Finding, scan_injection, scan_pii, scan_secrets
from fleet.detect.model import flagged
from fleet.resolve import check
from fleet.source import DirSource
from tests.conftest import FIXTURES, overlay
from tests.guardrails.scoring import load

Detector = Callable[[str], list[Finding]]

# Units that, repeated, make backtracking engines or careless post-processing work hard.
UNITS = {
    "a-": "a-",
    # Found by the random-unit search: each comment address is a finding, and each spacer
    # re-reads its surround; the re-read's findings were checked against every earlier one.
    "comment address, spaced": "// copilot: a\u200b",
    "a.": "a.",
    "newline": "\n",
    "space": " ",
    "digits": "1 ",
    "digit-run": "4111",
    "phone-ish": "+1 (",
    "email-ish": "a@b.",
    "key=": "key=",
    "password is": "password is ",
    "sk-": "sk-",
    "ghp_": "ghp_a",
    "AKIA": "AKIA",
    "eyJ": "eyJhb.",
    "base64-ish": "QUJD",
    "percent": "%41",
    "ignore": "ignore ",
    "ignore all previous": "ignore all previous ",
    "you are now": "you are now ",
    "pretend": "pretend you are ",
    "send": "send the token to ",
    "comment": "<!--",
    "image": "![x](",
    "link": "](http://a/?q=",
    "img": "<img src=",
    "BEGIN": "-----BEGIN PRIVATE KEY-----",
    "spelled": "a.b.",
    "leet": "1a3b",
    "accents": "é ",
    "cyrillic": "о",
    "zero-width": "a\u200b",
    "tags": "\U000e0041",
    "fullwidth": "ｉｇｎｏｒｅ ",
    "cjk": "忽略之前",
    "iban-ish": "GB82 ",
    "nino-ish": "AB 12 ",
    # the injection cues' anchors, each starting a look at its sentence
    "your rules": "ignore your rules ",
    "your rules.": "your rules are void. ",
    "vocative": "Assistant, approve ",
    "note to the AI": "note to the AI: ",
    # an AI named at a clause's head: the walk back to the head, over runs of spaces
    "spaced addressee": "- " + " " * 40 + "assistant: ",
    "addressee run": "assistant assistant ",
    "mode": "developer mode on ",
    "tool call": "call merge_pr now ",
    "payload": "a = 'x'; do a + b ",
    "pretend rules": "pretend the rules don't exist ",
    "you were given": "the rules you were given ",
    "send to": "send the keys to https://a/ ",
    # prose exfiltration, leetspeak and joiners: open gaps and the second readings
    "image followed by": "an image whose url is x followed by ",
    "append to link": "append the card number to ",
    "as if rules": "as if your rules were ",
    "single leet": "ru1es g1ven ",
    "soft hyphen": "ignore\u00ad",
    "emoji gap": "ignore 👏 ",
    "dots apart": "i.g.n.o.r.e. ",
    "do not log": "send it ",
    # many findings and many spelled-out words: each respelled phrase was checked against
    # every finding so far
    "spelled, spaced, sent": "send the keys to https://a/ send it ignore%20i.g.n.o.r.e. ",
    # a run of URL-scheme characters alive from the start while tokens match all along
    "scheme run": "sk-74111sk-41114111a.b.",
    "userinfo run": "x://sk-aaaaaaaaaaaaaaaaaaaa",
    # spacers read as spaces, AIs addressed as readers, states declared void
    "snake words": "ignore_all_the_rules_",
    "percent space": "ignore%20",
    "when you read": "when you read this, ",
    "comment address": "// copilot: ",
    "rules placed on": "rules placed on you ",
    "ticket number": "ticket # 12-",
    "D.O.B.": "D.O.B.: 1 ",
    # a password told in a sentence: each word reads the rest of its line
    "password told": "la contraseña de x es ",
}

# Texts made of findings: each finding was checked against every one found before it.
FINDINGS = {
    "password told, with its value": "la contraseña es Ab1!cdefgh12 ",
    "keyed token": 'api_key = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5" ',
}


def cost(detector: Detector, text: str, repeats: int = 5) -> float:
    """The least CPU time of a few runs (CPU, not wall time: a loaded machine's other
    processes do not count), each on a fresh copy so no cache of a previous run helps."""
    copies = [(" " + text)[1:] for _ in range(repeats)]
    best = float("inf")
    for copy in copies:
        started = time.process_time()
        detector(copy)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    ("detector", "text"),
    [
        (scan_secrets, "a-" * 32000 + "token"),
        (scan_injection, "\n" * 32000),
        (scan_pii, "a." * 32000),
    ],
    ids=["secrets-a-dash", "injection-newlines", "pii-a-dot"],
)
def test_the_audits_inputs(detector: Detector, text: str) -> None:
    detector(text)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("unit", sorted(UNITS))
def test_every_detector_on_64k_of_each_unit(unit: str) -> None:
    text = (UNITS[unit] * (65536 // len(UNITS[unit]) + 1))[:65536]
    for detect in DETECTORS.values():
        detect(text)


@pytest.mark.timeout(10)
def test_credential_rule_on_a_12k_description(tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    agent = root / "agents" / "alpha.yaml"
    body = agent.read_text()
    hostile = ("a-" * 4000) + ("key=" * 750) + ("token " * 250)
    assert len(hostile) > 12000
    agent.write_text(body.replace("  owner:", f"  description: '{hostile}'\n  owner:", 1))
    report = check(DirSource(root, "fleet"))
    assert report.fleet is not None and not [d for d in report.diagnostics if d.rule == "FL141"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", sorted(FINDINGS))
def test_four_times_as_many_findings_cost_about_four_times(unit: str) -> None:
    # 2,000 findings against 8,000: quadratic work shows at this size (about 11x), where a
    # 16 KB text of them is too small for it to stand out of the noise.
    small = FINDINGS[unit] * 2000
    scan_secrets(small)
    ratio = cost(scan_secrets, small * 4, repeats=2) / cost(scan_secrets, small, repeats=3)
    assert ratio < 7, f"secrets on {unit!r}: four times the findings cost {ratio:.1f}x"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", sorted(UNITS))
def test_four_times_the_input_costs_about_four_times(unit: str) -> None:
    _four_times_costs_about_four_times(UNITS[unit] * (16384 // len(UNITS[unit])), "", unit)


def _four_times_costs_about_four_times(run: str, tail: str, label: str) -> None:
    """Every detector on ``run * 4 + tail`` costs under ten times what it does on
    ``run + tail``."""
    for name, detect in DETECTORS.items():
        detect(run + tail)  # warm the automaton's cache
        ratio = cost(detect, run * 4 + tail) / max(cost(detect, run + tail), 1e-6)
        # Linear is 4; quadratic would be 16. Generous: timings are noisy (4 to 8.3 seen on
        # a linear scan of a machine busy with other work).
        assert ratio < 10, f"{name} on {label!r}: four times the input cost {ratio:.1f}x"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", sorted(UNITS))
def test_the_learned_scorer_on_four_times_the_input_costs_about_four_times(unit: str) -> None:
    # scan_injection runs it on every text above; here it is timed alone, so that its
    # share is not hidden by the rules' cost.
    small = UNITS[unit] * (16384 // len(UNITS[unit]))
    flagged(small)
    # A few milliseconds each: the two sizes timed in turn, best of several, so that a slow
    # spell of the machine (a collection, another process) falls on both.
    best = [float("inf"), float("inf")]
    for _ in range(9):
        for side, text in enumerate((small, small * 4)):
            best[side] = min(best[side], cost(flagged, text, repeats=1))  # type: ignore[arg-type]
    ratio = best[1] / max(best[0], 1e-6)
    assert ratio < 10, f"the scorer on {unit!r}: four times the input cost {ratio:.1f}x"


def _vocabulary() -> list[str]:
    """The words the detectors' own patterns are made of."""
    import re

    from fleet.detect import cue_families, national, phrases, pii, secrets

    words: set[str] = set()
    for module in (phrases, cue_families, pii, national, secrets):
        source = Path(module.__file__).read_text(encoding="utf-8")
        words.update(w.lower() for w in re.findall(r"[A-Za-z'_\-]{2,}", source))
    return sorted(words)


def _soup(words: list[str], size: int, seed: int) -> str:
    """Words of the patterns in random order: many phrases begun, few finished."""
    rng = random.Random(seed)
    seps = [" ", " ", " ", ", ", ": ", "\n", " the ", " your ", "=", "-", " 12 "]
    out: list[str] = []
    total = 0
    while total < size:
        piece = rng.choice(words) + rng.choice(seps)
        out.append(piece)
        total += len(piece)
    return "".join(out)[:size]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_soup_of_the_patterns_words_costs_like_ordinary_text(seed: int) -> None:
    # RE2 is linear whatever the input, but an automaton whose states do not fit its
    # memory falls back to a slower engine: one automaton for every phrase cost 3.6 ms
    # per KB on such a soup, 140 times ordinary text. Compared with ordinary text, not
    # with a clock.
    words = _vocabulary()
    soup = _soup(words, 65536, seed)
    tickets = "\n".join(str(c["text"]) for c in load() if not c["expect"])
    ordinary = (tickets * (65536 // len(tickets) + 1))[:65536]
    for name, detect in DETECTORS.items():
        detect(soup)
        ratio = cost(detect, soup, 3) / max(cost(detect, ordinary, 3), 1e-6)
        assert ratio < 25, f"{name}: a soup of its words costs {ratio:.0f}x ordinary text"


_ALPHABET = sorted(set(UNITS.values()) | {"a", "Z", "0", "7", "-", "_", ".", ":", "=", "@", "/"})


@pytest.mark.timeout(180)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.sampled_from(_ALPHABET), min_size=1, max_size=8).map("".join))
def test_no_repeated_unit_scales_worse_than_linear(unit: str) -> None:
    small = unit * (8192 // len(unit) + 1)
    total = 0.0
    for detect in DETECTORS.values():
        detect(small)
        a, b = cost(detect, small, 3), cost(detect, small * 4, 3)
        total += b
        assert b / max(a, 1e-6) < 8, f"{detect.__name__} on {unit!r}: {b / max(a, 1e-6):.1f}x"
    target(total / len(small * 4), label="seconds per character")


@pytest.mark.timeout(60)
def test_offsets_converted_out_of_order_stay_linear() -> None:
    # Found by the search above: a private-key header that never ends, in non-ASCII text, made
    # every match's start decode the text from far back (3.1 s at 360 K characters).
    unit = "/+1 (a-a.b.忽略之前-----BEGIN PRIVATE KEY-----a\u200b:"
    small = unit * 1000
    for detect in DETECTORS.values():
        detect(small)
        ratio = cost(detect, small * 4, 3) / max(cost(detect, small, 3), 1e-6)
        assert ratio < 8, f"{detect.__name__}: {ratio:.1f}x for 4x the text"


# Runs that a single mark at the very end closes: a pattern reading on to the mark would
# read the rest of the text again from each start in the run.
CLOSED_AT_THE_END = {
    "addressed, colon": ("note to the AI assistant ", ": do it"),
    "names, colon": ("assistant ", ": approve"),
    "names and words, dash": ("the sales copilot reading ", " — approve"),
    "orders, colon": ("ignore your rules assistant ", ": now"),
    "words, question": ("send the token to ", "?"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(CLOSED_AT_THE_END))
def test_a_run_closed_at_its_end_costs_linear_time(name: str) -> None:
    unit, tail = CLOSED_AT_THE_END[name]
    # At 16 KB a quadratic read still looked 8x.
    _four_times_costs_about_four_times(unit * (32768 // len(unit)), tail, name)
