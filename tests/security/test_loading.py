"""Hostile fleets: every read stays inside the fleet root, and YAML cannot make loading explode.

Each test reproduces one attack from the audit. A
canary file outside the fleet must never reach compiled output, and a
subprocess with an audit hook proves the loader never even opens it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import git
import pytest
from typer.testing import CliRunner

from fleet.resolve import check
from fleet.source import DirSource
from fleetctl.cli import app
from tests.conftest import FIXTURES, ROOT, overlay

CANARY = "CANARY-7f3a-outside-the-fleet"
TODAY = dt.date(2027, 3, 1)
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files beside the fleet, not in it: a prompt, a skill, an agent file, all canaries."""
    out = tmp_path / "outside"
    (out / "evil").mkdir(parents=True)
    (out / "evil" / "v1.md").write_text(f"{CANARY} prompt\n")
    (out / "dir" / "v1").mkdir(parents=True)
    (out / "dir" / "v1" / "SKILL.md").write_text(f"{CANARY} skill\n")
    (out / "dir" / "SKILL.md").write_text(f"{CANARY} skill\n")
    agent = (FIXTURES / "base" / "agents" / "beta.yaml").read_text()
    (out / "gamma.yaml").write_text(
        agent.replace("name: beta", "name: gamma").replace("beta-digest", f"{CANARY}-x")
    )
    return out


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    return overlay(tmp_path / "fleet", FIXTURES / "base")


def errors(root: Path) -> list[str]:
    report = check(DirSource(root, "fleet"), lock=False, today=TODAY)
    return [d.format() for d in report.errors]


def set_refs(root: Path, instructions: str | None = None, skills: str | None = None) -> None:
    path = root / "agents" / "alpha.yaml"
    text = path.read_text()
    if instructions is not None:
        text = text.replace("instructions: prompts/alpha@v1", f"instructions: {instructions}")
    if skills is not None:
        text = text.replace("skills: [runbook@v1]", f"skills: [{skills}]")
    path.write_text(text)


def compiled_or_refused(root: Path) -> str:
    """``lock`` then ``compile``: both must refuse (exit 1), and neither may print a canary."""
    code, out = invoke("lock", str(root))
    assert code == 1, out
    code2, out2 = invoke("compile", str(root), "--no-lock")
    assert code2 == 1, out2
    assert CANARY not in out + out2
    if (root / "fleet.lock").exists():
        assert CANARY not in (root / "fleet.lock").read_text()
    return out2


# ------------------------------------------------------------ refs with '..'

REF_CASES = [
    (
        "instructions",
        "prompts/../../outside/evil@v1",
        "fleet/agents/alpha.yaml:7:17: agent.instructions: ref 'prompts/../../outside/evil@v1' "
        "climbs out of its directory with '..' "
        "(a ref names content inside the fleet or a registry: remove the '..')",
    ),
    (
        "skills",
        "runbook/../../../outside/dir@v1",
        "fleet/agents/alpha.yaml:8:12: agent.skills[0]: ref 'runbook/../../../outside/dir@v1' "
        "climbs out of its directory with '..' "
        "(a ref names content inside the fleet or a registry: remove the '..')",
    ),
    (
        "skills",
        "x/../../../../outside/dir@v1",
        "fleet/agents/alpha.yaml:8:12: agent.skills[0]: ref 'x/../../../../outside/dir@v1' "
        "climbs out of its directory with '..' "
        "(a ref names content inside the fleet or a registry: remove the '..')",
    ),
    (
        "skills",
        "runbook@..",
        "fleet/agents/alpha.yaml:8:12: agent.skills[0]: ref 'runbook@..' climbs out of its "
        "directory with '..' (a ref names content inside the fleet or a registry: remove the '..')",
    ),
    (
        "instructions",
        '"/etc/passwd"',
        "fleet/agents/alpha.yaml:7:17: agent.instructions: ref '/etc/passwd' is an absolute path "
        "(a ref is relative: name@version, or prompts/name@version)",
    ),
    (
        "instructions",
        '"prompts\\\\..\\\\x@v1"',
        "fleet/agents/alpha.yaml:7:17: agent.instructions: ref 'prompts\\\\..\\\\x@v1' contains a "
        "backslash (use '/' between names)",
    ),
    (
        "instructions",
        '"prompts/alpha\\0@v1"',
        "fleet/agents/alpha.yaml:7:17: agent.instructions: ref 'prompts/alpha\\x00@v1' contains a "
        "control character (remove it)",
    ),
]


