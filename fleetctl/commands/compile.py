"""``fleetctl compile``: a validated fleet → CRDs, FleetPolicy, AgentLoops, content ConfigMaps, kustomization."""

from __future__ import annotations

from pathlib import Path

import typer

from fleetctl.output import EXIT_INVALID, Output, fleet_source, print_diagnostics


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_cmd)


def git_commit_of(path: Path) -> str:
    """HEAD of the repository holding ``path`` (with ``-dirty`` if the fleet has local changes), or ''."""
    try:
        import git

        repo = git.Repo(path, search_parent_directories=True)
        sha = repo.head.commit.hexsha
        rel = str(path.resolve().relative_to(Path(repo.working_tree_dir or ".").resolve()))
        dirty = repo.is_dirty(untracked_files=True, path=None if rel == "." else rel)
        return sha + ("-dirty" if dirty else "")
    except Exception:  # not a repository, no commits yet, git missing: no provenance to record
        return ""


def compile_cmd(
    path: Path = typer.Argument(Path("."), help="The fleet directory."),
    out: str = typer.Option(
        "-", "--out", "-o", help="Output directory, or - for one YAML stream on stdout."
    ),
    namespace: str = typer.Option(
        None, "--namespace", "-n", help="Namespace the kustomization puts the objects in."
    ),
    git_commit: str = typer.Option(
        None, "--git-commit", help="Commit to record in annotations (default: detected)."
    ),
    lock: bool = typer.Option(True, "--lock/--no-lock", help="Require fleet.lock to match."),
) -> None:
    """Compile a fleet to Kubernetes custom resources (deterministic: same input, same bytes)."""
    from fleet.compile import compile_loaded
    from fleet.resolve import check
    from fleet.yamlout import dump_all

    source, _, _ = fleet_source([path])
    report = check(source, lock=lock)
    if report.fleet is None or report.errors:
        print_diagnostics(report.diagnostics, Output.text)
        raise typer.Exit(EXIT_INVALID)
    commit = git_commit if git_commit is not None else git_commit_of(path)
    compiled = compile_loaded(report.fleet, report.resolution, git_commit=commit)
    if out == "-":
        typer.echo(dump_all(compiled.documents()), nl=False)
        return
    target = Path(out)
    files = compiled.files(namespace)
    written = 0
    for sub in ("loops", "content", "crds"):
        folder = target / sub
        if folder.is_dir():
            for stale in folder.glob("*.yaml"):
                if f"{sub}/{stale.name}" not in files:
                    stale.unlink()
    for name, text in files.items():
        file = target / name
        if file.exists() and file.read_text() == text:
            continue
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
        written += 1
    typer.echo(
        f"compiled {len(compiled.loops)} loop(s) of fleet '{compiled.fleet_name}' into {target} ({written} file(s) changed)"
    )
