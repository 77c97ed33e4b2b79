"""The real kubectl against the emulator, so what a platform team types is tested.

A compiled fleet goes in with ``kubectl apply`` (CRDs first, as on a new cluster, then
``kubectl apply -k``), the operator reconciles it under KopfRunner, and ``kubectl get
agentloops`` / ``al`` / ``fleet`` are read back column by column. The columns are the CRD's
own ``additionalPrinterColumns``, read at test time from the CRD that was applied (the
compiled copy of operator/deploy/crds), so the test follows the CRD; each cell is checked against kubectl's own JSONPath evaluation of the
same object (``-o custom-columns``), dates as ages.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fleet_operator.kube import Kube

from tests.conftest import EXAMPLES
from tests.e2e.conftest import run_operator, wait_for
from tests.e2e.emulator import Cluster

NS = "kubectl-e2e"


def find_kubectl() -> tuple[str | None, str]:
    """kubectl on PATH if it is 1.27 or newer (it reads field validation from /openapi/v3),
    else why not."""
    path = shutil.which("kubectl")
    if path is None:
        return None, "kubectl is not on PATH: scripts/install-kubectl installs it (.ci/run does)"
    proc = subprocess.run(
        [path, "version", "--client", "-o", "json"], capture_output=True, text=True, check=False
    )
    try:
        version = json.loads(proc.stdout)["clientVersion"]
        minor = int(version["minor"].rstrip("+"))
    except (ValueError, KeyError):
        return None, f"{path} did not tell its version: {proc.stderr.strip()[:200]}"
    if minor < 27:
        return (
            None,
            f"{path} is kubectl {version.get('gitVersion')}; 1.27+ needed (scripts/install-kubectl)",
        )
    return path, ""


KUBECTL, WHY_NOT = find_kubectl()
pytestmark = pytest.mark.e2e
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason=WHY_NOT)


class Kubectl:
    """kubectl with a kubeconfig of its own for the emulator, a fresh discovery cache, and a
    HOME that keeps the user's ~/.kube out of it."""

    def __init__(self, cluster: Cluster, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = cluster.write_kubeconfig(home / "kubeconfig", NS)
        self.cache = home / "cache"
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        )

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        proc = self.run(*args, stdin=stdin)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def fails(self, *args: str, stdin: str | None = None) -> str:
        proc = self.run(*args, stdin=stdin)
        assert proc.returncode != 0, f"kubectl {' '.join(args)} succeeded: {proc.stdout}"
        return proc.stderr


