"""The three images build from what the repository has: no Docker engine runs in CI, so these
check what a build would trip on without one. Each Dockerfile's COPY sources exist; the extra
it installs is declared in pyproject.toml; what its ENTRYPOINT runs is a module or console script
of the packages it copies; every first-party package reachable from there is copied, and every
third-party module they import comes with the extra it installs; the flags in its CMD
(and, for the gateway and sandbox, the args the operator's manifests pass) are ones the entry
point accepts. ``make lint-images`` runs hadolint over the same files."""

from __future__ import annotations

import ast
import importlib.metadata as md
import itertools
import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from ruamel.yaml import YAML

from fleet.render import render_fleet, render_loop
from tests.conftest import ROOT

IMAGES = ("gateway", "operator", "sandbox")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
FIRST_PARTY = {"fleet", "fleetctl", "gateway", "harness", "fleet_operator"}
# Where each first-party package lives in the repository (setuptools' find, where = [".", "operator"]).
SOURCE = {name: ROOT / name for name in FIRST_PARTY} | {
    "fleet_operator": ROOT / "operator" / "fleet_operator"
}


@dataclass
class Stage:
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination)
    runs: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def instructions(path: Path) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, rest) pairs, continuation lines joined and comments dropped."""
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        word, _, rest = logical.partition(" ")
        yield word.upper(), rest.strip()
        logical = ""


def stages(path: Path) -> list[Stage]:
    found: list[Stage] = []
    for word, rest in instructions(path):
        if word == "FROM":
            found.append(Stage())
        elif word == "COPY" and not rest.startswith("--from"):
            *sources, dest = shlex.split(rest)
            found[-1].copies.append((sources, dest))
        elif word == "RUN":
            found[-1].runs.append(rest)
        elif word in ("ENTRYPOINT", "CMD"):
            setattr(found[-1], word.lower(), json.loads(rest))
    return found


def copied_packages(stage: Stage) -> set[str]:
    """The first-party packages a build stage copies into its context (by their source dir)."""
    names = set()
    for sources, _dest in stage.copies:
        for source in sources:
            for name, where in SOURCE.items():
                if (ROOT / source).resolve() == where.resolve():
                    names.add(name)
    return names


def installed_extra(stage: Stage) -> str:
    for run in stage.runs:
        match = re.search(r"""pip install ["']?\.\[(\w+)\]""", run)
        if match:
            return match.group(1)
    raise AssertionError(f"no `pip install .[extra]` in {stage.runs}")


