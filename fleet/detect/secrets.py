"""Secrets: provider token formats, private keys, JWTs, credentials in URLs and headers,
and credential-named assignments with random-looking values.

Two RE2 passes over the exact form of the text. The first finds provider tokens by their
documented prefixes (``sk-proj-``, ``sk-ant-``, ``hf_``, ``ghp_``, ``glpat-``, ``xoxb-``,
``AKIA``, ``AIza``…); the second finds values next to a credential word (``password=``,
``"api_key": "…"``, ``Authorization: Bearer …``, an AWS secret key near the word "aws").
Patterns match a token's whole run of characters (``[A-Za-z0-9_-]+``) rather than a
counted length, which keeps RE2's automaton small; lengths, character mix, entropy and
placeholders (``sk-xxxx``, ``<your-key>``) are checked in Python on each candidate, and a
candidate is never re-scanned, so the work stays linear.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from .finding import Finding, mask, merge_spans, overlaps
from .text import Pattern, View, compile, exact


@dataclass(frozen=True)
class _Token:
    kind: str
    pattern: str  # no capturing groups: each token is one group of the combined pattern
    prefix: int = 0  # characters before the random part
    min_body: int = 0  # length the random part must reach
    check: Callable[[str], str | None] | None = None  # the kind, or None to drop it
    near: str = (
        ""  # a pattern that must match in the 60 characters before (a format too plain alone)
    )


# ------------------------------------------------------------------ value heuristics


def shannon_entropy(value: str) -> float:
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


_PLACEHOLDER_MARKS = ("xxxx", "****", "....", "<", ">", "${", "{{", "%(", "your", "redacted",
                      "placeholder", "changeme", "insert", "dummy", "here")  # fmt: skip


_JOINS = re.compile(r"[-_.\s]")
# The words that say a joined value is a stand-in ("dummy" is one of the marks above already).
_STAND_IN_PARTS = frozenset({"test", "testing", "example", "sample", "fake", "mock", "demo"})


def placeholder(value: str) -> bool:
    """``sk-xxxx…``, ``<your-key>``, ``${TOKEN}``, ``********``: a stand-in, not a value."""
    low = value.lower()
    if any(mark in low for mark in _PLACEHOLDER_MARKS):
        return True
    distinct = set(low)
    if len(distinct) < 5 or any(ch * 6 in low for ch in distinct):
        return True
    # words and a short number joined, one of them saying so: "test-token-123", "fake_key_1"
    parts = _JOINS.split(low)
    return (
        len(parts) > 1
        and not _STAND_IN_PARTS.isdisjoint(parts)
        and all(p.isalpha() or (p.isdigit() and len(p) <= 4) for p in parts)
    )


_LOWER_SET = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER_SET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGIT_SET = frozenset("0123456789")


def _classes(value: str) -> int:
    """How many of lower case, upper case, digits and other characters ``value`` has."""
    chars = set(value)
    lower = not chars.isdisjoint(_LOWER_SET) or any(c.islower() for c in chars if c > "\x7f")
    upper = not chars.isdisjoint(_UPPER_SET) or any(c.isupper() for c in chars if c > "\x7f")
    digit = not chars.isdisjoint(_DIGIT_SET)
    other = any(not c.isalnum() for c in chars)
    return lower + upper + digit + other


def random_looking(value: str, min_len: int = 16) -> bool:
    """Long enough, more than one kind of character, no placeholder, and entropy near that
    of random text of its length."""
    if len(value) < min_len or placeholder(value):
        return False
    letters_digits = sum(ch.isalnum() for ch in value)
    if _classes(value) < 2 or letters_digits < len(value) * 0.6:
        return False
    return shannon_entropy(value) >= min(3.0, math.log2(len(value)) * 0.75)


_HEX_DIGEST = compile(r"(?:sha256:|sha1:|sha512:)?[0-9a-f]{32,128}")
_UUID = compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LOWER = compile(r"[a-z]")
_UPPER = compile(r"[A-Z]")
_DIGIT = compile(r"[0-9]")


def high_entropy(value: str) -> bool:
    """A random-looking token: long, mixed classes, high entropy; not a digest or UUID."""
    token = value.strip()
    if len(token) < 20 or " " in token or _HEX_DIGEST.fullmatch(token) or _UUID.fullmatch(token):
        return False
    if "/" in token and token.count("/") > 2:  # paths and URLs
        return False
    classes = sum(bool(p.search(token)) for p in (_LOWER, _UPPER, _DIGIT))
    return classes >= 3 and shannon_entropy(token) >= 4.0


_CREDENTIAL_KEY = compile(
    r"(?i)(?:^|[_\-.])(?:api[_\-]?key|apikey|secret|client[_\-]?secret|token|access[_\-]?token|refresh[_\-]?token|passw(?:or)?d|passwd|credentials?|private[_\-]?key|access[_\-]?key|auth[_\-]?token|bearer)(?:$|[_\-.])"
)


def is_credential_like_key(key: str) -> bool:
    """Field names that hold credentials when someone pastes one in."""
    return bool(_CREDENTIAL_KEY.search(key))


# ------------------------------------------------------------------ token formats


def _openai(value: str) -> str | None:
    if value.startswith("sk-ant-"):
        rest = value[7:]
        return "anthropic-key" if len(rest) >= 12 and not placeholder(rest) else None
    if value.startswith("sk-or-v1-"):
        return "openrouter-key" if len(value) >= 40 else None
    body = value[3:]
    for prefix in ("proj-", "svcacct-", "admin-", "None-"):
        if body.startswith(prefix):
            body = body[len(prefix) :]
            return "openai-key" if len(body) >= 20 and not placeholder(body) else None
    if "T3BlbkFJ" in body:
        return "openai-key"
    return "api-key" if random_looking(body, 20) else None


def _jwt(value: str) -> str | None:
    parts = value.split(".")
    return "jwt" if len(parts) == 3 and len(parts[0]) >= 10 and len(parts[1]) >= 10 else None


# key material: a run of base64, or a DER key's opening (MII…) however short what follows
_KEY_MATERIAL = re.compile(r"[A-Za-z0-9+/=]{16}|\bMII[A-Za-z0-9+/]")


def _private_key(value: str) -> str | None:
    header_end = value.find("-----", 11) + 5
    body = value[header_end : header_end + 400]
    if body.startswith("\\n"):  # a key inside a JSON string
        body = body.replace("\\n", "\n")
    # a sentence that names the header holds no key material
    return "private-key" if _KEY_MATERIAL.search(body) else None


def _basic_url(value: str) -> str | None:
    userinfo = value.split("://", 1)[1].rsplit("@", 1)[0]
    password = userinfo.split(":", 1)[1]
    if len(password) < 6 or placeholder(password) or password.lower() in _WEAK_WORDS:
        return None
    if password.startswith("$") or password.startswith("%"):
        return None
    return "basic-auth-url"


# Tokens that are a documented prefix and a run of random characters: (prefix, kind, the
# body's shortest length, the characters it is made of). One alternative of the token
# pattern for all of them, the prefix looked up after.
_B62 = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_B64URL = _B62 | frozenset("_-")
_HEXCHARS = frozenset("0123456789abcdef")
_LOWER36 = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_PREFIXED: tuple[tuple[str, str, int, frozenset[str]], ...] = (
    ("fo1_", "flyio-token", 40, _B64URL),
    ("SSWS 00", "okta-token", 38, _B64URL),
    ("HRKU-AA", "heroku-key", 50, _B64URL),
    ("nfp_", "netlify-token", 32, _B62),
    ("rnd_", "render-key", 28, _B62),
    ("pnu_", "prefect-key", 32, _B62),
    ("rubygems_", "rubygems-key", 48, _HEXCHARS),
    ("CLOJARS_", "clojars-token", 56, _LOWER36),
    ("shippo_live_", "shippo-token", 40, _HEXCHARS),
    ("shippo_test_", "shippo-token", 40, _HEXCHARS),
    ("bkua_", "buildkite-token", 40, _HEXCHARS),
    ("ops_eyJ", "onepassword-token", 100, _B64URL),
    ("sgp_", "sourcegraph-token", 40, _HEXCHARS | frozenset("_local")),
    ("sb_secret_", "supabase-key", 24, _B64URL),
    ("CFPAT-", "contentful-token", 40, _B64URL),
    ("EZAK", "easypost-key", 50, _B62),
    ("EZTK", "easypost-key", 50, _B62),
    ("rdme_", "readme-key", 60, _LOWER36),
    ("fio-u-", "frameio-token", 60, _B64URL),
    ("tk-us-", "scalingo-token", 44, _B64URL),
    ("duffel_live_", "duffel-token", 40, _B64URL),
    ("duffel_test_", "duffel-token", 40, _B64URL),
    ("p8e-", "adobe-secret", 30, _B62),
)


def _prefixed(value: str) -> str | None:
    for prefix, kind, min_body, chars in _PREFIXED:
        if value.startswith(prefix):
            body = value[len(prefix) :]
            if len(body) < min_body or not chars.issuperset(body) or placeholder(body):
                return None
            return kind
    return None


def _azure_devops_pat(value: str) -> str | None:
    """Azure DevOps' 84-character PAT: JQQJ99 at 52, AZDO at 76."""
    ok = len(value) == 84 and value[52:58] == "JQQJ99" and value[76:80] == "AZDO"
    return "azure-devops-pat" if ok else None


