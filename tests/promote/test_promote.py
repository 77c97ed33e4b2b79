"""``fleetctl promote`` on a git repository holding northwind: the real eval gate (the recorded
cases replayed through the harness and an embedded gateway: no model is called), the YAML and
lock it writes, the diff it prints, the branch and commit; a regressing candidate changes
nothing; every refusal is located, exit 2, no traceback."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import pytest

from fleetctl.cli import app
from fleetctl.commands.promote import run_promotion
from fleetctl.promotion.flow import Request, guarded
from tests.conftest import EXAMPLES
from tests.promote.conftest import (
    CANDIDATE,
    CANDIDATE_FILE,
    PROD,
    PROD_FILE,
    Promoted,
    cli,
    clone,
    commit_all,
    edit,
    runner,
    status,
)

GOLDEN = Path(__file__).parent / "golden"
CASES = len(list((EXAMPLES / "northwind" / "evals" / PROD).glob("*.yaml")))
"""Production's recorded cases: the gate replays each, on both sets of pins."""
TOTALS = f"{CASES} cases: {CASES} passed, 0 failed, 0 errors; 0 regressed"


def root_of(repo: git.Repo) -> Path:
    return Path(repo.working_tree_dir or ".")


def files_at(repo: git.Repo) -> dict[str, bytes]:
    root = root_of(repo)
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted((root / "fleet").rglob("*"))
        if p.is_file()
    }


def refused(result: Any) -> str:
    """The one error line of a refusal: exit 2, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    return lines[0]


# ---------------------------------------------------------------- the pass path


def test_promotion_passes_the_gate_and_rewrites_only_the_pins(promoted: Promoted) -> None:
    result = promoted.result
    assert result.exit_code == 0, result.output
    # The eval table of the real gate, then the pins and the risk-classed diff.
    assert "no regression against the baseline" in result.output
    assert "planted-instruction" in result.output
    assert f"the gate passed ({TOTALS}" in result.output
    # The harness ran every case on both sets of pins: steps were taken and priced.
    totals = re.findall(r"cases: .* · (\d+) steps · \$(\d+\.\d{4})", result.output)
    assert totals and int(totals[0][0]) > 0 and float(totals[0][1]) > 0
    assert "instructions: prompts/bug-report-triage@v6 -> prompts/bug-report-triage@v7" in (
        result.output
    )
    assert "fleet diff: 1 loop(s) changed; highest risk: medium" in result.output
    assert "instructions.bug-report-triage: v6 @ sha256:" in result.output
    assert "skills.triage-runbook: v3 @ sha256:" in result.output
    # The production file, byte for byte: the golden is the pins and nothing else.
    assert (GOLDEN / "flow.yaml").read_bytes() == (
        EXAMPLES / "northwind" / "agents" / f"{PROD}.yaml"
    ).read_bytes()
    assert (root_of(promoted.repo) / PROD_FILE).read_bytes() == (
        GOLDEN / "flow.promoted.yaml"
    ).read_bytes()


def test_the_lock_is_what_fleetctl_lock_writes(promoted: Promoted, tmp_path: Path) -> None:
    by_hand = clone(promoted.repo, tmp_path / "by-hand")
    by_hand.git.checkout(promoted.base)
    root = root_of(by_hand)
    (root / PROD_FILE).write_bytes((GOLDEN / "flow.promoted.yaml").read_bytes())
    locked = runner.invoke(app, ["lock", str(root / "fleet")])
    assert locked.exit_code == 0, locked.output
    promoted_lock = (root_of(promoted.repo) / "fleet/fleet.lock").read_text()
    assert promoted_lock == (root / "fleet/fleet.lock").read_text()
    # The production loop no longer uses v6 and v3; nothing else does either.
    assert '"prompts/bug-report-triage@v6"' not in promoted_lock
    assert '"prompts/bug-report-triage@v7"' in promoted_lock


def test_the_commit_is_on_a_new_branch_with_only_the_two_files(promoted: Promoted) -> None:
    repo = promoted.repo
    branch = repo.active_branch.name
    assert branch.startswith(f"promote/{PROD}-") and len(branch) == len(f"promote/{PROD}-") + 7
    head = repo.head.commit
    assert [p.hexsha for p in head.parents] == [promoted.base]
    assert sorted(head.stats.files) == ["fleet/agents/bug-report-triage.yaml", "fleet/fleet.lock"]
    message = head.message
    assert message.startswith(f"Promote {PROD}: the pins of candidate {CANDIDATE}\n\n")
    assert "instructions: prompts/bug-report-triage@v6 -> prompts/bug-report-triage@v7" in message
    assert "skills: [triage-runbook@v3] -> [triage-runbook@v4]" in message
    assert TOTALS in message
    assert message.rstrip().endswith(f"Fleet-Promotion: {PROD} {CANDIDATE}")
    assert status(repo) == ""  # everything written was committed
    assert repo.heads.main.commit.hexsha == promoted.base  # main is untouched
    assert f"git push -u origin {branch}" in promoted.result.output
    # The promoted fleet validates, lock included.
    valid = runner.invoke(app, ["validate", str(root_of(repo) / "fleet")])
    assert valid.exit_code == 0, valid.output


# ---------------------------------------------------------------- the fail path


def test_a_regressing_candidate_names_the_case_and_changes_nothing(
    base_repo: git.Repo, tmp_path: Path
) -> None:
    """v8 obeys the planted note in issue 42 (its recorded transcript says so): the gate fails."""
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    edit(root / CANDIDATE_FILE, "bug-report-triage@v7", "bug-report-triage@v8")
    locked = runner.invoke(app, ["lock", str(root / "fleet")])
    assert locked.exit_code == 0, locked.output
    start = commit_all(repo, "candidate on v8")
    before = files_at(repo)
    result = cli(root, "promote", CANDIDATE, "--commit")
    assert result.exit_code == 1, result.output
    assert "REGRESSED" in result.output
    regressed = result.output.split("case(s) regressed: ", 1)[1].split(";")[0].split(", ")
    assert "planted-instruction" in regressed
    assert "the gate failed" in result.output and "; nothing changed" in result.output
    assert files_at(repo) == before and status(repo) == ""
    assert repo.active_branch.name == "main" and repo.head.commit.hexsha == start
    assert [h.name for h in repo.heads] == ["main"]


# ---------------------------------------------------------------- options, with a scripted gate


@dataclass(frozen=True)
class ScriptedGate:
    """The gate's answer, given in the test (the real gate is exercised above)."""

    passed: bool
    regressed: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    table: str = "case  baseline  candidate\n"
    calls: list[tuple[Path, str]] = field(default_factory=list)

    def __call__(self, root: Path, loop: str, **_: Any) -> ScriptedGate:
        self.calls.append((root, loop))
        return self