def module_file(module: str) -> Path | None:
    top, *rest = module.split(".")
    if top not in SOURCE:
        return None
    base = SOURCE[top].joinpath(*rest)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imports(path: Path, module: str) -> Iterator[str]:
    """Modules ``path`` imports, also inside functions (a deferred import still runs in the
    image), except under ``if TYPE_CHECKING:`` and in a ``try`` that handles its failure."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(nodes: list[ast.AST]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                yield target
                yield from (f"{target}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.List | ast.Tuple):
                # ["-m", "pkg.module"]: a module handed by name to a runner (kopf run -m ...).
                names = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
                yield from (m for flag, m in itertools.pairwise(names) if flag == "-m" and m)
                yield from walk(list(node.elts))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(list(node.orelse))
            elif isinstance(node, ast.Try) and node.handlers:
                yield from walk([*node.handlers, *node.orelse, *node.finalbody])
            else:
                yield from walk(list(ast.iter_child_nodes(node)))

    yield from walk([tree])


def reachable(entry: str) -> tuple[set[str], set[str]]:
    """First-party modules loaded by importing ``entry`` (with their parent packages), and the
    top-level names of the other modules they import."""
    seen: set[str] = set()
    external: set[str] = set()
    todo = [entry]
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in seen:
                continue
            path = module_file(name)
            if path is None:
                if parts[0] not in FIRST_PARTY:
                    external.add(parts[0])
                continue
            seen.add(name)
            todo.extend(imports(path, name))
    return seen, external


def distributions_for(extra: str) -> set[str]:
    """Normalized names of every distribution ``pip install .[extra]`` brings, transitively."""
    wanted = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    wanted += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    found: set[str] = set()
    while wanted:
        req = wanted.pop()
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in found:
            continue
        found.add(name)
        try:
            requires = md.requires(req.name) or []
        except md.PackageNotFoundError:
            continue
        for text in requires:
            sub = Requirement(text)
            if sub.marker and not sub.marker.evaluate({"extra": ""}):
                continue
            wanted.append(sub)
    return found


def accepted_flags(argv: list[str]) -> set[str]:
    out = subprocess.run(
        [*argv, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT, check=True
    ).stdout
    return set(re.findall(r"(--[a-z][a-z-]*)", out))


def entry_module(final: Stage) -> tuple[str, list[str]]:
    """The module the ENTRYPOINT imports, and the argv that runs it here."""
    entry = final.entrypoint
    if entry[:2] == ["python", "-m"]:
        return entry[2], [sys.executable, "-m", entry[2]]
    scripts = PYPROJECT["project"]["scripts"]
    assert entry[0] in scripts, f"ENTRYPOINT {entry[0]!r} is not a [project.scripts] entry"
    module = scripts[entry[0]].partition(":")[0]
    return module, [str(Path(sys.executable).with_name(entry[0])), *entry[1:]]


@pytest.mark.parametrize("image", IMAGES)
def test_copy_sources_exist(image: str) -> None:
    dockerfile = ROOT / image / "Dockerfile"
    for stage in stages(dockerfile):
        for sources, _dest in stage.copies:
            for source in sources:
                assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}: no such path"


@pytest.mark.parametrize("image", IMAGES)
def test_entrypoint_loads_from_what_is_copied(image: str) -> None:
    build, final = stages(ROOT / image / "Dockerfile")
    extra = installed_extra(build)
    assert extra in PYPROJECT["project"]["optional-dependencies"], extra
    module, _argv = entry_module(final)
    assert module_file(module) is not None, f"{image}: ENTRYPOINT module {module} does not exist"
    if final.entrypoint[:2] == ["python", "-m"]:
        assert module_file(f"{module}.__main__") is not None, f"{module} has no __main__"
    first_party, external = reachable(
        f"{module}.__main__" if final.entrypoint[:2] == ["python", "-m"] else module
    )
    missing = {m.split(".")[0] for m in first_party} - copied_packages(build)
    assert not missing, f"{image}: the entry point imports {missing}, which the build does not copy"
    provided = distributions_for(extra)
    by_module = md.packages_distributions()
    stdlib = sys.stdlib_module_names
    unprovided = {
        name
        for name in external - stdlib
        if not {re.sub(r"[-_.]+", "-", d).lower() for d in by_module.get(name, [name])} & provided
    }
    assert not unprovided, f"{image}: imported but not installed by .[{extra}]: {unprovided}"


@pytest.mark.parametrize("image", IMAGES)
def test_cmd_flags_are_accepted(image: str) -> None:
    _build, final = stages(ROOT / image / "Dockerfile")
    _module, argv = entry_module(final)
    if image == "sandbox":
        argv = [*argv, *final.cmd[:1]]  # the `run` subcommand's own help
    flags = accepted_flags(argv)
    used = {arg.split("=")[0] for arg in final.cmd if arg.startswith("--")}
    assert used <= flags, f"{image}: CMD passes {used - flags}, not accepted by {argv}"


def test_operator_manifests_pass_args_the_images_accept(tmp_path: Path) -> None:
    """The args the operator renders for the gateway Deployment and a loop's CronJob replace the
    images' CMD, so they must be flags the images' entry points take."""
    out = tmp_path / "nw"
    fleetctl = str(Path(sys.executable).with_name("fleetctl"))
    subprocess.run(
        [fleetctl, "compile", "examples/northwind", "-o", str(out), "-n", "ns"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    policy = YAML(typ="safe").load((out / "fleetpolicy.yaml").read_text())
    loops = [YAML(typ="safe").load(p.read_text()) for p in sorted((out / "loops").glob("*.yaml"))]
    for obj in (policy, *loops):
        obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
    hashes = {loop["metadata"]["name"]: ["0" * 64] for loop in loops}
    (deployment,) = [
        c for c in render_fleet(policy, loops, hashes, namespace="ns") if c["kind"] == "Deployment"
    ]
    (cron,) = [c for c in render_loop(loops[0], policy, namespace="ns") if c["kind"] == "CronJob"]
    containers = {
        "gateway": deployment["spec"]["template"]["spec"]["containers"][0],
        "sandbox": cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0],
    }
    for image, container in containers.items():
        _build, final = stages(ROOT / image / "Dockerfile")
        assert "command" not in container, f"{image}: the manifest replaces the ENTRYPOINT"
        _module, argv = entry_module(final)
        args = container["args"]
        if image == "sandbox":
            assert args[0] == final.cmd[0] == "run"
            argv = [*argv, "run"]
        used = {arg.split("=")[0] for arg in args if arg.startswith("--")}
        assert used <= accepted_flags(argv), f"{image}: {used - accepted_flags(argv)}"
        # The paths the Dockerfile's CMD names are the ones the manifest mounts.
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        for arg in final.cmd:
            path = arg.partition(":")[2] if arg.startswith("sqlite:") else arg
            if path.startswith("/"):
                assert any(path.startswith(m + "/") for m in mounts), f"{image}: {path} {mounts}"