@pytest.mark.parametrize(("field", "ref", "expected"), REF_CASES, ids=[c[1] for c in REF_CASES])
def test_a_ref_that_leaves_the_fleet_is_a_located_error(
    field: str, ref: str, expected: str, fleet: Path, outside: Path
) -> None:
    set_refs(fleet, **{field: ref})
    assert errors(fleet) == [expected]
    compiled_or_refused(fleet)


def test_dotdot_refs_never_reach_compiled_output(fleet: Path, outside: Path) -> None:
    """The audit's reproduction: after ``lock``, ``compile`` embedded the outside files."""
    set_refs(fleet, "prompts/../../outside/evil@v1", "runbook/../../../outside/dir@v1")
    out = compiled_or_refused(fleet)
    assert "climbs out of its directory with '..'" in out


# ------------------------------------------------------------ symbolic links


def link(path: Path, target: Path | str) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


LINK = "every file read must be inside the fleet: copy the file in, or link only within it"


def test_a_linked_agent_file_leaving_the_fleet_is_refused(fleet: Path, outside: Path) -> None:
    link(fleet / "agents" / "gamma.yaml", outside / "gamma.yaml")
    link(fleet / "agents" / "passwd.yaml", "/etc/passwd")
    assert errors(fleet) == [
        f"fleet/agents/gamma.yaml: is a link to {outside / 'gamma.yaml'}, outside the fleet ({LINK})",
        f"fleet/agents/passwd.yaml: is a link to /etc/passwd, outside the fleet ({LINK})",
    ]
    compiled_or_refused(fleet)


def test_a_linked_prompt_leaving_the_fleet_is_refused(fleet: Path, outside: Path) -> None:
    link(fleet / "prompts" / "alpha" / "v1.md", "../../../outside/evil/v1.md")
    assert errors(fleet) == [
        "fleet/agents/alpha.yaml:7:17: agent.instructions: prompts/alpha/v1.md is a link to "
        f"../../../outside/evil/v1.md ({outside / 'evil' / 'v1.md'}), outside the fleet ({LINK})"
    ]
    compiled_or_refused(fleet)


def test_a_linked_skill_file_or_directory_leaving_the_fleet_is_refused(
    fleet: Path, outside: Path
) -> None:
    link(fleet / "skills" / "runbook" / "v1" / "SKILL.md", outside / "dir" / "SKILL.md")
    link(fleet / "skills" / "runbook" / "v1" / "etc", "/etc")
    (line,) = errors(fleet)
    assert line.startswith("fleet/agents/alpha.yaml:8:12: agent.skills[0]: skills/runbook/v1/")
    assert "outside the fleet" in line
    compiled_or_refused(fleet)
    link(fleet / "skills" / "runbook" / "v1" / "SKILL.md", "../../../../outside/dir/SKILL.md")
    (fleet / "skills" / "runbook" / "v1" / "etc").unlink()
    link(fleet / "skills" / "runbook" / "v2", outside / "dir" / "v1")
    lines = errors(fleet)
    assert any(f"skills/runbook/v2 is a link to {outside / 'dir' / 'v1'}" in x for x in lines)
    compiled_or_refused(fleet)


def test_linked_fleet_file_agents_dir_and_lock_leaving_the_fleet_are_refused(
    fleet: Path, outside: Path, tmp_path: Path
) -> None:
    elsewhere = overlay(tmp_path / "elsewhere", FIXTURES / "base")
    link(fleet / "fleet.lock", elsewhere / "fleet.lock")
    report = check(DirSource(fleet, "fleet"), today=TODAY)
    assert [d.format() for d in report.errors] == [
        f"fleet/fleet.lock: is a link to {elsewhere / 'fleet.lock'}, outside the fleet ({LINK}) [FL202]"
    ]
    link(fleet / "fleet.yaml", elsewhere / "fleet.yaml")
    link(fleet / "agents", outside)
    assert errors(fleet) == [
        f"fleet/agents: is a link to {outside}, outside the fleet ({LINK})",
        f"fleet/fleet.yaml: is a link to {elsewhere / 'fleet.yaml'}, outside the fleet ({LINK})",
    ]


