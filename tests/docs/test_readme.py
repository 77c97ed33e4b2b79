"""The README's shell examples work when copied as written. Each ``fleetctl`` line of its ``sh``
blocks that only reads the bundled examples or writes under ``build/`` is run as it stands
(validate, rules, schema, lock --check, compile, diff, ls, who-touches, owners, gateway config);
one that needs a model, a gateway, a store or a cluster has its subcommand and every option it
uses checked against that subcommand's own ``--help``; ``make`` lines name targets the Makefile
has, and ``kubectl`` lines are ones docs/deploy.md runs against the emulator
(tests/docs/test_deploy_doc.py)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
FLEETCTL = str(ROOT / ".venv" / "bin" / "fleetctl")
# Subcommands run as written, and the exit codes that are not a failure for each: diff says 1
# when it finds changes, which depends on the revisions, not on the example.
RUN = {"validate": {0}, "rules": {0}, "schema": {0}, "lock": {0}, "compile": {0}, "diff": {0, 1}}
RUN |= {"ls": {0}, "who-touches": {0}, "owners": {0}, ("gateway", "config"): {0}}
GROUPS = {"gateway", "approvals", "approvers", "runs"}


def command_lines(text: str) -> list[list[str]]:
    """Each command of the ``sh`` blocks as argv, continuation lines joined, comments and
    leading VAR=value assignments dropped."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
                argv = argv[1:]
            if argv:
                lines.append(argv)
    return lines


def fleetctl_lines() -> list[list[str]]:
    found = [
        argv[1:] for argv in command_lines(README) if argv[0] in ("fleetctl", ".venv/bin/fleetctl")
    ]
    assert len(found) >= 20, "the README's fleetctl examples were not found"
    return found


def subcommand(args: list[str]) -> str | tuple[str, str]:
    return (args[0], args[1]) if args[0] in GROUPS else args[0]


def is_run(args: list[str]) -> bool:
    sub = subcommand(args)
    return sub in RUN and (sub != "lock" or "--check" in args)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where the examples' paths resolve as in the repository root, and what they
    write (build/) does not land in the working tree."""
    work = tmp_path_factory.mktemp("readme")
    (work / "examples").symlink_to(ROOT / "examples")
    return work


@pytest.mark.parametrize(
    "args", [a for a in fleetctl_lines() if is_run(a)], ids=lambda a: " ".join(a)[:60]
)
def test_example_runs(args: list[str], workdir: Path) -> None:
    # diff reads git, so it runs in the repository itself (it writes nothing).
    cwd = ROOT if args[0] == "diff" else workdir
    proc = subprocess.run(
        [FLEETCTL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    allowed = RUN[subcommand(args)]
    assert proc.returncode in allowed, f"fleetctl {shlex.join(args)}:\n{proc.stdout}{proc.stderr}"
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args", [a for a in fleetctl_lines() if not is_run(a)], ids=lambda a: " ".join(a)[:60]
)
def test_example_options_exist(args: list[str]) -> None:
    sub = subcommand(args)
    path = list(sub) if isinstance(sub, tuple) else [sub]
    proc = subprocess.run(
        [FLEETCTL, *path, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"fleetctl {' '.join(path)}: {proc.stderr}"
    offered = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", proc.stdout))
    used = {a.split("=")[0] for a in args if a.startswith("-")}
    assert used <= offered, f"fleetctl {' '.join(path)} has no {used - offered}"


def test_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    used = {argv[1] for argv in command_lines(README) if argv[0] == "make"}
    used |= set(re.findall(r"`make ([a-z][\w-]*)", README))
    assert {"demo", "test"} <= used <= targets, used - targets


def test_kubectl_lines_are_the_tested_ones() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    tested = {shlex.join(a) for a in command_lines(deploy) if a[0] == "kubectl"}
    for argv in command_lines(README):
        if argv[0] == "kubectl":
            assert shlex.join(argv) in tested, f"{shlex.join(argv)} is not run by docs/deploy.md"