_WEAK_WORDS = {"password", "passwd", "secret", "pass", "pwd", "changeme", "change-me", "example", "test",
               "token", "none", "null", "user", "username", "admin",
               # the word "password" (or "secret") itself, in other languages: a stand-in
               "wachtwoord", "passwort", "kennwort", "contraseña", "contrasena", "motdepasse",
               "mot_de_passe", "senha", "parola", "parolă", "hasło", "haslo", "heslo", "lösenord",
               "losenord", "passord", "adgangskode", "salasana", "jelszó", "jelszo", "şifre", "sifre",
               "пароль", "κωδικός", "geheim", "segreto", "secreto", "segredo", "sekret"}  # fmt: skip

_TOKENS: list[_Token] = [
    _Token(
        "private-key",
        r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----|\z)",
        check=_private_key,
    ),
    _Token("putty-private-key", r"PuTTY-User-Key-File-\d: [a-z0-9\-]+"),
    _Token("nuget-api-key", r"\boy2[a-z0-9]{43}\b"),
    # a PEM private key in base64, as a kubeconfig's client-key-data or a Secret's data holds it
    # (a certificate, "LS0tLS1CRUdJTiBDRVJU…", is public)
    _Token(
        "private-key",
        r"\bLS0tLS1CRUdJTiB(?:SU0EgUFJJVkFURSBLRVk|QUklWQVRFIEtFWS|FQyBQUklWQVRFIEtFWS|"
        r"PUEVOU1NIIFBSSVZBVEUgS0VZ|FTkNSWVBURUQgUFJJVkFURSBLRVk|EU0EgUFJJVkFURSBLRVk)[A-Za-z0-9+/=]{40,}",
    ),
    _Token(
        "aws-access-key",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}\b",
        4,
        16,  # so that "AKIAXXXXXXXXXXXXXXXX" in the docs is a placeholder
    ),
    _Token("aws-session-token", r"\b(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz)[A-Za-z0-9/+=]+", 16, 100),
    _Token("openai-key", r"\bsk-[A-Za-z0-9_\-]{12,}", check=_openai),
    _Token("gcp-api-key", r"\bAIza[0-9A-Za-z_\-]+", 4, 30),
    _Token("gcp-oauth-secret", r"\bGOCSPX-[A-Za-z0-9_\-]+", 7, 20),
    _Token("google-oauth-token", r"\bya29\.[0-9A-Za-z_\-]+", 5, 30),
    _Token("google-refresh-token", r"\b1//0[A-Za-z0-9_\-]+", 4, 40),
    _Token("firebase-server-key", r"\bAAAA[A-Za-z0-9_\-]{7}:APA91b[A-Za-z0-9_\-]+", 18, 100),
    _Token("twitter-bearer-token", r"\bA{20,}[A-Za-z0-9%]+", 22, 40),
    _Token("gcp-service-account", r"\"type\"\s*:\s*\"service_account\""),
    _Token("azure-storage-key", r"AccountKey=[A-Za-z0-9+/=]+", 11, 60),
    _Token("azure-sas-signature", r"[?&]sig=[A-Za-z0-9%+/=]{30,}"),
    _Token("azure-shared-access-key", r"SharedAccessKey=[A-Za-z0-9+/=]+", 16, 30),
    _Token("azure-client-secret", r"\b[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}\b"),
    _Token("github-token", r"\bgh[pousr]_[A-Za-z0-9]+", 4, 30),
    _Token("github-pat", r"\bgithub_pat_[A-Za-z0-9_]+", 11, 40),
    _Token(
        "gitlab-token",
        r"\bgl(?:pat|dt|rt|ptt|soat|ft|cbt|imt|agent|oas|wt|ffct|cpt)-[A-Za-z0-9_.\-]+",
        5,  # the shortest prefix, "glrt-": a longer one counts its tail in the body
        20,
    ),
    _Token("gitlab-runner-token", r"\bGR1348941[A-Za-z0-9_\-]+", 9, 20),
    _Token("slack-token", r"\bxox[abposre]-[A-Za-z0-9\-]+", 5, 10),
    _Token("slack-token", r"\bxoxe\.xox[bp]-\d-[A-Za-z0-9\-]+", 12, 20),
    _Token("slack-app-token", r"\bxapp-\d-[A-Za-z0-9\-]+", 7, 20),
    _Token(
        "slack-webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]+",
        32,
        20,
    ),
    _Token(
        "discord-webhook",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]+",
    ),
    _Token(
        "teams-webhook",
        r"https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/[0-9a-f\-]{36}@[0-9a-f\-]{36}/IncomingWebhook/[0-9a-f]{32}/[0-9a-f\-]{36}",
    ),
    _Token(
        "doppler-token",
        r"\bdp\.(?:st|pt|ct|sa|scim|audit)\.(?:[a-z0-9_\-]{1,40}\.)?[A-Za-z0-9]{40,44}\b",
    ),
    _Token("huggingface-token", r"\bhf_[A-Za-z0-9]+", 3, 30),
    _Token("sentry-dsn", r"https://[0-9a-f]{32}@[a-z0-9.\-]*ingest\.(?:[a-z]{2}\.)?sentry\.io"),
    _Token("huggingface-token", r"\bapi_org_[A-Za-z0-9]+", 8, 30),
    _Token("stripe-key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+", 8, 16),
    _Token("stripe-webhook-secret", r"\bwhsec_[A-Za-z0-9]+", 6, 24),
    _Token("twilio-key", r"\bSK[0-9a-fA-F]{32}\b"),
    _Token("twilio-account-sid", r"\bAC[0-9a-fA-F]{32}\b"),
    _Token("sendgrid-key", r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{30,}"),
    _Token("npm-token", r"\bnpm_[A-Za-z0-9]+", 4, 36),
    _Token("pypi-token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]+", 21, 30),
    _Token("mailgun-key", r"\bkey-[0-9a-f]{32}\b"),
    _Token("mailchimp-key", r"\b[0-9a-f]{32}-us\d{1,2}\b"),
    _Token("shopify-token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]+", 6, 32),
    _Token("digitalocean-token", r"\bdo[por]_v1_[a-f0-9]+", 7, 64),
    _Token("databricks-token", r"\bdapi[0-9a-f]{32}(?:-\d)?\b"),
    _Token("atlassian-token", r"\bATATT3[A-Za-z0-9_=\-]+", 6, 50),
    _Token("linear-key", r"\blin_(?:api|oauth)_[A-Za-z0-9]+", 8, 32),
    _Token("notion-token", r"\b(?:secret_|ntn_)[A-Za-z0-9]+", 4, 40),
    _Token("groq-key", r"\bgsk_[A-Za-z0-9]+", 4, 40),
    _Token("replicate-token", r"\br8_[A-Za-z0-9]+", 3, 30),
    _Token("xai-key", r"\bxai-[A-Za-z0-9]+", 4, 60),
    _Token("perplexity-key", r"\bpplx-[A-Za-z0-9]+", 5, 40),
    _Token("langsmith-key", r"\blsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}\b"),
    _Token("pinecone-key", r"\bpcsk_[A-Za-z0-9_]+", 5, 40),
    _Token("tavily-key", r"\btvly-[A-Za-z0-9_\-]+", 5, 24),
    _Token("age-secret-key", r"\bAGE-SECRET-KEY-1[0-9A-Z]+", 16, 50),
    _Token("vault-token", r"\bhv[sbr]\.[A-Za-z0-9_\-]+", 4, 24),
    _Token("terraform-token", r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-]+", 23, 60),
    _Token("doppler-token", r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]+", 6, 40),
    _Token("square-token", r"\bsq0(?:atp|csp)-[A-Za-z0-9_\-]+", 7, 22),
    _Token("square-token", r"\bEAAA[A-Za-z0-9_\-]{60}\b"),
    _Token("facebook-token", r"\bEAA[A-Za-z0-9]+", 3, 100),
    _Token("dropbox-token", r"\bsl\.[A-Za-z0-9_\-]+", 3, 120),
    _Token("postman-key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b"),
    _Token("figma-token", r"\bfig[dhu]_[A-Za-z0-9_\-]+", 5, 30),
    _Token("supabase-token", r"\bsbp_[a-f0-9]+", 4, 40),
    _Token("pulumi-token", r"\bpul-[a-f0-9]+", 4, 40),
    _Token("docker-pat", r"\bdckr_pat_[A-Za-z0-9_\-]+", 9, 20),
    _Token("grafana-token", r"\bgl(?:c|sa)_[A-Za-z0-9_=+/\-]+", 4, 32),
    _Token("sentry-token", r"\bsntry[su]_[A-Za-z0-9_=+/\-]+", 6, 40),
    _Token("newrelic-key", r"\bNR(?:AK|II|JS)-[A-Za-z0-9]+", 5, 20),
    _Token("planetscale-token", r"\bpscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.\-]+", 11, 32),
    _Token("bitbucket-token", r"\bATBB[A-Za-z0-9_=.\-]+", 4, 32),
    _Token("jfrog-token", r"\bAKCp[A-Za-z0-9]+", 4, 60),
    _Token("brevo-key", r"\bxkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}\b"),
    _Token("telegram-bot-token", r"\b(?:bot)?\d{8,10}:AA[A-Za-z0-9_\-]{33}\b"),
    _Token(
        "discord-bot-token",
        r"\b[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38}\b",
    ),
    # (no "]+" at the end: the scan would ask the last part, 22 characters, for the body's 40)
    _Token("mapbox-secret", r"\bsk\.eyJ[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}", 3, 40),
    _Token("jwt", r"\beyJ[A-Za-z0-9_\-]{7,}\.eyJ[A-Za-z0-9_\-]{7,}\.[A-Za-z0-9_\-]*", check=_jwt),
    _Token(
        "azure-devops-pat",
        r"\b[a-z2-7]{52}\b",
        near=r"(?i)\bpat\b|personal access token|azure ?devops|\bado\b|\bazdo\b|dev\.azure\.com|visualstudio\.com|token",
        check=lambda v: "azure-devops-pat" if _classes(v) == 2 and not placeholder(v) else None,
    ),
    _Token("azure-devops-pat", r"\b[A-Za-z0-9]+JQQJ99[A-Za-z0-9]+", check=_azure_devops_pat),
    _Token(
        "prefixed-token",
        r"\b(?:" + "|".join(p.replace(" ", "\\ ") for p, *_ in _PREFIXED) + r")[A-Za-z0-9_\-]{16,}",
        check=_prefixed,
    ),
    _Token("flyio-token", r"\bFlyV1 fm[12][ar]?_[A-Za-z0-9+/=_\-]+", 10, 60),
    _Token("airtable-token", r"\bpat[A-Za-z0-9]{14}\.[a-f0-9]{64}\b"),
    _Token("dynatrace-token", r"\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b"),
    _Token("flutterwave-key", r"\bFLWSECK(?:_TEST)?-[a-f0-9]{32}-X\b"),
    _Token("alibaba-access-key", r"\bLTAI[A-Za-z0-9]{12,20}\b"),
    _Token("tencent-secret-id", r"\bAKID[A-Za-z0-9]{32}\b"),
    _Token("cloudflare-origin-ca-key", r"\bv1\.0-[a-f0-9]{24}-[a-f0-9]+", 30, 140),
    _Token("grafana-api-key", r"\beyJrIjoi[A-Za-z0-9+/=]+", 8, 60),
    _Token("typeform-token", r"\btfp_[A-Za-z0-9_.=\-]+", 4, 40),
    _Token("infracost-key", r"\bico-[A-Za-z0-9]{32}\b"),
    _Token("harness-pat", r"\bpat\.[A-Za-z0-9_\-]{22}\.[0-9a-f]{24}\.[A-Za-z0-9]{20}\b"),
    _Token("braintree-token", r"\baccess_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}\b"),
    _Token("mailgun-key", r"\bpubkey-[0-9a-f]{32}\b"),
    _Token(
        "aws-presigned-url",
        r"[?&]X-Amz-(?:Signature=[0-9a-f]{64}|Security-Token=[A-Za-z0-9%]{40,})",
    ),
    _Token(
        "basic-auth-url",
        # Bounded runs: an unbounded one, alive from an early start ("a.b.sk-…" is all
        # scheme characters), keeps every later search of the combined pattern reading
        # to the end of the text, quadratic in the number of tokens found.
        r"\b[a-zA-Z][a-zA-Z0-9+.\-]{0,31}://[^\s:/@]{0,128}:[^\s:/@]{1,512}@[^\s/]+",
        check=_basic_url,
    ),
]