def crd_columns(crds: Path, plural: str) -> list[dict[str, Any]]:
    crd = yaml.safe_load((crds / f"{plural}.fleetctl.dev.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("served", True))
    return list(version.get("additionalPrinterColumns") or [])


def parse_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """kubectl's tables (one per kind, separated by a blank line): the header's names and each
    row's cells, cut at the header's column starts so an empty cell stays a cell."""
    tables = []
    for block in text.strip("\n").split("\n\n"):
        header, *lines = block.splitlines()
        spans = list(re.finditer(r"\S+(?: \S+)*", header))  # "LAST RUN" is one name
        starts = [m.start() for m in spans] + [None]
        rows = [
            [line[starts[i] : starts[i + 1]].strip() for i in range(len(spans))] for line in lines
        ]
        tables.append(([m.group() for m in spans], rows))
    return tables


def seconds(age: str) -> int:
    """An age as kubectl prints it ("45s", "2m5s", "3h") in seconds."""
    m = re.fullmatch(r"(?:(\d+)y)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", age)
    assert m and age, f"not an age: {age!r}"
    y, d, h, mi, s = (int(g or 0) for g in m.groups())
    return (((y * 365 + d) * 24 + h) * 60 + mi) * 60 + s


def check_table(
    kubectl: Kubectl, args: list[str], columns: list[dict[str, Any]], prefix: str = ""
) -> dict[str, dict[str, str]]:
    """Check the table ``kubectl get ARGS`` prints: the header is NAME and the CRD's columns,
    and each cell is what kubectl's own JSONPath finds in the object (a date as its age).
    Returns name -> column -> cell."""
    for attempt in range(3):
        try:
            return _check_table(kubectl, args, columns, prefix)
        except AssertionError:
            if attempt == 2:  # else the operator wrote between the two reads: read again
                raise
    raise AssertionError("unreachable")


def _check_table(
    kubectl: Kubectl, args: list[str], columns: list[dict[str, Any]], prefix: str
) -> dict[str, dict[str, str]]:
    custom = ",".join(
        ["NAME:.metadata.name", *(f"C{i}:{c['jsonPath']}" for i, c in enumerate(columns))]
    )
    before = dt.datetime.now(dt.UTC)
    tables = parse_tables(kubectl("get", *args))
    after = dt.datetime.now(dt.UTC)
    resource = args[0] if not prefix else prefix.rstrip("/")
    [(_, raw)] = parse_tables(kubectl("get", resource, "-o", f"custom-columns={custom}"))
    truth = {r[0]: r[1:] for r in raw}
    header, rows = next(t for t in tables if t[1] and t[1][0][0].startswith(prefix))
    assert header == ["NAME", *(c["name"].upper() for c in columns)], header
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        name = row[0].removeprefix(prefix)
        assert name in truth, (name, sorted(truth))
        for col, cell, value in zip(columns, row[1:], truth[name], strict=True):
            value = "" if value == "<none>" else value
            if col["type"] == "date" and value:
                stamp = dt.datetime.fromisoformat(value)
                oldest = (after - stamp).total_seconds()
                youngest = (before - stamp).total_seconds()
                got = seconds(cell)
                assert int(youngest) - 1 <= got <= int(oldest) + 1, (name, col, cell, value)
            else:
                assert cell == value, (name, col["name"], cell, value)
        seen[name] = dict(zip((c["name"] for c in columns), row[1:], strict=True))
    return seen


def fill_status(columns: list[dict[str, Any]], ago: dt.timedelta) -> dict[str, Any]:
    """A status that gives each plain ``.status.…`` column a value (what a finished run
    leaves there), so those columns are checked with something in them."""
    status: dict[str, Any] = {}
    value = {
        "date": (dt.datetime.now(dt.UTC) - ago).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "string": "done",
        "integer": 3,
        "number": 0.25,
        "boolean": True,
    }
    for col in columns:
        m = re.fullmatch(r"\.status((?:\.\w+)+)", col["jsonPath"])
        if not m:
            continue
        *parents, leaf = m[1].strip(".").split(".")
        at = status
        for key in parents:
            at = at.setdefault(key, {})
        at[leaf] = value[col["type"]]
    return status


@pytest.fixture
def fresh_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """An API server of its own with no CRDs yet, as a new cluster has."""
    with Cluster(crds=False) as cluster:
        monkeypatch.setenv("FLEET_OPERATOR_KUBE_URL", cluster.url)
        yield cluster


@needs_kubectl
@pytest.mark.timeout(90)
def test_kubectl_apply_and_get(fresh_cluster: Cluster, tmp_path: Path) -> None:
    kubectl = Kubectl(fresh_cluster, tmp_path / "home")
    out = tmp_path / "fleet"
    fleetctl = Path(sys.executable).with_name("fleetctl")
    subprocess.run(
        [str(fleetctl), "compile", str(EXAMPLES / "northwind"), "-o", str(out), "-n", NS],
        check=True,
        capture_output=True,
        timeout=60,
    )
    loops = {
        doc["metadata"]["name"]: doc
        for doc in (yaml.safe_load(p.read_text()) for p in sorted((out / "loops").glob("*.yaml")))
    }

    # A new cluster: no such resource type until its CRD is applied.
    assert 'the server doesn\'t have a resource type "al"' in kubectl.fails("get", "al")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    assert kubectl("apply", "-f", "-", stdin=json.dumps(namespace)) == f"namespace/{NS} created\n"
    applied = kubectl("apply", "-f", str(out / "crds"))
    assert (
        "customresourcedefinition.apiextensions.k8s.io/agentloops.fleetctl.dev created" in applied
    )
    kubectl("wait", "--for=condition=Established", "--timeout=10s", "crd", "--all")
    assert kubectl.run("get", "al").stderr == f"No resources found in {NS} namespace.\n"

    with run_operator():
        applied = kubectl("apply", "-k", str(out))
        lines = set(applied.splitlines())
        assert {f"agentloop.fleetctl.dev/{name} created" for name in loops} <= lines, applied
        assert "fleetpolicy.fleetctl.dev/northwind created" in lines
        assert (
            "customresourcedefinition.apiextensions.k8s.io/agentloops.fleetctl.dev unchanged"
            in lines
        )
        kubectl("wait", "--for=condition=Ready", "--timeout=60s", "agentloops", "--all")

        # A finished run's status on one loop, so its run columns show something.
        columns = crd_columns(out / "crds", "agentloops")
        run = fill_status(columns, dt.timedelta(seconds=90))
        kubectl(
            "patch", "agentloop", "bug-report-triage", "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": run}),
        )  # fmt: skip

        for args, prefix in (
            (["agentloops"], ""),
            (["al", "-n", NS], ""),
            (["fleet"], "agentloop.fleetctl.dev/"),
        ):
            cells = check_table(kubectl, args, columns, prefix)
            assert sorted(cells) == sorted(loops), args
            for name, row in cells.items():
                spec = loops[name]["spec"]
                for col in columns:
                    path = re.fullmatch(r"\.spec((?:\.\w+)+)", col["jsonPath"])
                    if path:  # what compile wrote, as the user sees it
                        want: Any = spec
                        for key in path[1].strip(".").split("."):
                            want = (want or {}).get(key)
                        assert row[col["name"]] == ("" if want is None else str(want))
                if "Ready" in row:
                    assert row["Ready"] == "True", (name, row)
                if "Age" in row:
                    assert seconds(row["Age"]) < 120, row
            ran = cells["bug-report-triage"]
            for col in columns:
                if col["type"] == "date" and col["jsonPath"].startswith(".status"):
                    assert 85 <= seconds(ran[col["name"]]) <= 120, (col, ran)
                    assert all(
                        cells[n][col["name"]] == "" for n in cells if n != "bug-report-triage"
                    )
                elif col["jsonPath"].startswith(".status.") and "[" not in col["jsonPath"]:
                    assert ran[col["name"]] == "done", (col, ran)

        policy_columns = crd_columns(out / "crds", "fleetpolicies")
        assert sorted(check_table(kubectl, ["fp"], policy_columns)) == ["northwind"]
        assert sorted(
            check_table(kubectl, ["fleet"], policy_columns, "fleetpolicy.fleetctl.dev/")
        ) == ["northwind"]

        # .status belongs to the status subresource: a patch of the loop itself leaves it.
        observed = kubectl(
            "get", "al", "cost-report", "-o", "jsonpath={.status.observedGeneration}"
        )
        kubectl(
            "patch",
            "al",
            "cost-report",
            "--type=merge",
            "-p",
            '{"status": {"observedGeneration": 99}}',
        )
        assert (
            kubectl("get", "al", "cost-report", "-o", "jsonpath={.status.observedGeneration}")
            == observed
        )

        # -o json: a List of the objects as the API holds them, specs as compiled.
        listed = json.loads(kubectl("get", "agentloops", "-o", "json"))
        assert (listed["kind"], listed["apiVersion"]) == ("List", "v1")
        kube = Kube.from_url(fresh_cluster.url)
        for item in listed["items"]:
            name = item["metadata"]["name"]
            assert (item["apiVersion"], item["kind"]) == ("fleetctl.dev/v1alpha1", "AgentLoop")
            assert item["spec"] == loops[name]["spec"], name
            live = kube.get("fleetctl.dev/v1alpha1", "AgentLoop", NS, name)
            if live and live["metadata"]["resourceVersion"] == item["metadata"]["resourceVersion"]:
                assert item == live, name

        # Round trip: the JSON edited and put back (PUT, resourceVersion checked), a stale
        # copy refused, and the compiled fleet applied again restores it (three-way merge).
        edited = json.loads(kubectl("get", "al", "changelog", "-o", "json"))
        edited["spec"]["description"] = "edited by hand"
        (tmp_path / "changelog.json").write_text(json.dumps(edited))
        replaced = kubectl("replace", "-f", str(tmp_path / "changelog.json"))
        assert replaced == "agentloop.fleetctl.dev/changelog replaced\n"
        stale = kubectl.fails("replace", "-f", str(tmp_path / "changelog.json"))
        assert "the object has been modified" in stale, stale
        assert kubectl("get", "al", "changelog", "-o", "jsonpath={.spec.description}") == (
            "edited by hand"
        )
        again = kubectl("apply", "-k", str(out))
        assert "agentloop.fleetctl.dev/changelog configured" in again.splitlines(), again
        assert "agentloop.fleetctl.dev/cost-report unchanged" in again.splitlines(), again
        assert (
            kubectl("get", "al", "changelog", "-o", "jsonpath={.spec.description}")
            == loops["changelog"]["spec"]["description"]
        )
        generation = wait_for(
            lambda: (
                json.loads(kubectl("get", "al", "changelog", "-o", "json"))
                if kubectl("get", "al", "changelog", "-o", "jsonpath={.status.observedGeneration}")
                == kubectl("get", "al", "changelog", "-o", "jsonpath={.metadata.generation}")
                else None
            ),
            30,
            "the operator to observe the edits",
        )["metadata"]["generation"]
        assert generation == 3  # created, replaced, re-applied

        # kubectl delete waits (a watch on the one name) until the operator lets it go.
        deleted = kubectl("delete", "agentloop", "docs-drift", "--timeout=30s")
        assert deleted.startswith(
            'agentloop.fleetctl.dev "docs-drift" deleted'
        )  # 1.37: "… from NS namespace"
        assert kubectl.fails("get", "al", "docs-drift") == (
            'Error from server (NotFound): agentloops.fleetctl.dev "docs-drift" not found\n'
        )
        assert "docs-drift" not in kubectl("get", "al", "-o", "name")


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
            "categories": ["gadgets"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                        },
                    }
                },
            }
        ],
    },
}


