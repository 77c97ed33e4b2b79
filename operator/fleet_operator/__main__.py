"""``python -m fleet_operator``: run the operator (kopf, all namespaces, standalone).

Before kopf starts, the entry point checks that there is a cluster to log in to
(the operator's own URL override, the pod's service account, or a kubeconfig):
without one, kopf would retry its login every minute with a traceback each time,
so the operator says once what is missing and exits 2 instead.
"""

from __future__ import annotations

import os
import sys


def cluster_problem() -> str | None:
    """Why the operator has no cluster to log in to, or None when it has one."""
    if os.environ.get("FLEET_OPERATOR_KUBE_URL"):
        return None
    import kubernetes.config

    try:
        kubernetes.config.load_incluster_config()
        return None
    except kubernetes.config.ConfigException as exc:
        in_cluster = str(exc).rstrip(".")
    try:
        kubernetes.config.load_kube_config()
        return None
    except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
        kubeconfig = str(exc).rstrip(".") or type(exc).__name__
    where = os.environ.get("KUBECONFIG") or "~/.kube/config"
    return (
        f"no Kubernetes cluster to run against: not in a pod ({in_cluster}) "
        f"and no usable kubeconfig at {where} ({kubeconfig})"
    )


def main() -> None:
    args = sys.argv[1:] or ["--all-namespaces"]
    if not {"--help", "-h"} & set(args):
        problem = cluster_problem()
        if problem:
            print(
                f"error: {problem} (run the operator in its pod, point KUBECONFIG at a cluster, "
                "or set FLEET_OPERATOR_KUBE_URL)",
                file=sys.stderr,
            )
            sys.exit(2)
    from kopf import cli

    sys.exit(
        cli.main(
            ["run", "-m", "fleet_operator.handlers", "--standalone", *args], standalone_mode=False
        )
        or 0
    )


if __name__ == "__main__":
    main()