def _scanning(token: _Token) -> str:
    """A token's pattern as scanned: a run of the body at least nearly as long as the
    shortest body that can pass (the check counts exactly), so a text of prefixes with
    short runs ("eyJhb.eyJhb.…") makes no candidates to check one by one."""
    if token.min_body and token.pattern.endswith("]+"):
        return f"{token.pattern[:-1]}{{{max(1, token.min_body - 4)},}}"
    return token.pattern


# In slices (fleet.detect.text._Split): the formats' counted runs make one union's states
# new at nearly every byte of text RE2 has not read (1,945 µs per KB of diverse 2 KB texts;
# 231 in 16 slices).
_TOKENS_RE = Pattern.union([_scanning(t) for t in _TOKENS], parts=16)
_NEAR = {i: compile(t.near) for i, t in enumerate(_TOKENS) if t.near}

# ------------------------------------------------------------------ values by a credential word

# "password" in other languages, and redis.conf's directives: words of the key patterns
# below, and of the key names whose values are passwords (_PASSWORD_WORDS).
_OTHER_PASSWORD_WORDS = (
    "senha", "wachtwoord", "hasło", "haslo", "parola", "lösenord", "losenord", "salasana",
    "jelszó", "jelszo", "heslo", "kennwort", "contrasenya", "şifre", "sifre", "kata sandi",
    "пароль", "密码", "密碼", "パスワード", "비밀번호", "requirepass", "masterauth",
)  # fmt: skip
_OTHER_PASSWORDS = "(?:" + "|".join(_OTHER_PASSWORD_WORDS) + ")"
_KEY_WORD = (
    r"(?:api[_.\- ]?key|apikey|api[_.\- ]?secret|app[_.\- ]?secret|app[_.\- ]?key|client[_.\- ]?secret"
    r"|secret[_.\- ]?key|secret|access[_.\- ]?key(?:[_.\- ]?id)?|access[_.\- ]?token|auth[_.\- ]?token"
    r"|refresh[_.\- ]?token|bearer[_.\- ]?token|token|passw(?:or)?d|passwort|mot de passe|contraseña"
    rf"|{_OTHER_PASSWORDS}|account[_.\- ]?key"
    r"|passphrase|passcode|pwd|credentials?|private[_.\- ]?key|signing[_.\- ]?key"
    r"|encryption[_.\- ]?key|master[_.\- ]?key|license[_.\- ]?key|webhook[_.\- ]?secret"
    r"|admin[_.\- ]?(?:api[_.\- ]?)?key|write[_.\- ]?key|service[_.\- ]?key|server[_.\- ]?key"
    r"|session[_.\- ]?(?:key|token|secret)|cookie|auth|sas|appid|[_.\-]pass\b"
    # "key" in other languages, as a portal labels its keys: "Nyckel 1:", "Schlüssel 2:"
    r"|(?:nyckel|nøgle|nøkkel|avain|schlüssel|clé|clave|chiave|chave|sleutel|klucz|klíč|ключ|"
    r"anahtar|kunci)(?: [12])?|key [12])"
)
# In slices (fleet.detect.text._Split): 272 µs per KB of diverse 2 KB texts as one
# pattern, 84 in 4.
_CONTEXT_RE = Pattern.sliced(
    # 1 the key word (and what follows it in an identifier); 2 an auth scheme (Basic,
    # Bearer…); the value: 3 double-quoted, 4 single-quoted, 5 bare
    # what it is for may stand between: "token for the partner API:", "password for wifi is"
    rf"({_KEY_WORD}[A-Za-z0-9_.\-]*)(?:[\"'\]]?(?: (?:for|of|on|to) (?:the |our |my |your )?[A-Za-z0-9_.\-]{{1,24}}(?: [A-Za-z0-9_.\-]{{1,24}})?)?\s*(?:=>|:=|=|:|\s(?:is|was|are)\b))\s*"
    r"((?:basic|bearer|token|digest)\s+)?"
    # A bare value holds a digit or a symbol, or is a long run of letters: a word is no secret.
    r"(?-i:\"([^\"\n]{6,200})\"|'([^'\n]{6,200})'|`?([^\s\"'`<>,;()\[\]{}]*[^\sA-Za-z\"'`<>,;()\[\]{}][^\s\"'`<>,;()\[\]{}]*|[A-Za-z]{12,}))"
    # 6 Authorization: Bearer …   7 Authorization: Basic …
    r"|(?i:\bbearer\s+)([A-Za-z0-9._~+/\-]+=*)"
    r"|(?i:\bbasic\s+)([A-Za-z0-9+/]{8,}={0,2})"
    # 8 forty base64 characters (an AWS secret access key's shape), checked for context
    r"|(?:^|[^A-Za-z0-9/+=])([A-Za-z0-9/+]{40})"
    # 9 a user and password on a command line (curl -u, wget --user…); 10 mysql's -pPASSWORD
    r"|\s(?:-u|--user|--proxy-user)[ =]['\"]?[A-Za-z0-9_.@\-]+[:,]([^\s\"'@,]+)"
    r"|\s-p([A-Za-z0-9!#%^&*_+=.~]+)(?:\s|$)"
    # 11, 12 mysql's -p'PASSWORD' and -p"PASSWORD"; 13 a password flag (redis-cli -a,
    # --password, --pass, --passwd), its value bare or quoted
    r"|\s-p'([^'\n]{6,128})'|\s-p\"([^\"\n]{6,128})\""
    r"|\s(?:-a|--pass(?:word|wd)?)[ =]['\"]?([^\s\"']{6,128})"
    # 14 PHP's define('DB_PASSWORD', '…'); 15 "password" and a value of three kinds of
    # character after a space: "user admin / password gYPbbb%Lhpfv&981"
    r"|(?i:define\(\s*['\"][A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|_KEY|SALT)[A-Z0-9_]*['\"]\s*,\s*)"
    r"['\"]([^'\"\n]{6,200})['\"]"
    rf"|(?i:\b(?:passw(?:or)?d|contraseña|mot de passe|passwort|{_OTHER_PASSWORDS})) `?([^\s\"'`<>,;()\[\]{{}}/.]{{8,64}})`?(?:[\s.,;]|$)"
    # 16 a password after -p and a space (sshpass -p '…', docker login -p …), checked for the
    # command; 17 a .pgpass line: host:port:database:user:password
    r"|\s-p\s+['\"]?([^\s\"']{6,128})"
    r"|(?m:^)[\w.\-*]+:(?:\d{2,5}|\*):[\w.\-*]+:[\w.\-*@]+:([^\s:]{6,128})[ \t]*$"
    # 18 a Go driver's DSN: user:password@tcp(host:port)/db
    r"|\b[\w.\-]+:([^\s:@/\"']{6,128})@(?:tcp|unix)\("
    # 19 a PowerShell parameter that holds a secret: -StorageAccountKey "…", -Password '…'
    r"|\s-[A-Za-z]*(?:AccountKey|Password|Secret|Token|ApiKey)\s+[\"']([^\"'\n]{8,200})[\"']"
    # 20 a login given as user / password: "Login: admin / o#3Io!QtR4EP"
    r"|(?i:\b(?:login|logon|credentials?|creds|zugang(?:sdaten)?|acceso|accesso|acesso)\s*[:=]\s*)"
    r"[\w.@\-]{2,40}\s*/\s*([^\s\"'`<>]{8,64})"
    # 21 a token flag on a command line: "vercel deploy --token lKx4B4s9…", "--api-key=…"
    r"|\s--(?:token|api-?key|auth-token|access-token|secret-key|client-secret)[ =]['\"]?"
    r"([A-Za-z0-9_\-.]{20,128})",
    flags="(?i)",
    parts=4,
)
_REDIS = compile(r"\bredis-cli\b")
_MYSQL = compile(r"\bmysql|\bmariadb|\bmysqldump|\bmysqladmin")
_AWS_CONTEXT = compile(r"(?i)aws|amazon|secret|AKIA|ASIA")
# Words that make the password after them an illustration, not a credential.
_AN_EXAMPLE = compile(
    r"(?i)(?:^|[^A-Za-z0-9_.\-/@])(?:examples?|e\.g\.|for instance|such as|weak|avoid|never use|do not use|don't use|banned|forbidden|not allowed)(?:[^A-Za-z0-9_.\-/@]|$)"
)
_PASSWORD_WORDS = (
    "passw", "passphrase", "passcode", "pwd", "mot de passe", "contraseña", "_pass", ".pass", "-pass",
    *_OTHER_PASSWORD_WORDS,
)  # fmt: skip
# Commands whose -p, a space, then a value is a password (elsewhere -p is a port, a path…).
_P_FLAG_COMMANDS = compile(
    r"\bsshpass\b|\b(?:docker|podman|buildah|nerdctl|oras|skopeo|helm registry|crane auth) login\b|"
    r"\bmysql|\bmariadb|\bmysqldump|\bmysqladmin"
)