@needs_kubectl
def test_kubectl_crd_lifecycle(fresh_cluster: Cluster, tmp_path: Path) -> None:
    """Short names and categories come and go with their CRD; a CRD without printer columns
    gets NAME and AGE; an unknown field is refused as kube-apiserver refuses it."""
    kubectl = Kubectl(fresh_cluster, tmp_path / "home")
    kubectl("apply", "-f", "-", stdin=json.dumps(WIDGET_CRD))
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": NS},
        "spec": {"size": 3},
    }
    assert (
        kubectl("apply", "-f", "-", stdin=json.dumps(widget)) == "widget.example.com/w1 created\n"
    )
    for kind in ("widgets", "wd", "gadgets", "widget.example.com"):
        [(header, rows)] = parse_tables(kubectl("get", kind))
        assert header == ["NAME", "AGE"] and len(rows) == 1, (kind, header, rows)
        assert rows[0][0] in ("w1", "widget.example.com/w1") and seconds(rows[0][1]) < 60

    bad = {**widget, "spec": {"size": 3, "colour": "red"}}
    refused = kubectl.fails("apply", "-f", "-", stdin=json.dumps(bad))
    assert 'strict decoding error: unknown field "spec.colour"' in refused, refused
    warned = kubectl.run("apply", "--validate=warn", "-f", "-", stdin=json.dumps(bad))
    assert warned.returncode == 0 and 'unknown field "spec.colour"' in warned.stderr, warned
    assert json.loads(kubectl("get", "wd", "w1", "-o", "json"))["spec"] == {"size": 3}  # pruned

    assert kubectl("delete", "crd", "widgets.example.com").startswith("customresourcedefinition")
    assert "widgets" not in kubectl("api-resources")  # which reads discovery afresh
    assert 'the server doesn\'t have a resource type "wd"' in kubectl.fails("get", "wd")


