"""End-to-end fixtures: the emulated API server, the compiled example fleet, the operator under KopfRunner."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("FLEET_OPERATOR_DRIFT_SECONDS", "3")
os.environ.setdefault("FLEET_OPERATOR_FLEET_SECONDS", "0.3")

from fleet_operator.kube import Kube
from fleet_operator.state import FleetState

from fleet.compile import compile_fleet
from fleet.source import DirSource
from tests.conftest import NORTHWIND
from tests.e2e.emulator import Cluster


class RealCluster:
    """A real API server (kind in .github/workflows/e2e-kind.yml, through ``kubectl proxy``).

    ``writes`` sums the resourceVersions of the kinds the operator owns in the test
    namespaces: any write to them changes it, other controllers' churn does not.
    """

    KINDS = (
        ("fleetctl.dev/v1alpha1", "AgentLoop"),
        ("fleetctl.dev/v1alpha1", "FleetPolicy"),
        ("v1", "ServiceAccount"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("batch/v1", "CronJob"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
    )

    def __init__(self, url: str):
        self.url = url
        self.emulator = None
        self._kube = Kube.from_url(url)

    @property
    def writes(self) -> int:
        total = 0
        for ns in ("northwind", "invalid"):
            for api_version, kind in self.KINDS:
                for obj in self._kube.list(api_version, kind, ns):
                    total += int(obj["metadata"].get("resourceVersion", 0))
        return total


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster | RealCluster]:
    real = os.environ.get("FLEET_E2E_KUBE_URL")
    if real:
        os.environ["FLEET_OPERATOR_KUBE_URL"] = real
        kube = Kube.from_url(real)
        for ns in ("northwind", "invalid"):
            if kube.get("v1", "Namespace", None, ns) is None:
                kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        yield RealCluster(real)
        return
    with Cluster() as c:
        os.environ["FLEET_OPERATOR_KUBE_URL"] = c.url
        yield c


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> Kube:
    return Kube.from_url(cluster.url)


@pytest.fixture(scope="session")
def northwind() -> list[dict[str, Any]]:
    compiled = compile_fleet(DirSource(NORTHWIND), git_commit="e2e")
    return [compiled.policy, *compiled.content, *compiled.loops]


def apply_all(kube: Kube, docs: list[dict[str, Any]], namespace: str) -> None:
    for doc in docs:
        doc = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
        kube.create(doc)


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.time() + timeout
    last: Any = None
    while time.time() < deadline:
        last = check()
        if last:
            if os.environ.get("FLEET_E2E_TRACE"):
                print(
                    f"{time.strftime('%H:%M:%S')} {what}: {timeout - (deadline - time.time()):.1f}s",
                    flush=True,
                )
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@contextlib.contextmanager
def run_operator() -> Iterator[None]:
    """The operator under KopfRunner, against the API server FLEET_OPERATOR_KUBE_URL names."""
    import fleet_operator.handlers as handlers
    from kopf.testing import KopfRunner

    handlers._KUBE = None
    handlers.STATE = FleetState()  # each test starts an operator with nothing remembered
    with KopfRunner(
        ["run", "-A", "--standalone", "-m", "fleet_operator.handlers"], timeout=60
    ) as runner:
        yield
    assert runner.exception is None, runner.exception


@pytest.fixture
def operator(cluster: Cluster) -> Iterator[None]:
    with run_operator():
        yield