# A password told in a sentence, the words of what it is for between the word and its verb
# or colon: "la contraseña de la base de datos de producción es C+At&H?$tZw*cWu9", "das
# Passwort für den Admin-Account lautet jetzt …", "パスワード: …". The rest of the line after
# each password word is read, at most _TOLD_REACH characters: linear in the text.
_TOLD_WORD = compile(
    rf"(?i)(?:passw(?:or)?d|passwort|kennwort|passphrase|mot de passe|contraseña|{_OTHER_PASSWORDS})"
)
_TOLD_VALUE = compile(
    r"(?i)(?:\s*[:=：]|\s(?:is|es|é|est|ist|lautet|è|är|er|jest|je|to|là|adalah|ialah|равен|—|-)\s|"
    # a particle ("비밀번호가 … 로 변경되었습니다", "パスワードは …", "密码是 …")
    r"(?:は|が|가|는|은|이|是|为|為)\s*)"
    r"\s*(?:(?:now|jetzt|nun|agora|ahora|maintenant|ora|teraz|nu|sekarang|bây giờ|теперь)\s+)?"
    r"[`\"']?([^\s\"'`<>]{10,64}?)[`\"']?(?:[\s,;!)]|[.](?:\s|$)|$)"
)
# The value alone in quotes right after the word ("mot de passe « g#jmQ9cC#WlE10c »"):
# read only when no verb or colon tells one.
_TOLD_QUOTED = compile("\\s*[«“„‘\"']\\s*([^\\s\"'`<>«»“”„‘’]{10,64}?)\\s*[»”’‘\"']")
# The value right after the word and its ending ("логин price_upload, пароль !WGrp@hfFD0$",
# "veritabanı şifresi !&lPJS#8S6s97,"): read only when no verb, colon or quotes tell one,
# and held to the same strength.
_TOLD_BARE = compile(r"\pL{0,3}[ \t]{1,2}([^\s\"'`<>]{10,64}?)(?:[\s,;!)]|[.](?:\s|$)|$)")
_TOLD_REACH = 120
# A sentence ended, or a login named, between the word and the value: the value is another's
# ("I forgot my password. Username is warehouse-scanner-03").
_A_SENTENCE_END = compile(
    r"(?i)[.!?]\s|\b(?:user ?names?|user ?ids?|logins?|benutzername|nom d'utilisateur|usuario)\b"
)
# What, said of a password, makes the value after it no password: its rules, its hash, a link.
_TOLD_NOT = compile(
    r"(?i)\b(?:hash|hashed|policy|polic|rules?|length|hint|reset|expir\w*|manager|vault|example|"
    r"e\.g\.|placeholder|format|regex|pattern|field|id)\b"
)