@needs_kubectl
def test_kubectl_limits_and_server_side_apply(fresh_cluster: Cluster, tmp_path: Path) -> None:
    """A ConfigMap too big for client-side apply's last-applied annotation is refused in
    kube-apiserver's words; kubectl create and kubectl apply --server-side take it."""
    kubectl = Kubectl(fresh_cluster, tmp_path / "home")
    big = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": NS},
        "data": {"PROMPT.md": "x" * 300_000},
    }
    refused = kubectl.fails("apply", "-f", "-", stdin=json.dumps(big))
    assert (
        'ConfigMap "big" is invalid: metadata.annotations: Too long: must have at most 262144 bytes'
        in refused
    )
    applied = kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(big))
    assert applied == "configmap/big serverside-applied\n"
    assert kubectl("get", "cm", "big", "-o", "jsonpath={.data.PROMPT\\.md}") == "x" * 300_000
    huge = {**big, "metadata": {"name": "huge", "namespace": NS}, "data": {"a": "x" * 1_100_000}}
    refused = kubectl.fails("create", "-f", "-", stdin=json.dumps(huge))
    assert 'ConfigMap "huge" is invalid: []: Too long: must have at most 1048576 bytes' in refused


def test_legacy_discovery_with_the_official_client(cluster: Cluster) -> None:
    """kopf and the kubernetes client read the legacy discovery lists: the same resources,
    short names on the resources only, and lists of the kind's List."""
    import kubernetes

    config = kubernetes.client.Configuration()
    config.host = cluster.url
    with kubernetes.client.ApiClient(config) as api:
        groups = kubernetes.client.ApisApi(api).get_api_versions()
        fleet = next(g for g in groups.groups if g.name == "fleetctl.dev")
        assert fleet.preferred_version.group_version == "fleetctl.dev/v1alpha1"
        core = {r.name: r for r in kubernetes.client.CoreV1Api(api).get_api_resources().resources}
        assert (
            core["namespaces"].short_names == ["ns"] and not core["namespaces/status"].short_names
        )
        dynamic = kubernetes.dynamic.DynamicClient(api)
        loops = dynamic.resources.get(api_version="fleetctl.dev/v1alpha1", kind="AgentLoop")
        assert (loops.short_names, loops.categories) == (["al"], ["all", "fleet"])
        listed = loops.get(namespace="nobody-here")
        assert (listed.kind, listed.apiVersion, listed.items) == (
            "AgentLoopList",
            "fleetctl.dev/v1alpha1",
            [],
        )


