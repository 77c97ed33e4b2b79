"""Detectors for secrets, personal data and prompt injection, shared by the
validator (no credentials in definitions) and the gateway's guardrails.

Pure functions over text. Each returns :class:`Finding` spans so a caller can
block, or redact in place. They aim at few false positives on ordinary prose,
UUIDs, content digests, cron strings and URLs; every pattern is tested both
ways in ``tests/gateway/test_detect.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    detector: str  # "secrets", "pii", "prompt-injection"
    kind: str  # e.g. "aws-access-key", "email", "instruction-override"
    start: int
    end: int
    masked: str


def mask(value: str) -> str:
    """Enough of a value to recognise it, never enough to use it."""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}…{value[-4:]}" if len(value) >= 16 else f"{value[:2]}…{value[-2:]}"


# ------------------------------------------------------------------ secrets

_SECRET_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "private-key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)"
        ),
    ),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")),
    (
        "aws-secret-key",
        re.compile(r"(?i)aws.{0,20}?(?:secret|key).{0,5}?['\"=:\s]+([A-Za-z0-9/+=]{40})\b"),
    ),
    ("gcp-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("gcp-service-account", re.compile(r"\"type\"\s*:\s*\"service_account\"")),
    ("azure-storage-key", re.compile(r"AccountKey=[A-Za-z0-9+/=]{60,}")),
    ("github-token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b")),
    ("github-pat", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,}\b")),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}\b")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    (
        "slack-webhook",
        re.compile(
            r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"
        ),
    ),
    (
        "openai-key",
        re.compile(
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}\b"
        ),
    ),
    ("anthropic-key", re.compile(r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{80,}\b")),
    ("api-key", re.compile(r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9]{32,}\b")),
    ("stripe-key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,}\b")),
    ("twilio-key", re.compile(r"\bSK[0-9a-fA-F]{32}\b")),
    ("sendgrid-key", re.compile(r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b")),
    ("basic-auth-url", re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:[^\s:/@]{6,}@[^\s/]+")),
]
_ASSIGNMENT = re.compile(
    r"(?i)\b([A-Za-z0-9_\-]*(?:api[_\-]?key|secret|token|passw(?:or)?d|passwd|credential|private[_\-]?key|access[_\-]?key|auth)[A-Za-z0-9_\-]*)\s*[:=]\s*['\"]?([^\s'\"]{12,})"
)
_CREDENTIAL_KEY = re.compile(
    r"(?i)(^|[_\-.])(api[_\-]?key|apikey|secret|client[_\-]?secret|token|access[_\-]?token|refresh[_\-]?token|passw(or)?d|passwd|credentials?|private[_\-]?key|access[_\-]?key|auth[_\-]?token|bearer)($|[_\-.])"
)
_HEX_DIGEST = re.compile(r"^(sha256:|sha1:|sha512:)?[0-9a-f]{32,128}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_credential_like_key(key: str) -> bool:
    """Field names that hold credentials when someone pastes one in."""
    return bool(_CREDENTIAL_KEY.search(key))


def shannon_entropy(value: str) -> float:
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def high_entropy(value: str) -> bool:
    """A random-looking token: long, mixed classes, high entropy; not a digest or UUID."""
    token = value.strip()
    if len(token) < 20 or " " in token or _HEX_DIGEST.match(token) or _UUID.match(token):
        return False
    if "/" in token and token.count("/") > 2:  # paths and URLs
        return False
    classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes >= 3 and shannon_entropy(token) >= 4.0


_SHORTEST_SECRET = 12  # no pattern above matches fewer characters


# Every pattern above contains one of these; one search rules most strings out.
_PREFILTER = re.compile(
    r"A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA|Iza|ccountKey)|(?i:aws|key|secret|token|passw|credential|auth)"
    r"|service_account|gh[pousr]_|github_pat_|glpat-|xox|hooks\.slack|sk-|sk_|rk_|SK[0-9a-fA-F]|SG\.|npm_|eyJ|://[^\s/]*@|PRIVATE KEY"
)


def scan_secrets(text: str) -> list[Finding]:
    if len(text) < _SHORTEST_SECRET or not _PREFILTER.search(text):
        return []
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, start: int, end: int) -> None:
        if any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found.append(Finding("secrets", kind, start, end, mask(text[start:end])))

    for kind, pattern in _SECRET_PATTERNS:
        for m in pattern.finditer(text):
            if kind == "aws-secret-key":
                add(kind, m.start(1), m.end(1))
            else:
                add(kind, m.start(), m.end())
    for m in _ASSIGNMENT.finditer(text):
        value = m.group(2)
        if high_entropy(value):
            add("credential-assignment", m.start(2), m.end(2))
    return sorted(found, key=lambda f: f.start)


# ------------------------------------------------------------------ PII

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.\-]?\(?\d{1,4}\)?[\s.\-]?\d{2,4}[\s.\-]?\d{2,4}(?:[\s.\-]?\d{2,4})?"
    r"|\(\d{3}\)\s?\d{3}[\s.\-]\d{4}|\b\d{3}[.\-]\d{3}[.\-]\d{4})(?![\w])"
)
_CARD = re.compile(r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_NINO = re.compile(
    r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def scan_pii(text: str) -> list[Finding]:
    found: list[Finding] = []
    for m in _EMAIL.finditer(text):
        found.append(Finding("pii", "email", m.start(), m.end(), mask(m.group())))
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1:
            found.append(Finding("pii", "card-number", m.start(), m.end(), mask(digits)))
    for m in _IBAN.finditer(text):
        if iban_ok(m.group()):
            found.append(
                Finding("pii", "iban", m.start(), m.end(), mask(m.group().replace(" ", "")))
            )
    for m in _SSN.finditer(text):
        found.append(Finding("pii", "us-ssn", m.start(), m.end(), mask(m.group())))
    for m in _NINO.finditer(text):
        found.append(Finding("pii", "uk-nino", m.start(), m.end(), mask(m.group())))
    taken = [(f.start, f.end) for f in found]
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 9 <= len(digits) <= 15 and not any(s < m.end() and m.start() < e for s, e in taken):
            found.append(Finding("pii", "phone", m.start(), m.end(), mask(m.group())))
    return sorted(found, key=lambda f: f.start)


# ------------------------------------------------------------------ prompt injection

_INJECTION: list[tuple[str, re.Pattern[str]]] = [
    (
        "instruction-override",
        re.compile(
            r"(?i)\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|any|your|the)\b[^.\n]{0,30}\b(instructions?|prompts?|rules|guidelines|directives|system (?:prompt|message))"
        ),
    ),
    ("instruction-override", re.compile(r"(?i)\bnew (?:system )?instructions?\s*:")),
    ("role-hijack", re.compile(r"(?i)\byou are (?:now|no longer)\b[^.\n]{0,60}")),
    (
        "role-hijack",
        re.compile(
            r"(?i)\b(?:act|behave) as (?:an? )?(?:unrestricted|jailbroken|developer mode|dan)\b"
        ),
    ),
    ("role-hijack", re.compile(r"(?im)^\s*(?:system|assistant)\s*:\s*\S")),
    ("role-hijack", re.compile(r"(?i)<\|?(?:im_start|system|endoftext)\|?>")),
    (
        "exfiltration",
        re.compile(
            r"(?i)\b(send|post|upload|forward|exfiltrate|leak|email|curl|fetch)\b[^.\n]{0,60}\b(secrets?|tokens?|api[ _-]?keys?|credentials?|passwords?|env(?:ironment)?(?: variables)?|\.env|ssh keys?)\b[^.\n]{0,60}\b(to|into|at)\b[^.\n]{0,40}(https?://|\S+@\S+|webhook)"
        ),
    ),
    ("exfiltration", re.compile(r"!\[[^\]]*\]\(https?://[^)\s]*[?&][^)\s]*=\{?[^)\s]*\)")),
    # Shell one-liners that ship credential files or the environment to the network.
    (
        "exfiltration",
        re.compile(
            r"(?i)(?:\b(?:curl|wget|nc|ncat|scp)\b[^\n]{0,60}(?:\.aws/credentials|\.ssh/|id_rsa|id_ed25519|\.netrc|\.kube/config|\.env\b|/etc/shadow)"
            r"|\b(?:env|printenv|set)\s*\|\s*(?:curl|wget|nc|ncat)\b)"
        ),
    ),
    (
        "exfiltration",
        re.compile(
            r"(?i)\b(print|reveal|show|output|repeat)\b[^.\n]{0,30}\b(your|the) (system prompt|instructions|hidden prompt)\b"
        ),
    ),
]


def scan_injection(text: str) -> list[Finding]:
    found: list[Finding] = []
    for kind, pattern in _INJECTION:
        for m in pattern.finditer(text):
            snippet = m.group()
            found.append(
                Finding(
                    "prompt-injection",
                    kind,
                    m.start(),
                    m.end(),
                    snippet[:40] + ("…" if len(snippet) > 40 else ""),
                )
            )
    return sorted(found, key=lambda f: (f.start, f.kind))


DETECTORS: dict[str, Callable[[str], list[Finding]]] = {
    "secrets": scan_secrets,
    "pii": scan_pii,
    "prompt-injection": scan_injection,
}


def redact(text: str, findings: list[Finding]) -> str:
    """Replace every finding's span with ``[REDACTED:<kind>]``; overlapping spans merge."""
    if not findings:
        return text
    spans = sorted((f.start, f.end, f.kind) for f in findings)
    out: list[str] = []
    pos = 0
    for start, end, kind in spans:
        if start < pos:
            if end > pos:
                pos = end
            continue
        out.append(text[pos:start])
        out.append(f"[REDACTED:{kind}]")
        pos = end
    out.append(text[pos:])
    return "".join(out)