_A_REFERENCE = re.compile(r"\$(?:\{|\(|[A-Za-z_][A-Za-z0-9_]*(?:[.,;:]?$))")
_AN_ADDRESS = re.compile(r"@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}")


def _told(view: View) -> list[tuple[int, int]]:
    """The values of passwords told in a sentence, and strong enough to be one: ten to 64
    characters, lower case and two more of upper case, digits and symbols."""
    text = view.text
    out: list[tuple[int, int]] = []
    for word in _TOLD_WORD.finditer(text):
        before = text[word.start() - 1 : word.start()]
        if before.isascii() and before.isalnum() and text[word.start()].isascii():
            continue  # inside a word (userpassword); "SSHパスワード" is a compound, not one
        e = word.end()
        end = text.find("\n", e, e + _TOLD_REACH)
        end = e + _TOLD_REACH if end < 0 else end
        rest = text[e:end]
        hit = _TOLD_VALUE.search(rest) or _TOLD_QUOTED.match(rest) or _TOLD_BARE.match(rest)
        if hit is None:
            continue
        vs, ve = e + hit.start(1), e + hit.end(1)
        value = text[vs:ve]
        between = text[e : e + hit.start()]  # what the password is for, up to its verb or colon
        if (
            not all(c.isalnum() or c in " -_.,()'’" for c in between)
            or _TOLD_NOT.search(between)
            or _A_SENTENCE_END.search(between)
        ):
            continue  # a URL's login or query (USER:PASSWORD@host:5432/db), the password's rules
        if _AN_EXAMPLE.search(text[max(0, word.start() - 60) : vs]):
            continue
        if placeholder(value) or value.startswith(("{", "<", "/", "http")) or "://" in value:
            continue
        if _A_REFERENCE.match(value) or _AN_ADDRESS.search(value):
            continue  # a variable ($DB_PASSWORD, ${…}, $(…)), an address or a login (user@host.tld)
        if value.lower() in _WEAK_WORDS or value.startswith(_REFERENCES):
            continue
        if not any(c.isdigit() for c in value) and all(c.isalpha() or c in "._-" for c in value):
            continue  # a name (process.env.DB_PASSWORD, Admin-Account), not a password
        lower = any(c.islower() for c in value)
        if lower and _classes(value) >= 3:
            out.append((vs, ve))
    return out


