"""How the operator reads approvers Secrets (every entry that cannot be used is named with its
Secret and key, never echoing a token), what a watch event changes, and the exact errors of
``fleetctl approvers token``."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet_operator.approvers import approver_secret, fingerprint, parse, token_hash
from fleet_operator.state import FleetState
from tests.conftest import ROOT

TOKEN = "fga_" + "x" * 40
HEX = hashlib.sha256(TOKEN.encode()).hexdigest()


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def secret(name: str = "s", **data: str | bytes) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {k: b64(v) for k, v in data.items()}}


@pytest.mark.parametrize(
    ("value", "hashes"),
    [
        (f"sha256:{HEX}", [HEX]),
        (f"SHA256:{HEX.upper()}", [HEX]),  # normalised: the gateway compares lower-case hex
        (TOKEN, [HEX]),  # a token itself is hashed
        (f"sha256:{HEX}\n", [HEX]),
        (f"sha256:{HEX}, sha256:{'a' * 64}", sorted([HEX, "a" * 64])),  # a rotation's overlap
        (f"sha256:{HEX} {TOKEN}", [HEX]),  # the same token twice is one
    ],
)
def test_values_that_name_tokens(value: str, hashes: list[str]) -> None:
    found = parse([secret(alice=value)])
    assert found.problems == [] and found.hashes == {"alice": hashes}


HINT = "(put sha256:<hex> there: `fleetctl approvers token alice` prints one"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "sha256:abc",
            f"Secret s key alice: 'sha256:abc' is not 'sha256:' followed by 64 hex digits {HINT})",
        ),
        (
            "sha256:" + "g" * 64,
            f"Secret s key alice: 'sha256:ggggggggggggg…' is not 'sha256:' followed by 64 hex digits {HINT})",
        ),
        (
            "hunter2",
            f"Secret s key alice: a token of 7 characters is too short (at least 24) {HINT})",
        ),
        ("", f"Secret s key alice: empty {HINT}, or delete the key)"),
        (b"\xff\xfe", f"Secret s key alice: the value is not UTF-8 text {HINT})"),
    ],
)
def test_values_that_cannot_be_used_are_named(value: str | bytes, problem: str) -> None:
    found = parse([secret(alice=value), secret("t", bob=TOKEN + "b")])
    assert found.problems == [problem]
    assert list(found.hashes) == ["bob"]  # the rest keep working
    ok, reason, message = found.condition()
    assert (ok, reason) == (False, "InvalidApproverSecret") and message.startswith(problem)
    assert "hunter2" not in message  # a short token is measured, not shown


def test_not_base64_and_a_shared_token() -> None:
    bad = {"metadata": {"name": "s"}, "data": {"alice": "***"}}
    assert parse([bad]).problems[0].startswith("Secret s key alice: the value is not base64")
    shared = parse([secret(alice=TOKEN), secret("t", bob=f"sha256:{HEX}")])
    assert shared.hashes == {"alice": [HEX]}
    assert shared.problems == [
        "approvers alice and bob hold the same token; mint bob its own with "
        "`fleetctl approvers token bob`"
    ]


def test_several_secrets_and_string_data_in_a_stable_order() -> None:
    printed = approver_secret("nw", "carol", token_hash(TOKEN + "c"), "ns")
    found = parse([secret("z", bob=TOKEN + "b"), printed, secret("a", alice=TOKEN)])
    assert list(found.hashes) == ["alice", "bob", "carol"]
    assert found.secrets == 3
    assert found.condition() == (
        True,
        "Loaded",
        "3 approver(s) from 3 Secret(s): alice, bob, carol",
    )
    assert parse([]).condition()[1] == "NoApprovers"


def test_a_watch_event_marks_only_the_fleets_it_changes() -> None:
    state = FleetState()
    one = {
        **secret(alice=TOKEN),
        "metadata": {"name": "s", "labels": {"fleetctl.dev/approvers": "nw"}},
    }
    seen = ("nw", fingerprint(one))
    assert state.approver_secret("ns", "s", seen) == {"nw"}
    assert state.approver_secret("ns", "s", seen) == set()  # a re-list: nothing to render
    annotated = {**one, "metadata": {**one["metadata"], "annotations": {"a": "b"}}}
    assert fingerprint(annotated) == fingerprint(one)
    moved = {**one, "metadata": {"name": "s", "labels": {"fleetctl.dev/approvers": "other"}}}
    assert state.approver_secret("ns", "s", ("other", fingerprint(moved))) == {"nw", "other"}
    assert state.approver_secret("ns", "s", None) == {"other"}
    assert state.approver_secret("ns", "s", None) == set()


def fleetctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv/bin/fleetctl"), "approvers", "token", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_cli_prints_the_secret_and_the_token_once(tmp_path: Path) -> None:
    proc = fleetctl("ops.oncall", "--fleet", "nw", "-n", "team-a")
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    token = proc.stderr.splitlines()[1]
    assert token.startswith("fga_") and len(token) >= 40 and token not in proc.stdout
    assert printed == approver_secret("nw", "ops.oncall", token_hash(token), "team-a")
    assert "kubectl -n team-a port-forward service/fleet-gateway 8080:8080" in proc.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("Alice", "--fleet", "nw"),
            "error: approver name 'Alice' is not lower-case letters, digits, '-' and '.' (at most "
            "50, starting and ending with a letter or digit) (it is a Secret key and part of the "
            "Secret's name: try e.g. alice or ops.oncall)\n",
        ),
        (
            ("alice",),
            "error: no fleet named (give --fleet NAME (kubectl get fleetpolicies -A lists them))\n",
        ),
    ],
)
def test_cli_usage_errors(args: tuple[str, ...], error: str) -> None:
    proc = fleetctl(*args)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", error)


def test_apply_without_a_cluster_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(ROOT / ".venv/bin/fleetctl"),
            "approvers",
            "token",
            "alice",
            "--fleet",
            "nw",
            "--apply",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(
        "error: cannot write Secret default/nw-approver-alice in the current kubeconfig context"
    )


def test_the_operator_watches_approvers_secrets_only() -> None:
    import kopf
    from kopf._cogs.structs.references import Resource

    import fleet_operator.handlers as handlers

    settings = kopf.OperatorSettings()
    handlers.configure(settings=settings)
    secrets = Resource("", "v1", "secrets", kind="Secret", namespaced=True)
    pods = Resource("", "v1", "pods", kind="Pod", namespaced=True)
    assert settings.watching.label_selectors.collect(secrets) == ["fleetctl.dev/approvers"]
    assert settings.watching.label_selectors.collect(pods) == []
