"""Provider token formats: each is found at its documented shape and not when it falls
short of it (too short, a placeholder, or a plain format without the word that names it);
documented example keys and example passwords are not secrets."""

from __future__ import annotations

import random

import pytest

from fleet.detect.secrets import scan_secrets

_RNG = random.Random(20261202)
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def body(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


HEX = "0123456789abcdef"
B32 = "abcdefghijklmnopqrstuvwxyz234567"


def kinds(text: str) -> list[str]:
    return [f.kind for f in scan_secrets(text)]


# (kind, a token of the documented shape, one that falls short)
TOKENS = [
    ("flyio-token", "fo1_" + body(43), "fo1_" + body(12)),
    ("flyio-token", "FlyV1 fm2_" + body(120), "FlyV1 fm2_" + body(20)),
    ("okta-token", "SSWS 00" + body(40), "SSWS 00" + body(10)),
    ("heroku-key", "HRKU-AA" + body(58), "HRKU-AA" + body(20)),
    ("netlify-token", "nfp_" + body(36), "nfp_" + body(10)),
    ("render-key", "rnd_" + body(32), "rnd_" + body(8)),
    ("prefect-key", "pnu_" + body(36), "pnu_" + body(10)),
    ("rubygems-key", "rubygems_" + body(48, HEX), "rubygems_" + body(12, HEX)),
    (
        "clojars-token",
        "CLOJARS_" + body(60, "abcdefghijklmnopqrstuvwxyz0123456789"),
        "CLOJARS_" + body(10, "abc123"),
    ),
    ("shippo-token", "shippo_live_" + body(40, HEX), "shippo_live_" + body(10, HEX)),
    ("buildkite-token", "bkua_" + body(40, HEX), "bkua_" + body(12, HEX)),
    ("onepassword-token", "ops_eyJ" + body(120), "ops_eyJ" + body(20)),
    ("sourcegraph-token", "sgp_" + body(40, HEX), "sgp_" + body(10, HEX)),
    ("supabase-key", "sb_secret_" + body(31), "sb_secret_" + body(8)),
    (
        "airtable-token",
        "pat" + body(14) + "." + body(64, HEX),
        "pat" + body(14) + "." + body(20, HEX),
    ),
    ("contentful-token", "CFPAT-" + body(43), "CFPAT-" + body(12)),
    (
        "dynatrace-token",
        "dt0c01."
        + body(24, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        + "."
        + body(64, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
        "dt0c01." + body(10, "ABCDEF234"),
    ),
    ("easypost-key", "EZAK" + body(54), "EZAK" + body(10)),
    (
        "flutterwave-key",
        "FLWSECK_TEST-" + body(32, HEX) + "-X",
        "FLWSECK_TEST-" + body(12, HEX) + "-X",
    ),
    ("alibaba-access-key", "LTAI" + body(20), "LTAI" + body(6)),
    ("tencent-secret-id", "AKID" + body(32), "AKID" + body(12)),
    (
        "cloudflare-origin-ca-key",
        "v1.0-" + body(24, HEX) + "-" + body(146, HEX),
        "v1.0-" + body(24, HEX) + "-" + body(20, HEX),
    ),
    ("grafana-api-key", "eyJrIjoi" + body(80), "eyJrIjoi" + body(10)),
    ("typeform-token", "tfp_" + body(59), "tfp_" + body(10)),
    (
        "readme-key",
        "rdme_" + body(70, "abcdefghijklmnopqrstuvwxyz0123456789"),
        "rdme_" + body(10, "abc123"),
    ),
    ("frameio-token", "fio-u-" + body(64), "fio-u-" + body(12)),
    ("scalingo-token", "tk-us-" + body(48), "tk-us-" + body(12)),
    ("infracost-key", "ico-" + body(32), "ico-" + body(12)),
    (
        "harness-pat",
        "pat." + body(22) + "." + body(24, HEX) + "." + body(20),
        "pat." + body(22) + "." + body(10, HEX),
    ),
    (
        "braintree-token",
        "access_token$production$"
        + body(16, "abcdefghijklmnopqrstuvwxyz0123456789")
        + "$"
        + body(32, HEX),
        "access_token$production$" + body(8, "abc123"),
    ),
    ("duffel-token", "duffel_live_" + body(43), "duffel_live_" + body(10)),
    ("adobe-secret", "p8e-" + body(32), "p8e-" + body(10)),
    ("mailgun-key", "pubkey-" + body(32, HEX), "pubkey-" + body(12, HEX)),
    (
        "azure-devops-pat",
        body(52, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        + "JQQJ99"
        + body(18)
        + "AZDO"
        + body(4),
        body(40) + "AZDO" + body(4),
    ),
]


@pytest.mark.parametrize(("kind", "good", "short"), TOKENS, ids=[f"{t[0]}-{i}" for i, t in enumerate(TOKENS)])  # fmt: skip
def test_a_token_of_its_shape_is_found(kind: str, good: str, short: str) -> None:
    assert kind in kinds(f"config: {good} (rotated yesterday)")
    assert kind not in kinds(f"config: {short} (rotated yesterday)")


def test_an_azure_devops_pat_needs_a_word_that_names_it() -> None:
    pat = body(52, B32)
    assert kinds(f"ADO pipeline auth failing. PAT used: {pat} (org: fabrikam)") == ["azure-devops-pat"]  # fmt: skip
    assert kinds(f"personal access token {pat}") == ["azure-devops-pat"]
    assert kinds(f"the checksum column reads {pat} for that row") == []
    assert kinds("PAT: " + "a" * 26 + "b" * 26) == []  # no digits: not base32 from a random source


def test_a_password_on_a_command_line() -> None:
    assert kinds("curl -u admin:iXptUQxLkmghcp https://jenkins.internal/api/json") == ["command-line-password"]  # fmt: skip
    assert kinds("mysql -u root -pg9hIZ0qFNDsJoF -h 10.0.0.5") == ["command-line-password"]
    assert kinds("gcc -pthread -o app main.c") == []
    assert kinds("curl -u admin:$PASSWORD https://jenkins.internal") == []
    assert kinds("ssh -p 2222 user@host") == []


def test_documented_example_keys_are_not_secrets() -> None:
    text = (
        "The AWS docs use AKIAIOSFODNN7EXAMPLE as the sample access key ID and "
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY as the sample secret."
    )
    assert kinds(text) == []
    # outside a text about documentation, a key is a key, whatever it spells
    assert kinds("key AKIAIOSFODNN7EXAMPLE in env") == ["aws-access-key"]


def test_an_example_password_in_a_policy_is_not_a_secret() -> None:
    assert kinds("Example of a weak password: 'Summer2024!'.") == []
    assert kinds("Avoid passwords such as password: Winter2025!") == []
    assert kinds("Password=VBlv3hlSpZAE3l!; Server=sql.example.net") == ["credential-assignment"]
    assert kinds("my password: Hx82!kq0Lz") == ["credential-assignment"]


def test_what_a_credential_is_for_may_stand_between_its_word_and_its_value() -> None:
    assert kinds("the password for the admin account is Xk92!mQz") == ["credential-assignment"]
    assert kinds("API key for staging: a8F3kL9qP2xZ7wR4tY6u") == ["credential-assignment"]
    assert kinds("The token for this request is optional: see docs") == []
    assert kinds("password for the account is reset weekly") == []


def test_a_password_in_a_url_at_an_example_host_is_still_a_secret() -> None:
    text = "the docs sample uses https://admin:bPd72QNWSF3EH6@internal.example.com/api"
    assert kinds(text) == ["basic-auth-url"]


def test_passwords_after_a_spaced_p_flag_in_a_password_file_and_in_a_go_dsn() -> None:
    assert kinds("sshpass -p 'Qk29dLm02Xs#1' rsync -az /srv backup@nas:/v") == ["command-line-password"]  # fmt: skip
    assert kinds("docker login registry.acme.io -u ci -p f1DkoTVTRHRr1947!") == ["command-line-password"]  # fmt: skip
    assert kinds("ssh -p 2222 user@host && mkdir -p /var/lib/app") == []
    assert kinds("db-prod-01.internal:5432:orders:orders_app:d2Fd448LrcU1mNF8ZG") == ["credential-assignment"]  # fmt: skip
    assert kinds("localhost:5432:*:postgres:postgres") == []
    assert kinds('dsn="svc:ZnDyoXBkDq9o0bJ6EFKt@tcp(10.8.0.21:3306)/ledger"') == ["connection-string-password"]  # fmt: skip
    assert kinds('SMTP_PASS = "ODLA5882#qmlcrt"') == ["credential-assignment"]
    assert kinds('bypass = "Xk29dkL02ms"') == []


def test_teams_webhooks_and_doppler_tokens() -> None:
    hook = (
        "https://contoso.webhook.office.com/webhookb2/5028cced-ab56-4f41-8bb7-80c5a563f7d9@"
        "b5ddb9d2-cbe6-45e7-83d6-ed742d402da5/IncomingWebhook/9711ac6386cff8133a8ffb8dbc2c414c/"
        "84bfbf1f-4e33-41f7-99ee-95b4715e5709"
    )
    assert kinds(f"Teams connector: {hook}") == ["teams-webhook"]
    assert kinds("token dp.st.prd.GNojcua1xUXbBqE9TcFhnJL1Ax1zpmiIn1yyidPFSeH here") == ["doppler-token"]  # fmt: skip
