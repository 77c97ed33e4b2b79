"""``fleetctl approvers token NAME --fleet F [-n NS] [--apply]``: make someone an approver of a
fleet in a cluster without their token ever reaching git or the cluster.

It mints a fresh approver token, shows it once (on stderr, or in ``--token-file``) to hand to
the human, and prints on stdout the Secret that declares them: ``<fleet>-approver-<name>``,
labelled ``fleetctl.dev/approvers: <fleet>``, holding only the token's ``sha256:`` hash. Pipe
it to ``kubectl apply -f -``, or give ``--apply`` to write it with the current kubeconfig.
Running it again for the same name rotates the token (the old one stops working once the
operator has re-rendered the gateway config); deleting the Secret removes the approver.

Exit codes: 0 printed (or applied); 2 usage (a bad name, no fleet named, no cluster).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from fleetctl.output import fail

approvers_app = typer.Typer(
    help="Approver identities of a fleet in a cluster.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(approvers_app, name="approvers")


@approvers_app.command("token")
def token(
    name: str = typer.Argument(..., help="The approver's name (as decisions will show it)."),
    fleet: str = typer.Option(None, "--fleet", help="The fleet (its FleetPolicy's name)."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="The fleet's namespace."),
    apply: bool = typer.Option(False, "--apply", help="Create or replace the Secret now."),
    context: str = typer.Option(None, "--context", help="The kubeconfig context (--apply)."),
    token_file: Path = typer.Option(
        None, "--token-file", help="Write the token to this file (0600) instead of stderr."
    ),
) -> None:
    """Mint an approver token: the token once, and the Secret with its hash."""
    import yaml
    from fleet_operator.approvers import NAME, approver_secret, mint_token, token_hash

    if not NAME.fullmatch(name):
        fail(
            f"approver name {name[:60]!r} is not lower-case letters, digits, '-' and '.' "
            "(at most 50, starting and ending with a letter or digit)",
            "it is a Secret key and part of the Secret's name: try e.g. alice or ops.oncall",
        )
    if not fleet:
        fail("no fleet named", "give --fleet NAME (kubectl get fleetpolicies -A lists them)")
    minted = mint_token()
    secret = approver_secret(fleet, name, token_hash(minted), namespace)
    if apply:
        _apply(secret, context)
    else:
        typer.echo(yaml.safe_dump(secret, sort_keys=False), nl=False)
    if token_file is not None:
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(minted + "\n")
        shown = f"the token is in {token_file}"
    else:
        typer.echo(f"approver token for {name} (shown once, hand it over privately):", err=True)
        typer.echo(minted, err=True)
        shown = "give them the token above"
    typer.echo(
        f"{shown}; they use it as FLEET_APPROVER_TOKEN with\n"
        f"  kubectl -n {namespace} port-forward service/fleet-gateway 8080:8080\n"
        "  fleetctl approvals list --gateway http://127.0.0.1:8080",
        err=True,
    )


def _apply(secret: dict[str, Any], context: str | None) -> None:
    import base64

    from fleet_operator.kube import Kube, KubeError

    meta = secret["metadata"]
    ns, name = meta["namespace"], meta["name"]
    # Sent as data (what an API server stores stringData as), so a patch replaces the value.
    data = {k: base64.b64encode(v.encode()).decode() for k, v in secret["stringData"].items()}
    body = {k: v for k, v in secret.items() if k != "stringData"} | {"data": data}
    try:
        kube = Kube.from_kubeconfig(context)
        if kube.get("v1", "Secret", ns, name) is None:
            kube.create(body)
            verb = "created"
        else:
            # The approver's previous token stops working with this.
            kube.patch(
                "v1", "Secret", ns, name, {"metadata": {"labels": meta["labels"]}, "data": data}
            )
            verb = "configured"
    except KubeError as exc:
        where = f"context {context!r}" if context else "the current kubeconfig context"
        fail(
            f"cannot write Secret {ns}/{name} in {where}: {exc.message[:300]}",
            "check kubectl works",
        )
    typer.echo(f"secret/{name} {verb}")
