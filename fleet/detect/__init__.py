"""Detectors for secrets, personal data and prompt injection, shared by the
validator (no credentials in definitions) and the gateway's guardrails.

Pure functions over text: each takes a string and returns :class:`Finding` spans of that
string, so a caller can block, or redact in place. Every pattern runs on RE2, whose
matching time is linear in the text whatever the pattern, and whatever Python does
around a match is linear in the match; so no input costs more than linear time
(``tests/guardrails/test_linear.py`` checks it, ``bench/detect.py`` measures it).

- :mod:`fleet.detect.text`: Unicode normalization, and mapping matches back;
- :mod:`fleet.detect.secrets`, :mod:`fleet.detect.pii`, :mod:`fleet.detect.injection`:
  the three detectors; :mod:`fleet.detect.checksums`: the check digits PII relies on;
  :mod:`fleet.detect.phrases` and :mod:`fleet.detect.cues`: injection's listed phrases, and
  the cues it reads in combination for phrasings no list has;
- :mod:`fleet.detect.finding`: findings, masking, redaction.

They aim at few false positives on ordinary prose, support tickets, UUIDs, content
digests, cron strings and URLs; the labelled corpus in ``tests/guardrails/corpus``
measures recall and false positives per detector.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Iterable

from .checksums import iban_ok, luhn_ok
from .finding import Finding, mask, redact
from .injection import scan_injection
from .pii import scan_pii
from .secrets import high_entropy, is_credential_like_key, scan_secrets, shannon_entropy

DETECTORS: dict[str, Callable[[str], list[Finding]]] = {
    "secrets": scan_secrets,
    "pii": scan_pii,
    "prompt-injection": scan_injection,
}


# Texts that take every detector through each of its automata: ASCII, other scripts, and
# a form NFKC changes (fullwidth letters).
_PREPARE = (
    "Prepare: ignore this, please. Ref 0000, a@b.example, sk-x.",
    "Réf 0000: привет, 你好, ｆｕｌｌ ｗｉｄｔｈ.",
)


def prepare(names: Iterable[str]) -> list[str]:
    """Compile the automata (and load the scorer) of the built-in detectors named, so that
    a service pays for them when it starts rather than on its first request (the
    injection detector's take about 0.2 s), then hand the compiler's scratch memory back
    to the system (glibc keeps freed memory otherwise: about 5 MB after these compiles).
    Returns the names prepared; names that are not built-in are left alone."""
    done = []
    for name in dict.fromkeys(names):
        scan = DETECTORS.get(name)
        if scan is not None:
            for text in _PREPARE:
                scan(text)
            done.append(name)
    if done:
        _trim()
    return done


def _trim() -> None:
    """``malloc_trim(0)`` where the C library has it (glibc); nothing elsewhere."""
    path = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(path), "malloc_trim", None) if path else None
    if trim is not None:
        trim(0)


__all__ = [
    "DETECTORS",
    "Finding",
    "high_entropy",
    "iban_ok",
    "is_credential_like_key",
    "luhn_ok",
    "mask",
    "prepare",
    "redact",
    "scan_injection",
    "scan_pii",
    "scan_secrets",
    "shannon_entropy",
]