def _key_name(view: View, start: int, key: str) -> str:
    """The whole identifier a key word sits in (``DB_PASSWORD`` for ``PASSWORD``)."""
    text = view.text
    i = start
    while i > 0 and start - i < 40 and (text[i - 1].isalnum() or text[i - 1] in "_.-"):
        i -= 1
    return text[i:start] + key


def _bearer(value: str) -> str | None:
    if len(value) >= 20 and (random_looking(value, 20) or value.startswith("eyJ")):
        return "bearer-token"
    return None


_REFERENCES = (
    "process.env",
    "os.environ",
    "os.getenv",
    "env.",
    "ENV[",
    "${",
    "secrets.",
    "System.getenv",
    "config.",
    "settings.",
    # Terraform's references: a value read from elsewhere
    "var.",
    "data.",
    "local.",
    "module.",
    "random_password.",
)
# snake_case or SCREAMING_CASE words: an identifier (a test's, a variable's), not a secret.
_IDENTIFIER = compile(
    r"[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*){2,}|[A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*){1,}"
    r"|[a-z][a-z]*(?:-[a-z][a-z]*)+"  # kebab-case words: a Secret's or a key's name
)
# A key whose value is where the secret is, not the secret: POSTGRES_PASSWORD_FILE.
_WHERE = (
    "_file",
    "_path",
    "-file",
    "-path",
    "file",
    "path",
    "_id",
    "-id",
    "_name",
    "-name",
    "_arn",
)


