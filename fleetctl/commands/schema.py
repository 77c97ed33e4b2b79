"""``fleetctl schema``: print or write the JSON Schemas of the authoring format and the CRDs."""

from __future__ import annotations

from pathlib import Path

import typer

from fleetctl.output import EXIT_INVALID, fail


def register(app: typer.Typer) -> None:
    app.command()(schema)


def schema(
    kind: str = typer.Argument("fleet", help="fleet, agent, or crds."),
    write: Path = typer.Option(
        None, "--write", help="Write every generated schema into this directory."
    ),
    check: bool = typer.Option(
        False, "--check", help="With --write: exit 1 if the files there are out of date."
    ),
) -> None:
    """JSON Schema of fleet.yaml or agent files (for editors), or the CRDs."""
    from fleet.schema import generated_files

    files = generated_files()
    if write is not None:
        stale = [
            name
            for name, text in files.items()
            if not (write / name).exists() or (write / name).read_text() != text
        ]
        if check:
            for name in stale:
                typer.echo(
                    f"{write / name}: out of date (run `fleetctl schema --write {write}`)", err=True
                )
            raise typer.Exit(EXIT_INVALID if stale else 0)
        for name in stale:
            (write / name).parent.mkdir(parents=True, exist_ok=True)
            (write / name).write_text(files[name])
            typer.echo(f"wrote {write / name}")
        return
    if kind == "crds":
        typer.echo(
            "---\n"
            + "---\n".join(
                text for name, text in sorted(files.items()) if name.startswith("crds/")
            ),
            nl=False,
        )
    elif f"{kind}.schema.json" in files:
        typer.echo(files[f"{kind}.schema.json"], nl=False)
    else:
        fail(f"unknown schema '{kind}'", "use fleet, agent or crds")
