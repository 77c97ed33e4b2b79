"""The operator's deploy manifests: CRD copies match schemas/, RBAC covers exactly what the
operator writes; the images' Dockerfiles copy what exists and run as the pod's UID."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fleet.render import DEFINITION_PATH, render_fleet, render_loop
from fleet_operator.dashboard import render_dashboard
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
    children = (
        render_loop(loop, POLICY, namespace="ns")
        + render_fleet(POLICY, LOOPS.values(), {}, namespace="ns")
        + render_dashboard(POLICY, LOOPS.values(), {}, namespace="ns", image="dashboard")
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


DOCKERFILES = [
    "operator/Dockerfile",
    "gateway/Dockerfile",
    "sandbox/Dockerfile",
    "dashboard/Dockerfile",
]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfiles_run_as_the_pod_uid(dockerfile: str) -> None:
    lines = (ROOT / dockerfile).read_text().splitlines()
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert froms and all(":" in image and "latest" not in image for image in froms)
    assert "USER 65532:65532" in lines and any(line.startswith("ENTRYPOINT ") for line in lines)


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of each Dockerfile line, continuations joined, comments out."""
    text = (ROOT / dockerfile).read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


DOCKERFILES = [
    "operator/Dockerfile",
    "gateway/Dockerfile",
    "sandbox/Dockerfile",
    "dashboard/Dockerfile",
]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_copy_sources_exist(dockerfile: str) -> None:
    for word, args in instructions(dockerfile):
        if word == "COPY" and not args.startswith("--from="):
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}"


def test_sandbox_installs_this_harness_by_default() -> None:
    steps = instructions("sandbox/Dockerfile")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module = pyproject["project"]["scripts"]["fleet-harness"].split(":")[0]
    assert "harness" in pyproject["project"]["optional-dependencies"]
    copied = {args.split()[0] for word, args in steps if word == "COPY"}
    assert module.split(".")[0] in copied  # the package behind the console script
    (run,) = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert 'pip install ".[harness]"' in run
    assert 'pip install "$HARNESS"' in run and ("ARG", 'HARNESS=""') in steps  # optional, on top
    assert ("ENTRYPOINT", '["fleet-harness"]') in steps
    (cmd,) = [json.loads(args) for word, args in steps if word == "CMD"]
    assert cmd == ["run", "--definition", DEFINITION_PATH]
    assert steps.index(("USER", "65532:65532")) > max(
        i for i, (word, _) in enumerate(steps) if word == "RUN"
    )


def test_every_dockerfile_is_linted_and_the_dashboard_image_runs_its_entry_point() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (line,) = [ln for ln in makefile.splitlines() if ln.startswith("DOCKERFILES :=")]
    assert sorted(line.split(":=")[1].split()) == sorted(DOCKERFILES)
    steps = instructions("dashboard/Dockerfile")
    assert ("ENTRYPOINT", '["python", "-m", "dashboard"]') in steps
    assert (ROOT / "dashboard" / "__main__.py").is_file()
    (run,) = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert 'pip install ".[gateway,dashboard]"' in run