# The most common passwords, and the words that make a text a test's data: "password123"
# in a fixture is a test user's, no one's secret (elsewhere it is still a password).
_COMMON_LIST = """
password1 password12 password123 password1234 passw0rd p@ssw0rd p@ssword hunter2 hunter12
letmein letmein1 welcome1 welcome123 qwerty123 qwerty1 abc123 abc12345 admin123 admin1234
secret123 secret1 test123 test1234 changeme123 iloveyou1 monkey123 dragon123 trustno1
123456a 1q2w3e4r 1qaz2wsx
"""
_COMMON_PASSWORDS = frozenset(_COMMON_LIST.split())
_FIXTURE = compile(
    r"(?i)\b(?:fixtures?|seed(?:s|ed|er)? (?:data|users?|file)|test[_ ]users?|mock|dummy|"
    r"factor(?:y|ies)|sample data)\b|@example\.test\b"
)


# A dotted path of lower-case names, as code reads an attribute or calls a method.
_CODE_PATH = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*){2,}\(?")


def _assignment(view: View, s: int, key: str, value: str, quoted: bool = False) -> str | None:
    if not quoted:
        value = value.rstrip(".!?:")
    if len(value) < 6 or value.count(" ") > 1 or value.isdigit():  # a sentence, not a value
        return None
    if value.startswith(_REFERENCES) or _IDENTIFIER.fullmatch(value.lstrip(":")):
        return None  # process.env.JWT_SECRET, test_admin_can_override_lockout: a name, no value
    if value.isalpha() and (value.islower() or len(value) < 12):  # a word
        return None
    if _CODE_PATH.fullmatch(value):
        return None  # client.secrets.kv.v2.read_secret_version: a call's path, no value
    if value.startswith(("LS0tLS1CRUdJTiBDRVJU", "LS0tLS1CRUdJTiBQVUJMSUMg")):
        return None  # a certificate or a public key in base64 (certificate-authority-data)
    name = _key_name(view, s, key)
    low = name.lower()
    if low.endswith(_WHERE):
        return None
    if quoted and " " in value and value.replace(" ", "").isalpha():
        return None  # "Show password": a label's words
    if any(word in low for word in _PASSWORD_WORDS):
        # Passwords are seldom random: long enough, and not one kind of character only.
        if len(value) < 6 or placeholder(value) or value.lower() in _WEAK_WORDS:
            return None
        if _AN_EXAMPLE.search(view.text[max(0, s - 48) : s]):
            return None  # "Example of a weak password: 'Summer2024!'": a policy's illustration
        if value.lower() in _COMMON_PASSWORDS and _FIXTURE.search(view.text):
            return None  # a test user's "password123" in a fixture or a seed file
        if value.startswith(("$", "%", "@", "/", "~/", "./")) or _classes(value) < 2:
            return None
        if value.isalpha() and not (len(value) >= 12 and random_looking(value)):
            return None  # a word; a long run of random letters of both cases is a password
        return "credential-assignment"
    if len(value) == 40 and "aws" in low and _classes(value) >= 3:
        return "aws-secret-key"
    if _UUID.fullmatch(value) and "id" not in low[-3:]:
        return "credential-assignment"
    if ("/" in value and value.count("/") > 2) or "://" in value or value.startswith(("$", "%")):
        return None
    if _HEX_DIGEST.fullmatch(value.lower()) and len(value) in (32, 40, 64):
        return "credential-assignment"
    return "credential-assignment" if random_looking(value) and not placeholder(value) else None


def _basic_header(value: str) -> str | None:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    text = decoded.decode("utf-8", "replace")
    return "basic-auth-header" if ":" in text and text.isprintable() and len(text) >= 3 else None


def _aws_secret(view: View, s: int, e: int) -> str | None:
    value = view.text[s:e]
    text = view.text
    if e < len(text) and (text[e].isalnum() or text[e] in "/+="):
        return None
    if _classes(value) < 3 or _HEX_DIGEST.fullmatch(value.lower()) or placeholder(value):
        return None
    if not _AWS_CONTEXT.search(text[max(0, s - 120) : s]):
        return None
    return "aws-secret-key"


def _command_line(view: View, s: int, e: int, mysql: bool) -> str | None:
    """A password given to a command: ``curl -u user:PASSWORD``, ``mysql -pPASSWORD``."""
    value = view.text[s:e]
    if not 6 <= len(value) <= 128 or placeholder(value) or value.lower() in _WEAK_WORDS:
        return None
    if value.startswith(("$", "%")):
        return None
    if _classes(value) < 2 or (value.isalpha() and value.islower()):
        return None
    if mysql and not _MYSQL.search(view.text[max(0, s - 80) : s]):
        return None
    return "command-line-password"


# Test keys a provider prints in its own documentation for everyone to copy.
_PUBLISHED_KEYS = frozenset(
    (
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "pk_test_TYooMQauvdEDq54NiTphI7jx",
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
        "pk_test_6pRNASCoBOKtIshFeQd4XMUh",
        # jwt.io's own example token (HS256, "John Doe")
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
        "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    )
)
_EXAMPLE_MARK = compile(r"EXAMPLE|(?i:example)")
_DOCS_REACH = 400  # a terminal session's lines, then the sentence that says they are examples
_DOCS_WORDS = compile(
    r"(?i)\b(?:docs?|documentation|documented|sample|samples|examples?|placeholders?|illustrat\w*|tutorial|fake|dummy)\b"
)


def _documented_example(text: str, s: int, e: int) -> bool:
    """A documented example key (AWS's ``AKIAIOSFODNN7EXAMPLE``, ``…EXAMPLEKEY``, a
    provider's published test key) in a text that says it is one ("the docs use … as the
    sample key"): the value spells EXAMPLE or is published, and the words around it name
    documentation or a sample."""
    value = text[s:e]
    if value not in _PUBLISHED_KEYS and (
        "://" in value or "@" in value or not _EXAMPLE_MARK.search(value)
    ):
        return False  # a URL's host at example.com says nothing of the password in it
    around = text[max(0, s - _DOCS_REACH) : s] + " " + text[e : e + _DOCS_REACH]
    # An address or a host at example.com names no documentation: its words are left out.
    words = [w for w in around.split() if "@" not in w and "://" not in w and "example." not in w]
    return bool(_DOCS_WORDS.search(" ".join(words)))


def scan_secrets(text: str) -> list[Finding]:
    if len(text) < 12:
        return []
    view = exact(text)
    spans: list[tuple[int, int, str]] = []
    for hit in _TOKENS_RE.finditer(view):
        group = hit.group
        token = _TOKENS[group - 1]
        s, e = hit.span(group)
        value = view.text[s:e]
        if group - 1 in _NEAR and not _NEAR[group - 1].search(view.text[max(0, s - 60) : s]):
            kind = None
        elif token.check is not None:
            kind = token.check(value)
        elif token.min_body and (
            len(value) - token.prefix < token.min_body or placeholder(value[token.prefix :])
        ):
            kind = None
        else:
            kind = token.kind
        if kind is not None:
            spans.append((s, e, kind))
    taken = merge_spans((s, e) for s, e, _ in spans)  # the tokens found: starts, ends
    for hit in _CONTEXT_RE.finditer(view):
        group = hit.group
        if group == 1:
            value_group = next(g for g in (3, 4, 5) if hit.has(g))
            key_start, key_end = hit.span(1)
            scheme = hit.has(2) and hit.text(2).strip().lower()
            s, e = hit.span(value_group)
            value = view.text[s:e]
            if scheme == "basic":
                kind = _basic_header(value)
            elif scheme:
                kind = _bearer(value)
            else:
                key = view.text[key_start:key_end]
                kind = _assignment(view, key_start, key, value, quoted=value_group != 5)
                e = s + len(value.rstrip(".!?:")) if value_group == 5 else e
        elif group == 6:
            s, e = hit.span(6)
            kind = _bearer(view.text[s:e])
        elif group == 7:
            s, e = hit.span(7)
            kind = _basic_header(view.text[s:e])
        elif group == 8:
            s, e = hit.span(8)
            kind = _aws_secret(view, s, e)
        else:
            s, e = hit.span(group)
            kind = _command_line(view, s, e, group in (10, 11, 12))
            if group == 18 and kind is not None:
                kind = "connection-string-password"
            flag = view.text[max(0, s - 4) : s]
            if group == 13 and "-a" in flag and not _REDIS.search(view.text[max(0, s - 120) : s]):
                kind = None  # -a is many commands' flag: a password only for redis-cli
            elif group == 15 and kind is not None and _classes(view.text[s:e]) < 3:
                kind = None  # a word after "password" ("password reset1"): not one
            elif group == 16 and not _P_FLAG_COMMANDS.search(view.text[max(0, s - 120) : s]):
                kind = None
            elif group == 20 and kind is not None and _classes(view.text[s:e]) < 3:
                kind = None  # "Login: admin / dashboard": a path or a word, not a password
            elif group == 21 and kind is not None and _classes(view.text[s:e]) < 3:
                kind = None  # "--token my-project-token-name": words, not a random value
            elif group in (17, 19, 20, 21) and kind is not None:
                kind = "credential-assignment"  # a password file's entry, a cmdlet's parameter
        if kind is not None and not overlaps(*taken, s, e):
            spans.append((s, e, kind))
    starts, ends = merge_spans((s, e) for s, e, _ in spans)
    for s, e in _told(view):
        if overlaps(starts, ends, s, e):
            continue
        i = bisect_left(starts, s)  # kept disjoint and sorted: it overlaps none of them
        starts.insert(i, s)
        ends.insert(i, e)
        spans.append((s, e, "password-in-text"))
    spans.sort(key=lambda t: (t[0], -t[1]))
    found: list[Finding] = []
    last_end = -1
    for s, e, kind in spans:
        if s < last_end or _documented_example(view.text, s, e):
            continue
        last_end = e
        os, oe = view.original(s, e)
        found.append(Finding("secrets", kind, os, oe, mask(text[os:oe])))
    return found
