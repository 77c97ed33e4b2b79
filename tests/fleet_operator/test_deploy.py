"""The operator's deploy manifests: CRD copies match schemas/, RBAC covers exactly what the operator writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fleet.render import render_fleet, render_loop
from fleet_operator.kube import PLURALS
from tests.fleet_operator.test_render import LOOPS, POLICY

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "operator" / "deploy"


def load(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [d for d in YAML(typ="safe").load_all(f) if d]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "schemas" / "crds").glob("*.yaml")))
def test_crd_copy_matches_schemas(name: str) -> None:
    assert (DEPLOY / "crds" / name).read_bytes() == (
        ROOT / "schemas" / "crds" / name
    ).read_bytes(), (
        f"operator/deploy/crds/{name} drifted: cp schemas/crds/{name} operator/deploy/crds/"
    )


def test_kustomization_resources_exist() -> None:
    (kustomization,) = load(DEPLOY / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource).is_file(), resource


def rules() -> dict[tuple[str, str], set[str]]:
    (role,) = [d for d in load(DEPLOY / "rbac.yaml") if d["kind"] == "ClusterRole"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_rbac_covers_every_rendered_kind_and_nothing_wider() -> None:
    granted = rules()
    loop = next(iter(LOOPS.values()))
    children = render_loop(loop, POLICY, namespace="ns") + render_fleet(
        POLICY, LOOPS.values(), {}, namespace="ns"
    )
    for child in children:
        api_version, kind = child["apiVersion"], child["kind"]
        group = api_version.split("/")[0] if "/" in api_version else ""
        verbs = granted.get((group, PLURALS[(api_version, kind)]), set())
        assert {"get", "create", "patch"} <= verbs, f"{kind}: {sorted(verbs)}"
    assert granted[("fleetctl.dev", "agentloops/status")] == {"get", "patch"}
    assert "create" not in granted[("fleetctl.dev", "agentloops")]
    assert not any(
        "*" in verbs or res == "*" or res.startswith(("pods", "roles", "clusterroles"))
        for (_, res), verbs in granted.items()
    )


def test_operator_deployment_is_hardened() -> None:
    (deployment,) = load(DEPLOY / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"][
        "seccompProfile"
    ] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize(
    "dockerfile", ["operator/Dockerfile", "gateway/Dockerfile", "sandbox/Dockerfile"]
)
def test_dockerfiles_run_as_the_pod_uid(dockerfile: str) -> None:
    lines = (ROOT / dockerfile).read_text().splitlines()
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert froms and all(":" in image and "latest" not in image for image in froms)
    assert "USER 65532:65532" in lines and any(line.startswith("ENTRYPOINT ") for line in lines)