def test_lock_does_not_write_through_a_link(fleet: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link(fleet / "fleet.lock", victim)
    code, out = invoke("lock", str(fleet))
    assert code == 1 and "fleet.lock: is a link to" in out
    assert victim.read_text() == "precious\n"


def test_links_inside_the_fleet_are_followed(fleet: Path) -> None:
    """Decision: a link that stays inside the fleet root is fine (e.g. a new version = an old one)."""
    link(fleet / "prompts" / "alpha" / "v2.md", "v1.md")
    (fleet / "skills" / "runbook" / "v1" / "shared").mkdir()
    link(fleet / "skills" / "runbook" / "v1" / "shared" / "v2.md", "../../v2/SKILL.md")
    set_refs(fleet, "prompts/alpha@v2")
    assert errors(fleet) == []
    report = check(DirSource(fleet, "fleet"), lock=False, today=TODAY)
    res = report.resolution
    assert res.pins["prompts/alpha@v2"].files == (
        ("PROMPT.md", (fleet / "prompts" / "alpha" / "v1.md").read_bytes()),
    )
    files = dict(res.pins["skills/runbook@v1"].files)
    assert files["shared/v2.md"] == (fleet / "skills" / "runbook" / "v2" / "SKILL.md").read_bytes()


@pytest.mark.timeout(10)
def test_a_link_loop_in_a_skill_is_an_error_not_a_hang(fleet: Path) -> None:
    skill = fleet / "skills" / "runbook" / "v1"
    for name in ("a", "b", "c"):
        link(skill / name, ".")
    (line,) = errors(fleet)
    assert line.startswith("fleet/agents/alpha.yaml:8:12: agent.skills[0]: skills/runbook/v1/")
    assert "a directory already read" in line
    for name in ("a", "b", "c"):
        (skill / name).unlink()
    link(skill / "self.md", "self.md")
    (line,) = errors(fleet)
    assert "skills/runbook/v1/self.md is a link loop" in line


@pytest.mark.timeout(10)
def test_a_fifo_or_device_is_refused_without_blocking(fleet: Path) -> None:
    os.mkfifo(fleet / "agents" / "fifo.yaml")
    assert errors(fleet) == [
        "fleet/agents/fifo.yaml: is not a regular file (a FIFO, socket or device) "
        "(fleet files are plain text files)",
    ]
    (fleet / "agents" / "fifo.yaml").unlink()
    os.mkfifo(fleet / "prompts" / "alpha" / "v9.md")
    set_refs(fleet, "prompts/alpha@v9")
    assert errors(fleet) == [
        "fleet/agents/alpha.yaml:7:17: agent.instructions: prompts/alpha/v9.md is not a regular "
        "file (a FIFO, socket or device) (fleet files are plain text files)",
    ]
    link(fleet / "prompts" / "alpha" / "v1.md", "/dev/zero")
    (fleet / "agents" / "alpha.yaml").write_text(
        (fleet / "agents" / "alpha.yaml").read_text().replace("alpha@v9", "alpha@v1")
    )
    assert errors(fleet) == [
        "fleet/agents/alpha.yaml:7:17: agent.instructions: prompts/alpha/v1.md is a link to "
        f"/dev/zero, outside the fleet ({LINK})",
    ]


def test_files_named_on_the_command_line_may_be_anywhere(fleet: Path, outside: Path) -> None:
    """The user chose them; only the fleet's own content is confined."""
    code, out = invoke("validate", str(fleet / "fleet.yaml"), str(outside / "gamma.yaml"))
    assert code == 0, out


# ------------------------------------------------------------ proof: no outside file is opened

AUDIT = textwrap.dedent(
    """
    import json, os, sys
    opened = []
    def hook(event, args):
        if event in ("open", "os.listdir", "os.scandir") and args and args[0] is not None:
            path = args[0]
            if isinstance(path, int):
                return
            opened.append(os.fsdecode(path))
    sys.addaudithook(hook)
    from fleetctl.cli import app
    for argv in json.loads(sys.argv[1]):
        try:
            app(argv, standalone_mode=False)
        except SystemExit:
            pass
        except Exception as exc:
            if type(exc).__name__ != "Exit":
                raise
    print(json.dumps(opened))
    """
)


def test_audit_hook_sees_no_outside_file_opened(fleet: Path, outside: Path) -> None:
    set_refs(fleet, "prompts/../../outside/evil@v1", "runbook/../../../outside/dir@v1")
    link(fleet / "agents" / "gamma.yaml", outside / "gamma.yaml")
    link(fleet / "agents" / "passwd.yaml", "/etc/passwd")
    link(fleet / "prompts" / "beta" / "v1.md", outside / "evil" / "v1.md")
    link(fleet / "skills" / "runbook" / "v2", outside / "dir" / "v1")
    argv = [
        ["validate", str(fleet)],
        ["lock", str(fleet)],
        ["compile", str(fleet), "--no-lock", "-o", str(fleet.parent / "out")],
    ]
    proc = subprocess.run(
        [sys.executable, "-c", AUDIT, json.dumps(argv)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert CANARY not in proc.stdout
    opened = json.loads(proc.stdout.strip().splitlines()[-1])
    assert any(p.startswith(str(fleet)) for p in opened)  # the hook does see the fleet's reads
    bad = [p for p in opened if p.startswith(str(outside)) or p == "/etc/passwd"]
    assert bad == []
    real_fleet = os.path.realpath(fleet)
    for p in opened:
        real = os.path.realpath(p)
        if real.startswith(os.path.realpath(fleet.parent)):
            assert real.startswith(real_fleet), p


# ------------------------------------------------------------ fleets and registries in git


def commit_all(repo: git.Repo, message: str) -> None:
    repo.git.add("-A")
    repo.git.commit("-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    top = tmp_path / "repo"
    overlay(top / "fleet", FIXTURES / "base")
    (top / "outside").mkdir()
    (top / "outside" / "evil.md").write_text(f"{CANARY} in git\n")
    r = git.Repo.init(top)
    with r.config_writer() as cfg:
        cfg.set_value("user", "name", "T").set_value("user", "email", "t@example.org")
    return r


def git_errors(r: git.Repo, rev: str = "HEAD") -> list[str]:
    from fleet.gitsource import GitSource

    source = GitSource(Path(r.working_tree_dir or ""), rev, "fleet")
    report = check(source, lock=False, today=TODAY)
    text = "\n".join(d.format() for d in report.diagnostics)
    assert CANARY not in text
    if report.resolution:
        for resolved in report.resolution.pins.values():
            assert all(CANARY.encode() not in data for _, data in resolved.files)
    return [d.format() for d in report.errors]


def test_git_links_leaving_the_fleet_are_refused(repo: git.Repo) -> None:
    top = Path(repo.working_tree_dir or "")
    link(top / "fleet" / "prompts" / "alpha" / "v1.md", "../../../outside/evil.md")
    link(top / "fleet" / "agents" / "passwd.yaml", "/etc/passwd")
    link(top / "fleet" / "prompts" / "beta" / "v1.md", "../alpha/v1.md")  # inside: followed
    commit_all(repo, "links")
    scope = "the fleet: copy the file in, or link only within it"
    assert git_errors(repo) == [
        "HEAD:fleet/agents/passwd.yaml: is a link to /etc/passwd, outside the fleet "
        f"(every file read must be inside {scope})",
    ]
    (top / "fleet" / "agents" / "passwd.yaml").unlink()
    commit_all(repo, "no passwd")
    escape = (
        "prompts/alpha/v1.md is a link to ../../../outside/evil.md, outside the fleet "
        f"(every file read must be inside {scope})"
    )
    # beta's link stays inside and is followed, onto alpha's, which leaves.
    assert git_errors(repo) == [
        f"HEAD:fleet/agents/alpha.yaml:7:17: agent.instructions: {escape}",
        f"HEAD:fleet/agents/beta.yaml:7:17: agent.instructions: {escape}",
    ]
    (top / "fleet" / "prompts" / "alpha" / "v1.md").unlink()
    (top / "fleet" / "prompts" / "alpha" / "v1.md").write_text("alpha, in the fleet\n")
    commit_all(repo, "a file again")
    from fleet.gitsource import GitSource

    report = check(GitSource(top, "HEAD", "fleet"), lock=False, today=TODAY)
    assert report.errors == []
    assert report.resolution.pins["prompts/beta@v1"].files == (
        ("PROMPT.md", b"alpha, in the fleet\n"),
    )


def git_in(r: git.Repo, args: list[str], stdin: str) -> str:
    proc = subprocess.run(
        ["git", *args],
        input=stdin.encode(),
        capture_output=True,
        cwd=r.working_tree_dir,
        check=True,
    )
    return proc.stdout.decode().strip()


def mktree(r: git.Repo, lines: list[str]) -> str:
    return git_in(r, ["mktree"], "".join(f"{line}\n" for line in lines))


def with_dotdot_entry(r: git.Repo, rev: str, where: str) -> str:
    """A commit like ``rev`` whose directory ``where`` gains an entry named '..'.

    git never writes such a name, but ``git mktree`` accepts it: a crafted commit can carry one.
    """
    blob = git_in(r, ["hash-object", "-w", "--stdin"], f"{CANARY} crafted\n")
    parts = where.split("/")
    tree = mktree(r, [*r.git.ls_tree(f"{rev}:{where}").splitlines(), f"100644 blob {blob}\t.."])
    for depth in range(len(parts) - 1, -1, -1):
        parent = "/".join(parts[:depth])
        lines = [
            line
            for line in r.git.ls_tree(f"{rev}:{parent}" if parent else rev).splitlines()
            if line.split("\t", 1)[1] != parts[depth]
        ]
        tree = mktree(r, [*lines, f"040000 tree {tree}\t{parts[depth]}"])
    return str(r.git.commit_tree(tree, "-m", "crafted"))


@pytest.fixture
def registry(tmp_path: Path) -> git.Repo:
    path = tmp_path / "registry"
    r = git.Repo.init(path)
    with r.config_writer() as cfg:
        cfg.set_value("user", "name", "R").set_value("user", "email", "r@example.org")
    skill = path / "skills" / "shared"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("# shared\n")
    (path / "prompts").mkdir()
    (path / "prompts" / "shared.md").write_text("Be brief.\n")
    commit_all(r, "v1")
    r.create_tag("skills/shared/v1")
    r.create_tag("prompts/shared/v1")
    return r


def fleet_using(
    tmp_path: Path, registry: git.Repo, skill: str, prompt: str = "prompts/beta@v1"
) -> Path:
    root = overlay(tmp_path / "regfleet", FIXTURES / "base")
    text = (root / "fleet.yaml").read_text()
    text = text.replace(
        "harness_limits:",
        f"registries:\n  - {{ name: shared, repo: {registry.working_tree_dir} }}\nharness_limits:",
    )
    (root / "fleet.yaml").write_text(text)
    beta = (root / "agents" / "beta.yaml").read_text()
    beta = beta.replace("skills: [runbook@v2]", f"skills: [{skill}]").replace(
        "prompts/beta@v1", prompt
    )
    (root / "agents" / "beta.yaml").write_text(beta)
    return root


def test_git_registry_links_leaving_the_tag_tree_are_refused(
    tmp_path: Path, registry: git.Repo, outside: Path
) -> None:
    top = Path(registry.working_tree_dir or "")
    link(top / "skills" / "shared" / "passwd", "/etc/passwd")
    link(top / "skills" / "shared" / "up", "../../../outside/dir/SKILL.md")
    link(top / "prompts" / "shared.md", str(outside / "evil" / "v1.md"))
    commit_all(registry, "v2")
    registry.create_tag("skills/shared/v2")
    registry.create_tag("prompts/shared/v2")
    root = fleet_using(tmp_path, registry, "shared@v2", "prompts/shared@v2")
    lines = errors(root)
    assert lines == [
        "fleet/agents/beta.yaml:7:17: agent.instructions: prompts/shared/v2:prompts/shared.md is a "
        f"link to {outside / 'evil' / 'v1.md'}, outside the tree of registry 'shared' (every file "
        "read must be inside the tree of registry 'shared': copy the file in, or link only within it)",
        "fleet/agents/beta.yaml:8:12: agent.skills[0]: skills/shared/v2:skills/shared/passwd is a "
        "link to /etc/passwd, outside the tree of registry 'shared' (every file read must be inside "
        "the tree of registry 'shared': copy the file in, or link only within it)",
    ]
    assert CANARY not in "\n".join(lines)


def test_git_registry_link_inside_the_tag_tree_is_followed(
    tmp_path: Path, registry: git.Repo
) -> None:
    top = Path(registry.working_tree_dir or "")
    link(top / "skills" / "shared" / "prompt.md", "../../prompts/shared.md")
    commit_all(registry, "v3")
    registry.create_tag("skills/shared/v3")
    root = fleet_using(tmp_path, registry, "shared@v3")
    report = check(DirSource(root, "fleet"), lock=False, today=TODAY)
    assert report.errors == []
    files = dict(report.resolution.pins["skills/shared@v3"].files)
    assert files == {"SKILL.md": b"# shared\n", "prompt.md": b"Be brief.\n"}


def test_git_tree_entry_named_dotdot_is_refused(
    tmp_path: Path, registry: git.Repo, repo: git.Repo
) -> None:
    registry.create_tag("skills/shared/v9", with_dotdot_entry(registry, "HEAD", "skills/shared"))
    root = fleet_using(tmp_path, registry, "shared@v9")
    assert errors(root) == [
        "fleet/agents/beta.yaml:8:12: agent.skills[0]: skills/shared/v9:skills/shared/.. is a git "
        "tree entry with an unsafe name (git never writes such names; the commit was crafted: "
        "do not use it)"
    ]
    commit_all(repo, "fleet")
    crafted = with_dotdot_entry(repo, "HEAD", "fleet/prompts/alpha")
    assert git_errors(repo, crafted) == [
        f"{crafted}:fleet/agents/alpha.yaml:7:17: agent.instructions: prompts/alpha/.. is a git "
        "tree entry with an unsafe name (git never writes such names; the commit was crafted: "
        "do not use it)"
    ]


# ------------------------------------------------------------ YAML bombs (item 3)


def laughs(levels: int = 9, width: int = 9) -> str:
    """The billion-laughs bomb: ``width ** levels`` strings from a dozen lines."""
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def bounded(root: Path, *, peak_mb: float = 64) -> list[str]:
    """Every error of the fleet, checked with a memory bound on everything loading allocates."""
    import tracemalloc

    tracemalloc.start()
    try:
        report = check(DirSource(root, "fleet"), today=TODAY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < peak_mb * 2**20, f"loading peaked at {peak / 2**20:.0f} MiB"
    return [d.format() for d in report.errors]


NODES_HINT = (
    "an alias counts as a copy of what it names, so a few lines can expand to billions; "
    "write the data out, or raise FLEET_MAX_YAML_NODES"
)


@pytest.mark.timeout(10)
def test_billion_laughs_in_an_agent_file(fleet: Path) -> None:
    (fleet / "agents" / "bomb.yaml").write_text(laughs() + "agent: *l8\n")
    assert bounded(fleet) == [
        f"fleet/agents/bomb.yaml:6:10: alias '*l4' expands the file past 100,000 YAML nodes ({NODES_HINT})"
    ]


@pytest.mark.timeout(10)
def test_billion_laughs_in_fleet_yaml(fleet: Path) -> None:
    text = (fleet / "fleet.yaml").read_text()
    (fleet / "fleet.yaml").write_text(text + laughs().replace("l", "x") + "pricing: *x8\n")
    (line,) = bounded(fleet)
    assert line.startswith("fleet/fleet.yaml:") and "expands the file past 100,000" in line


@pytest.mark.timeout(10)
def test_billion_laughs_through_merge_keys(fleet: Path) -> None:
    """``<<: *a`` takes the pure parser's path; the same count applies there."""
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    for i in range(1, 9):
        refs = ", ".join(f"k{j}: *m{i - 1}" for j in range(9))
        lines.append(f"m{i}: &m{i} {{<<: *m{i - 1}, {refs}}}")
    (fleet / "agents" / "bomb.yaml").write_text("\n".join(lines) + "\nagent: *m8\n")
    (line,) = bounded(fleet)
    assert "expands the file past 100,000 YAML nodes" in line


@pytest.mark.timeout(60)
def test_nine_million_item_list(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """36 MB of ``- a``: refused by size before parsing; with the size limit lifted, by count."""
    big = fleet / "agents" / "big.yaml"
    big.write_text("agent:\n  owns:\n" + "  - a\n" * 9_000_000)
    size = big.stat().st_size
    assert bounded(fleet, peak_mb=8) == [
        f"fleet/agents/big.yaml: file is {size:,} bytes, over the limit of 1,048,576 for a fleet "
        "file (fleet files are small text; FLEET_MAX_FILE_BYTES raises the limit)"
    ]
    monkeypatch.setenv("FLEET_MAX_FILE_BYTES", str(64 * 2**20))
    assert bounded(fleet, peak_mb=256) == [
        "fleet/agents/big.yaml:99998:5: more than 100,000 YAML nodes in one file "
        "(a fleet file holds far fewer; FLEET_MAX_YAML_NODES raises the limit)"
    ]


@pytest.mark.timeout(30)
def test_a_megabyte_of_tiny_nodes_stops_at_the_node_limit(
    fleet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the size limit, forced onto the pure parser (a flow mapping with a URL), whose
    ~50 µs a node make this the slowest kind of file: about 5 s at the default 100,000 nodes,
    so the test lowers the limit to keep the suite quick; the count is the same code."""
    monkeypatch.setenv("FLEET_MAX_YAML_NODES", "20000")
    text = "x: {u: https://x}\nagent: [" + "a," * 400_000 + "]\n"
    (fleet / "agents" / "many.yaml").write_text(text)
    (line,) = errors(fleet)
    assert line.startswith("fleet/agents/many.yaml:2:") and "more than 20,000 YAML nodes" in line


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "text", ["[" * 50_000 + "]" * 50_000, "a:\n" + "".join(f"{' ' * i}b:\n" for i in range(1, 200))]
)
def test_deep_nesting_is_refused(text: str, fleet: Path) -> None:
    (fleet / "agents" / "deep.yaml").write_text(text)
    (line,) = bounded(fleet)
    assert line.startswith("fleet/agents/deep.yaml:")
    assert "nested more than 64 levels deep (flatten the structure; FLEET_MAX_YAML_DEPTH" in line


@pytest.mark.timeout(10)
def test_aliases_cannot_nest_past_the_depth_limit(fleet: Path) -> None:
    lines = ["d0: &d0 " + "[" * 40 + "]" * 40]
    lines += [f"d{i}: &d{i} " + "[" * 30 + f"*d{i - 1}" + "]" * 30 for i in range(1, 5)]
    (fleet / "agents" / "deep.yaml").write_text("\n".join(lines) + "\n")
    (line,) = bounded(fleet)
    assert "alias '*d0' nests the data more than 64 levels deep" in line


@pytest.mark.timeout(10)
def test_an_alias_inside_its_own_anchor(fleet: Path) -> None:
    (fleet / "agents" / "loop.yaml").write_text("agent: &a {name: x, subagents: [*a]}\n")
    assert bounded(fleet) == [
        "fleet/agents/loop.yaml:1:33: alias '*a' refers to a node that contains it "
        "(YAML data cannot contain itself; write the value out)"
    ]


def test_limits_come_from_the_environment(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fleet.yamlsrc import Limits

    assert Limits.from_env({}) == Limits(1 << 20, 100_000, 64)
    monkeypatch.setenv("FLEET_MAX_YAML_NODES", "50")
    assert [x.split(": ", 1)[1] for x in bounded(fleet)] == [
        "more than 50 YAML nodes in one file (a fleet file holds far fewer; "
        "FLEET_MAX_YAML_NODES raises the limit)"
    ] * 2
    monkeypatch.setenv("FLEET_MAX_YAML_NODES", "lots")
    fleetctl = Path(sys.executable).parent / "fleetctl"
    proc = subprocess.run(
        [str(fleetctl), "validate", str(fleet)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == (
        "error: FLEET_MAX_YAML_NODES='lots' is not a positive integer (the default is 100000)\n"
    )