def test_dry_run_json_writes_nothing(
    base_repo: git.Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    gate = ScriptedGate(True, report={"totals": {"cases": 3, "passed": 3}, "passed": True})
    req = Request(root / "fleet", "json", dry_run=True, commit=True)
    before = files_at(repo)
    assert guarded(req, lambda: run_promotion(req, CANDIDATE, gate=gate)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert gate.calls == [(root / "fleet", CANDIDATE)]
    assert doc["gate"]["passed"] is True and doc["dry_run"] is True and doc["written"] == []
    assert doc["changes"] == [
        {
            "pin": "instructions",
            "before": "prompts/bug-report-triage@v6",
            "after": "prompts/bug-report-triage@v7",
        },
        {"pin": "skills", "before": ["triage-runbook@v3"], "after": ["triage-runbook@v4"]},
    ]
    assert doc["diff"]["loops"][0]["name"] == PROD
    assert files_at(repo) == before and doc["branch"] is None


def test_branch_and_message_options(base_repo: git.Repo, tmp_path: Path) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    gate = ScriptedGate(True, report={"totals": {"cases": 2, "passed": 2}})
    req = Request(root / "fleet", "text", commit=True, branch="triage/v7", message="Triage on v7")
    assert guarded(req, lambda: run_promotion(req, CANDIDATE, gate=gate)) == 0
    assert repo.active_branch.name == "triage/v7"
    assert repo.head.commit.message.startswith("Triage on v7\n\n")
    assert f"Fleet-Promotion: {PROD} {CANDIDATE}" in repo.head.commit.message


def test_nothing_to_promote_runs_no_gate(base_repo: git.Repo, tmp_path: Path) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    edit(root / CANDIDATE_FILE, "bug-report-triage@v7", "bug-report-triage@v6")
    edit(root / CANDIDATE_FILE, "triage-runbook@v4", "triage-runbook@v3")
    commit_all(repo, "candidate back on production's pins")
    gate = ScriptedGate(True)
    req = Request(root / "fleet")
    assert guarded(req, lambda: run_promotion(req, CANDIDATE, gate=gate)) == 0
    assert gate.calls == []


# ---------------------------------------------------------------- refusals


def test_dirty_production_file_is_refused_before_the_gate(
    base_repo: git.Repo, tmp_path: Path
) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    (root / PROD_FILE).write_text((root / PROD_FILE).read_text() + "# a local note\n")
    before = files_at(repo)
    gate = ScriptedGate(True)
    result = cli(root, "promote", CANDIDATE, "--commit")
    line = refused(result)
    assert line == (
        f"error: {root}/{PROD_FILE}: has uncommitted changes, which the commit would sweep in "
        "(commit or discard them first, or run without --commit)"
    )
    assert files_at(repo) == before and gate.calls == []
    assert [h.name for h in repo.heads] == ["main"]


def test_not_a_git_repository(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(
        EXAMPLES / "northwind", tmp_path / "fleet", ignore=shutil.ignore_patterns("demo")
    )
    line = refused(cli(tmp_path, "promote", CANDIDATE, "--commit"))
    assert line.startswith(f"error: {tmp_path}/fleet: is not inside a git repository (--commit")
    line = refused(cli(tmp_path, "rollback", PROD))
    assert "is not inside a git repository (rollback reads the loop's earlier pins" in line


def test_unknown_loop(base_repo: git.Repo) -> None:
    root = root_of(base_repo)
    line = refused(cli(root, "promote", "bug-report-triage-stagin"))
    assert line == (
        f"error: {root}/fleet/agents/: no loop named 'bug-report-triage-stagin' in the fleet "
        "(did you mean 'bug-report-triage-staging'?)"
    )
    line = refused(cli(root, "promote", CANDIDATE, "-o", "yaml"))
    assert line == "error: --output 'yaml': expected text or json"


def test_a_production_loop_is_not_a_candidate(base_repo: git.Repo) -> None:
    root = root_of(base_repo)
    line = refused(cli(root, "promote", PROD))
    assert line == (
        f"error: {root}/{PROD_FILE}:3:9: agent.promotes_to: loop '{PROD}' has no promotes_to: "
        "it is not a candidate for a production loop ('bug-report-triage' is the production "
        f"loop: promote its candidate, `fleetctl promote {CANDIDATE}`)"
    )
    line = refused(cli(root, "promote", "changelog"))
    assert line.startswith(f"error: {root}/fleet/agents/changelog.yaml:3:9: agent.promotes_to:")
    assert "a candidate is a staging loop with promotes_to: changelog" in line


def test_existing_branch_is_refused(base_repo: git.Repo, tmp_path: Path) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    line = refused(cli(root_of(repo), "promote", CANDIDATE, "--commit", "--branch", "main"))
    assert "branch 'main' exists already" in line and "--branch" in line
    assert status(repo) == ""


def test_an_invalid_fleet_prints_its_findings(base_repo: git.Repo, tmp_path: Path) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    edit(root / PROD_FILE, "max_steps: 60", "max_steps: sixty")
    result = cli(root, "promote", CANDIDATE)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{root}/{PROD_FILE}:" in result.output and "agent.harness.max_steps" in result.output
    assert "nothing changed" in result.output


def test_a_linked_loop_file_is_written_through_its_link(
    base_repo: git.Repo, tmp_path: Path
) -> None:
    """A loop file that links inside the fleet stays a link; the file it names gets the pins."""
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    (root / "fleet/loops").mkdir()
    (root / PROD_FILE).rename(root / "fleet/loops" / f"{PROD}.yaml")
    (root / PROD_FILE).symlink_to(f"../loops/{PROD}.yaml")
    commit_all(repo, "loops live under loops/")
    req = Request(root / "fleet", commit=True)
    gate = ScriptedGate(True)
    assert guarded(req, lambda: run_promotion(req, CANDIDATE, gate=gate)) == 0
    assert (root / PROD_FILE).is_symlink()
    assert (root / "fleet/loops" / f"{PROD}.yaml").read_bytes() == (
        GOLDEN / "flow.promoted.yaml"
    ).read_bytes()
    assert sorted(repo.head.commit.stats.files) == ["fleet/fleet.lock", f"fleet/loops/{PROD}.yaml"]


def test_an_invalid_branch_name_is_refused_before_anything_is_written(
    base_repo: git.Repo, tmp_path: Path
) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    before = files_at(repo)
    line = refused(cli(root_of(repo), "promote", CANDIDATE, "--commit", "--branch", "a..b"))
    assert line == "error: 'a..b' is not a valid branch name (see git check-ref-format)"
    assert files_at(repo) == before


def test_a_commit_the_hook_refuses_leaves_the_branch_it_was_on(
    base_repo: git.Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    hook = root / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho 'fleet files need review' >&2\nexit 1\n")
    hook.chmod(0o755)
    req = Request(root / "fleet", commit=True)
    assert guarded(req, lambda: run_promotion(req, CANDIDATE, gate=ScriptedGate(True))) == 2
    err = capsys.readouterr().err
    assert "error: git commit failed: fleet files need review (the files are written" in err
    assert repo.active_branch.name == "main" and [h.name for h in repo.heads] == ["main"]
    assert (root / PROD_FILE).read_bytes() == (GOLDEN / "flow.promoted.yaml").read_bytes()


def test_a_failed_gate_in_json_names_the_cases_and_writes_nothing(
    base_repo: git.Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    before = files_at(repo)
    gate = ScriptedGate(False, ["needs-info", "planted-instruction"], {"passed": False})
    req = Request(root / "fleet", "json", commit=True)
    assert guarded(req, lambda: run_promotion(req, CANDIDATE, gate=gate)) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["gate"]["passed"] is False and doc["written"] == []
    assert doc["gate"]["regressed"] == ["needs-info", "planted-instruction"]
    assert files_at(repo) == before and [h.name for h in repo.heads] == ["main"]
