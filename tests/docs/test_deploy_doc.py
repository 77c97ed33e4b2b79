"""docs/deploy.md says only what the code does, so it cannot drift: its Secrets table against the
Secrets, keys and variables that rendering produces for the bundled fleet, its metric series
against the gateway's, its operator settings and their defaults against what the operator reads,
its columns, status fields and Event reasons against the CRD and the outcomes, its approvers
Secret against what ``fleetctl approvers token`` prints and the operator reads; and its install,
approvers, upgrade and uninstall commands run with the real kubectl against the e2e emulator."""

from __future__ import annotations

import ast
import copy
import hashlib
import os
import re
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from fleet_operator.approvers import APPROVERS_LABEL, HASH_PREFIX, parse, secret_name

from fleet.gwconfig import GwSecretRef
from fleet.gwrender import secret_env
from fleet.render import (
    OPERATOR_SECRET,
    TOKEN_KEY,
    operator_secret,
    render_fleet,
    render_loop,
    token_keys,
)
from fleet.runtime.outcomes import OUTCOMES
from gateway.metrics import standard
from tests.conftest import ROOT
from tests.e2e.emulator import Cluster
from tests.e2e.test_kubectl import KUBECTL, WHY_NOT

DOC = (ROOT / "docs" / "deploy.md").read_text()
CRD = yaml.safe_load((ROOT / "operator/deploy/crds/agentloops.fleetctl.dev.yaml").read_text())