# -- the emulator's pure parts, table by table --------------------------------------------


@pytest.mark.parametrize(
    ("path", "want"),
    [
        (".spec.owner", ["ana"]),
        ("{.spec.owner}", ["ana"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type!='Ready')].type", ["Accepted"]),
        (".status.conditions[*].type", ["Accepted", "Ready"]),
        (".status.conditions[-1].reason", ["Done"]),
        (".status.conditions[0:1].type", ["Accepted"]),
        (".metadata.labels['fleetctl.dev/stage']", ["production"]),
        (".metadata.labels.fleetctl\\.dev/stage", ["production"]),
        ("..reason", ["Ok", "Done"]),
        (".spec.missing", []),
        (".status.conditions[?(@.observedGeneration>1)].type", ["Ready"]),
    ],
)
def test_jsonpath(path: str, want: list[Any]) -> None:
    from tests.e2e.emulator import jsonpath

    obj = {
        "metadata": {"labels": {"fleetctl.dev/stage": "production"}},
        "spec": {"owner": "ana"},
        "status": {
            "conditions": [
                {"type": "Accepted", "status": "True", "reason": "Ok", "observedGeneration": 1},
                {"type": "Ready", "status": "True", "reason": "Done", "observedGeneration": 2},
            ]
        },
    }
    assert jsonpath(path, obj) == want


