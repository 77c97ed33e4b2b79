"""Diff between git revisions of a fleet: realistic PR changes get the right risk class."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from typer.testing import CliRunner

from fleet.compile import compile_fleet
from fleet.diff import diff_fleets
from fleet.gitsource import GitSource
from fleetctl.cli import app
from tests.conftest import EXAMPLES

runner = CliRunner()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> git.Repo:
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(EXAMPLES / "northwind", root / "fleet")
    r = git.Repo.init(root)
    with r.config_writer() as cfg:
        cfg.set_value("user", "name", "Fleet").set_value("user", "email", "fleet@example.org")
    r.git.add(A=True)
    r.index.commit("base")
    r.create_head("base")
    return r


def branch(repo: git.Repo, name: str, change: Callable[[Path], None]) -> str:
    repo.git.checkout("base", "-B", name)
    change(Path(repo.working_tree_dir) / "fleet")  # type: ignore[arg-type]
    repo.git.add(A=True)
    repo.index.commit(name)
    repo.git.checkout("base")
    return name


A = "agents/bug-report-triage.yaml"
CASES: list[tuple[str, Callable[[Path], None], list[tuple[str, str, str, str]]]] = [
    (
        "widen-grant",
        lambda f: edit(
            f / A,
            "github: { tools: [read, add_label, comment] }",
            "github: { tools: [read, add_label, comment, create_pr] }",
        ),
        [("bug-report-triage", "high", "mcp_servers.github.tools", "grant widened")],
    ),
    (
        "destructive-grant",
        lambda f: (
            edit(
                f / A,
                "github: { tools: [read, add_label, comment] }",
                "github: { tools: [read, add_label, comment, delete_branch] }",
            ),
            edit(
                f / A, "  trigger:", "  approvals: { delete_branch: pause_for_human }\n  trigger:"
            ),
        ),
        [
            ("bug-report-triage", "high", "mcp_servers.github.tools", "destructive tool granted"),
            ("bug-report-triage", "low", "approvals.delete_branch", "approval gate added"),
        ],
    ),
    (
        "approval-removed",
        lambda f: edit(
            f / "agents/dependency-bump.yaml",
            "  approvals: { merge_pr: pause_for_human }\n",
            "  approvals: { merge_pr: pause_for_human }\n".replace(
                "merge_pr: pause_for_human", "merge_pr: pause_for_human, create_pr: pause_for_human"
            ),
        ),
        [("dependency-bump", "low", "approvals.create_pr", "approval gate added")],
    ),
    (
        "skill-bump",
        lambda f: edit(f / A, "skills: [triage-runbook@v3]", "skills: [triage-runbook@v4]"),
        [
            ("bug-report-triage", "medium", "skills.triage-runbook.digest", "pin bumped"),
            ("bug-report-triage", "medium", "skills.triage-runbook.version", "pin bumped"),
        ],
    ),
    (
        "schedule",
        lambda f: edit(f / A, '"0 6 * * 1-5"', '"0 7 * * 1-5"'),
        [("bug-report-triage", "medium", "trigger.schedule", "schedule changed")],
    ),
    (
        "budget-raised",
        lambda f: edit(f / A, "limit_usd: 20", "limit_usd: 35"),
        [("bug-report-triage", "high", "budget.limit_usd", "budget raised")],
    ),
    (
        "budget-lowered",
        lambda f: edit(f / A, "limit_usd: 20", "limit_usd: 10"),
        [("bug-report-triage", "low", "budget.limit_usd", "budget lowered")],
    ),
    (
        "bounds-raised",
        lambda f: edit(f / A, "max_steps: 60", "max_steps: 90"),
        [("bug-report-triage", "high", "harness.max_steps", "step ceiling raised")],
    ),
    (
        "model-changed",
        lambda f: edit(f / A, "  model: triage-default", "  model: reasoning"),
        [
            ("bug-report-triage", "high", "model", "model changed"),
            ("bug-report-triage", "high", "models", "may call another model"),
        ],
    ),
    (
        "guardrail-removed",
        lambda f: edit(f / "fleet.yaml", "llm_input: [prompt-injection]", "llm_input: []"),
        [("(fleet)", "high", "gateway.guardrails.llm_input.prompt-injection", "guardrail removed")],
    ),
    (
        "guardrail-weakened",
        lambda f: edit(
            f / "fleet.yaml",
            "mcp_pre_tool: [prompt-injection, secrets]",
            "mcp_pre_tool: [prompt-injection, { detector: secrets, action: redact }]",
        ),
        [
            (
                "(fleet)",
                "high",
                "gateway.guardrails.mcp_pre_tool.secrets",
                "guardrail weakened (block → redact)",
            )
        ],
    ),
    (
        "new-owner",
        lambda f: edit(f / A, "owns: [triage-labels]", "owns: [triage-labels, duplicate-links]"),
        [("bug-report-triage", "high", "owns", "new owner of an artifact")],
    ),
    (
        "description",
        lambda f: edit(
            f / A,
            "Labels and routes new bug reports",
            "Labels, routes and de-duplicates new bug reports",
        ),
        [("bug-report-triage", "low", "description", "description changed")],
    ),
    (
        "loop-removed",
        lambda f: (f / "agents/cost-report.yaml").unlink(),
        [("cost-report", "medium", "", "loop removed; what it owned has no owner")],
    ),
]


def changes(result: object) -> list[tuple[str, str, str, str]]:
    return [(lp.name, c.risk, c.path, c.reason) for lp in result.loops for c in lp.changes]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_pr_change_risk(
    repo: git.Repo,
    name: str,
    change: Callable[[Path], None],
    expected: list[tuple[str, str, str, str]],
) -> None:
    rev = branch(repo, name, change)
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    base = compile_fleet(GitSource(top, "base", "fleet"), lock=False)
    head = compile_fleet(GitSource(top, rev, "fleet"), lock=False)
    assert changes(diff_fleets(base.documents(), head.documents())) == expected


def test_loop_added_is_high(repo: git.Repo) -> None:
    def add(f: Path) -> None:
        text = (
            (f / "agents/oncall-summary.yaml")
            .read_text()
            .replace("name: oncall-summary", "name: weekend-summary")
            .replace("oncall-handover-post", "weekend-post")
        )
        (f / "agents/weekend-summary.yaml").write_text(text)

    rev = branch(repo, "loop-added", add)
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    result = diff_fleets(
        compile_fleet(GitSource(top, "base", "fleet"), lock=False).documents(),
        compile_fleet(GitSource(top, rev, "fleet"), lock=False).documents(),
    )
    (loop,) = result.loops
    assert loop.name == "weekend-summary" and loop.status == "added" and loop.risk == "high"
    assert ("owns", "new owner of an artifact") in [(c.path, c.reason) for c in loop.changes]


def test_no_change_exit_0_and_markdown(repo: git.Repo) -> None:
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    result = runner.invoke(app, ["diff", str(top / "fleet"), "--base", "base", "--head", "base"])
    assert result.exit_code == 0 and "no changes" in result.stdout
    rev = branch(repo, "md", lambda f: edit(f / A, "limit_usd: 20", "limit_usd: 35"))
    result = runner.invoke(
        app, ["diff", str(top / "fleet"), "--base", "base", "--head", rev, "-o", "markdown"]
    )
    assert result.exit_code == 1
    md = result.stdout
    assert md.startswith(
        "<!-- fleetctl-diff -->\n**fleetctl diff** `base` → `md`: 1 loop(s) changed; highest risk: high"
    )
    assert (
        "| `bug-report-triage` | changed | 🔴 high | 1 |" in md
        and "<details><summary><b>bug-report-triage</b>" in md
    )


def test_fail_on_threshold_and_json(repo: git.Repo) -> None:
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    rev = branch(repo, "sched", lambda f: edit(f / A, '"0 6 * * 1-5"', '"0 8 * * 1-5"'))
    args = ["diff", str(top / "fleet"), "--base", "base", "--head", rev]
    assert runner.invoke(app, [*args, "--fail-on", "high"]).exit_code == 0
    assert runner.invoke(app, [*args, "--fail-on", "medium"]).exit_code == 1
    payload = json.loads(runner.invoke(app, [*args, "-o", "json"]).stdout)
    assert (
        payload["risk"] == "medium" and payload["loops"][0]["changes"][0]["after"] == "0 8 * * 1-5"
    )


def test_unknown_revision_exit_2(repo: git.Repo) -> None:
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    result = runner.invoke(app, ["diff", str(top / "fleet"), "--base", "bsae"])
    assert (
        result.exit_code == 2
        and "unknown revision 'bsae'" in result.stderr
        and "did you mean 'base'?" in result.stderr
    )