def section(title: str) -> str:
    """The text of the ``## `` section whose heading contains ``title``."""
    match = re.search(rf"^## [^\n]*{re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert match, f"docs/deploy.md has no section '{title}'"
    return match.group(1)


def table(text: str) -> list[list[str]]:
    """The rows of the first markdown table in ``text``, header and rule dropped."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The compiled northwind fleet, one loop given a webhook trigger, rendered as the operator
    renders it."""
    out = tmp_path_factory.mktemp("nw")
    subprocess.run(
        [str(ROOT / ".venv/bin/fleetctl"), "compile", "examples/northwind", "-o", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    policy = yaml.safe_load((out / "fleetpolicy.yaml").read_text())
    loops = [yaml.safe_load(p.read_text()) for p in sorted((out / "loops").glob("*.yaml"))]
    for obj in (policy, *loops):
        obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
    hook = copy.deepcopy(loops[0])
    hook["metadata"]["name"] = "hooked"
    hook["spec"]["trigger"]["webhook"] = {}
    loops.append(hook)
    hashes = {loop["metadata"]["name"]: ["0" * 64] for loop in loops}
    children = [c for loop in loops for c in render_loop(loop, policy, namespace="ns")]
    children += render_fleet(policy, loops, hashes, namespace="ns")
    children.append(operator_secret(policy, namespace="ns"))
    return {"policy": policy, "loops": loops, "children": children}


def _pattern(name: str, loops: list[dict[str, Any]]) -> tuple[str, dict[str, Any] | None]:
    for loop in loops:
        loop_name = loop["metadata"]["name"]
        if name.startswith(loop_name + "-"):
            return "<loop>" + name[len(loop_name) :], loop
    return name, None


def minted(rendered: dict[str, Any]) -> set[tuple[str, str]]:
    """(Secret, key) pairs of the Secrets the operator renders and mints, loop and sub-agent
    names replaced by the doc's placeholders, and of every reference to them."""
    found: set[tuple[str, str]] = set()
    loops = rendered["loops"]
    for child in rendered["children"]:
        if child["kind"] != "Secret":
            continue
        name, loop = _pattern(child["metadata"]["name"], loops)
        if loop is not None and name == "<loop>-gateway-token":
            subs = [s["name"] for s in loop["spec"].get("subagents", [])]
            for key in token_keys(loop):
                for sub in subs:
                    key = key.replace(f".{sub}", ".<sub-agent>")
                found.add((name, key))
        else:
            found.add((name, TOKEN_KEY))
    return found


def test_minted_secrets_are_the_documented_ones(rendered: dict[str, Any]) -> None:
    documented = set()
    for row in table(section("Secrets")):
        if "credentials.secret" in row[0] or APPROVERS_LABEL in row[0]:
            continue
        secret = ticked(row[0])[0]
        documented |= {(secret, key) for key in ticked(row[1])}
    assert minted(rendered) == documented
    assert (OPERATOR_SECRET, TOKEN_KEY) in documented


def test_the_approvers_secret_is_what_the_cli_prints_and_the_operator_reads(
    tmp_path: Path,
) -> None:
    (row,) = [r for r in table(section("Secrets")) if APPROVERS_LABEL in r[0]]
    assert ticked(row[0])[:2] == [
        secret_name("<fleet>", "<approver>"),
        f"{APPROVERS_LABEL}: <fleet>",
    ]
    assert ticked(row[1]) == ["<approver>", f"{HASH_PREFIX}<hex>"]
    text = section("Approvers")
    (example,) = re.findall(r"```yaml\n(.*?)```", text, re.S)
    documented = yaml.safe_load(example)
    proc = subprocess.run(
        [
            *(str(ROOT / ".venv/bin/fleetctl"), "approvers", "token", "alice"),
            *("--fleet", "northwind", "-n", "fleet-system", "--token-file", str(tmp_path / "t")),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    printed = yaml.safe_load(proc.stdout)
    value = printed["stringData"]["alice"]
    assert (
        value
        == HASH_PREFIX + hashlib.sha256((tmp_path / "t").read_text().strip().encode()).hexdigest()
    )
    # The doc's example is the CLI's output but for the hash (every token is new).
    assert {**printed, "stringData": {}} == {**documented, "stringData": {}}
    read = parse([documented])
    assert read.problems == [] and list(read.hashes) == ["alice"]
    assert "`FLEET_OPERATOR_FLEET_SECONDS`" in text and f"`{HASH_PREFIX}" in text


def test_credential_secrets_land_in_the_documented_variables(rendered: dict[str, Any]) -> None:
    rows = {
        ("provider" if "provider's" in row[0] else "mcp"): row
        for row in table(section("Secrets"))
        if "credentials.secret" in row[0]
    }
    assert set(rows) == {"provider", "mcp"}
    (key_default,) = [f.default for f in fields(GwSecretRef) if f.name == "key"]
    for row in rows.values():
        assert f"default `{key_default}`" in row[1]
    spec = rendered["policy"]["spec"]
    (deployment,) = [c for c in rendered["children"] if c["kind"] == "Deployment"]
    env = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    expected = {}
    for kind, group in (("provider", spec["providers"]), ("mcp", spec["mcpServers"])):
        (template,) = ticked(rows[kind][2])
        for name, item in group.items():
            ref = item.get("credentials")
            if not ref:
                continue
            key = ref.get("key", "api_key")
            variable = template.replace("<PROVIDER>", name).replace("<SERVER>", name)
            variable = re.sub(r"[^A-Za-z0-9]", "_", variable.replace("<KEY>", key).upper())
            assert variable == secret_env(kind.upper(), f"{name}_{key}")
            expected[variable] = {"name": ref["secret"], "key": key}
    assert env == expected and env, "the gateway Deployment's credential env"


def test_metric_series_exist() -> None:
    named = set(re.findall(r"\bfleet_gateway_[a-z_]+\b", DOC))
    assert named, "no series named"
    assert named <= set(standard().help), named - set(standard().help)


def operator_settings() -> dict[str, str | None]:
    """Each FLEET_OPERATOR_* variable the operator reads, with its default where it has one."""
    found: dict[str, str | None] = {}
    for path in sorted((ROOT / "operator" / "fleet_operator").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) in ("os.environ.get", "os.getenv")
                and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).startswith("FLEET_OPERATOR_")
            ):
                default = node.args[1] if len(node.args) > 1 else None
                found[str(node.args[0].value)] = (
                    str(default.value) if isinstance(default, ast.Constant) else None
                )
    return found


def test_operator_settings_and_defaults() -> None:
    rows = table(section("What to watch first").split("The operator's settings")[1])
    documented = {name: row[1] for row in rows for name in ticked(row[0])}
    code = operator_settings()
    assert set(documented) == set(code)
    for name, default in code.items():
        if default is not None:
            assert default in documented[name], f"{name}: the code's default is {default}"


def test_columns_status_fields_and_event_reasons() -> None:
    (version,) = CRD["spec"]["versions"]
    columns = [c["name"].upper() for c in version["additionalPrinterColumns"]]
    watch = section("What to watch first")
    assert ", ".join(columns[:-1]) + " and " + columns[-1] in " ".join(
        re.sub(r" \([^)]*\)", "", watch).split()
    )
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    run_status = watch.split("and the run status:")[1].split("**Events.**")[0]
    last_run = re.search(r"`lastRun` \(([^)]*)\)", run_status)
    assert last_run
    assert last_run.group(1).split(", ") == list(status["lastRun"]["properties"])
    for field in ticked(re.sub(r"\([^)]*\)", "", run_status)):
        assert field in status, field
    reasons = set(re.findall(r"`(Run[A-Z]\w*)`", watch))
    known = {"Run" + "".join(p.capitalize() for p in o.split("_")) for o in OUTCOMES}
    assert reasons and reasons <= known, reasons - known


def shell_blocks(title: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", section(title), re.S)


# What needs pods, a port or a running operator, which the emulator does not give.
NEEDS_PODS = re.compile(
    r"rollout status|wait --for|port-forward|curl|logs |runs list|trigger |diff |approvals |APPROVER_TOKEN"
)


@pytest.mark.skipif(KUBECTL is None, reason=WHY_NOT)
def test_install_upgrade_uninstall_commands_run(tmp_path: Path) -> None:
    """The doc's shell blocks, as written, in order, against the emulator: the operator's
    kustomization, the Secrets (after their namespace), the compiled fleet, an approver's Secret
    from ``fleetctl approvers token``, the pruning upgrade and the uninstall by label. Lines that need pods or a running operator are left out (the e2e tests run those)."""
    for name in ("examples", "operator", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    blocks = [
        *shell_blocks("Install"),
        *shell_blocks("Approvers"),
        *shell_blocks("Upgrade"),
        *shell_blocks("Uninstall"),
    ]
    script = "\n".join(
        line
        for line in "\n".join(blocks).replace("\\\n", " ").splitlines()
        if not NEEDS_PODS.search(line)
    )
    with Cluster(crds=False) as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig", "default")
        env = {
            "PATH": f"{Path(KUBECTL).parent}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "KUBECONFIG": str(kubeconfig),
            "OPENAI_API_KEY": "sk-test",
            "ANTHROPIC_API_KEY": "sk-ant-test",
        }
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"{script}\n---\n{proc.stdout}\n{proc.stderr}"
        # On a real API server a Secret needs its namespace first (the emulator does not check).
        out = proc.stdout
        assert out.index("namespace/fleet-system created") < out.index("secret/provider-openai")
        assert "fleetpolicy.fleetctl.dev/northwind created" in proc.stdout
        assert "secret/northwind-approver-alice created" in proc.stdout
        # Listed by its label (DATA shows 0 here: the emulator keeps stringData as sent).
        assert re.search(r"^northwind-approver-alice\s+Opaque\s", out, re.M), out
        assert (tmp_path / "alice.token").stat().st_mode & 0o777 == 0o600
        assert 'fleetpolicy.fleetctl.dev "northwind" deleted' in proc.stdout