@pytest.mark.parametrize(
    ("seconds_ago", "want"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (48 * 3600, "2d"),
        (49 * 3600, "2d1h"),
        (8 * 86400, "8d"),
        (2 * 365 * 86400, "2y"),
        (2 * 365 * 86400 + 86400, "2y1d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds_ago: int, want: str) -> None:
    from tests.e2e.emulator import human_duration

    assert human_duration(seconds_ago) == want


@pytest.mark.parametrize(
    ("base", "patch", "want"),
    [
        (
            {"data": {"a": "1", "b": "2"}},
            {"data": {"a": None, "c": "3"}},
            {"data": {"b": "2", "c": "3"}},
        ),
        (
            {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
            {
                "containers": [{"name": "b", "image": "z"}],
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            },
            {"containers": [{"name": "b", "image": "z"}, {"name": "a", "image": "x"}]},
        ),
        (
            {"containers": [{"name": "a"}, {"name": "b"}]},
            {"containers": [{"name": "a", "$patch": "delete"}]},
            {"containers": [{"name": "b"}]},
        ),
        ({"args": ["a", "b"]}, {"args": ["c"]}, {"args": ["c"]}),
        ({"finalizers": ["a"]}, {"finalizers": ["b"]}, {"finalizers": ["a", "b"]}),
        (
            {"finalizers": ["a", "b"]},
            {"$deleteFromPrimitiveList/finalizers": ["a"]},
            {"finalizers": ["b"]},
        ),
        ({"spec": {"a": 1, "b": 2}}, {"spec": {"$patch": "replace", "c": 3}}, {"spec": {"c": 3}}),
        ({"spec": {"a": 1, "b": 2}}, {"spec": {"$retainKeys": ["a"], "a": 5}}, {"spec": {"a": 5}}),
        (
            {"ports": [{"containerPort": 80, "name": "x"}]},
            {"ports": [{"containerPort": 80, "name": "y"}]},
            {"ports": [{"containerPort": 80, "name": "y"}]},
        ),
    ],
)
def test_strategic_merge(base: dict[str, Any], patch: dict[str, Any], want: dict[str, Any]) -> None:
    from tests.e2e.emulator import merge_diff, merge_patch, strategic_merge

    assert strategic_merge(base, patch) == want
    assert merge_patch(base, merge_diff(base, want)) == want  # what the emulator hands kmock


@pytest.mark.parametrize(
    ("labels", "selector", "want"),
    [
        ({"a": "1"}, "a=1", True),
        ({"a": "1"}, "a==1", True),
        ({"a": "1"}, "a!=1", False),
        ({"a": "1"}, "a", True),
        ({"a": "1"}, "!a", False),
        ({}, "!a", True),
        ({"a": "1", "b": "2"}, "a=1,b=3", False),
        ({"a": "1"}, "a in (1, 2)", True),
        ({"a": "1"}, "a notin (1,2)", False),
        ({}, "a notin (1)", True),
    ],
)
def test_selectors(labels: dict[str, str], selector: str, want: bool) -> None:
    from tests.e2e.emulator import matches_selector

    assert matches_selector(labels, selector) is want


def test_unknown_fields() -> None:
    from tests.e2e.emulator import prune, unknown_fields

    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"a": {}}},
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    obj = {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n", "labelz": {}},
        "spec": {"items": [{"a": 1, "b": 2}], "labels": {"any": "thing"}, "colour": "red"},
        "status": {"whatever": {"deep": True}},
    }
    assert unknown_fields(obj, schema) == ["metadata.labelz", "spec.items[0].b", "spec.colour"]
    assert prune(obj, schema) == {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n"},
        "spec": {"items": [{"a": 1}], "labels": {"any": "thing"}},
        "status": {"whatever": {"deep": True}},
    }
