"""Diff between git revisions of a fleet: realistic PR changes get the right risk class.

Each case is a branch in a repository built with gitpython from the fixture
fleet in ``tests/diff/fleet``; both sides are compiled straight from git objects.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from typer.testing import CliRunner

from fleet.compile import compile_fleet
from fleet.diff import FleetDiff, diff_fleets
from fleet.gitsource import GitSource
from fleetctl.cli import app

runner = CliRunner()
HERE = Path(__file__).parent
GOLDEN = HERE / "golden"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


A = "agents/bug-report-triage.yaml"
GATE = (
    "  approvals: { update_issue: pause_for_human }\n  rate_limits: { requests_per_minute: 100 }\n"
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> git.Repo:
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(HERE / "fleet", root / "fleet")
    r = git.Repo.init(root)
    with r.config_writer() as cfg:
        cfg.set_value("user", "name", "Fleet").set_value("user", "email", "fleet@example.org")
    r.git.add(A=True)
    r.index.commit("base")
    r.create_head("base")
    # A second starting point whose loop has a non-destructive approval and its own rate limit.
    branch(r, "gated", lambda f: edit(f / A, "  trigger:", GATE + "  trigger:"))
    return r


def branch(repo: git.Repo, name: str, change: Callable[[Path], None], start: str = "base") -> str:
    repo.git.checkout(start, "-B", name)
    change(Path(repo.working_tree_dir) / "fleet")  # type: ignore[arg-type]
    repo.git.add(A=True)
    repo.index.commit(name)
    repo.git.checkout("base")
    return name


def diff_revs(repo: git.Repo, base: str, head: str) -> FleetDiff:
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    return diff_fleets(
        compile_fleet(GitSource(top, base, "fleet"), lock=False).documents(),
        compile_fleet(GitSource(top, head, "fleet"), lock=False).documents(),
    )


Case = tuple[str, str, Callable[[Path], None], list[tuple[str, str, str, str]]]
CASES: list[Case] = [
    (
        "widen-grant",
        "base",
        lambda f: edit(
            f / A,
            "github: { tools: [read, add_label, comment] }",
            "github: { tools: [read, add_label, comment, create_pr] }",
        ),
        [("bug-report-triage", "high", "mcp_servers.github.tools", "grant widened")],
    ),
    (
        "new-server",
        "base",
        lambda f: edit(
            f / A,
            "    linear: { tools: [read, update_issue] }",
            "    linear: { tools: [read, update_issue] }\n    slack: { tools: [read] }",
        ),
        [("bug-report-triage", "high", "mcp_servers.slack", "new MCP server granted")],
    ),
    (
        "class-instead-of-tool",
        "base",
        lambda f: edit(
            f / A, "linear: { tools: [read, update_issue] }", "linear: { tools: [read, write] }"
        ),
        [
            ("bug-report-triage", "high", "mcp_servers.linear.tools", "grant widened"),
            ("bug-report-triage", "low", "mcp_servers.linear.tools", "grant narrowed"),
        ],
    ),
    (
        "destructive-grant",
        "base",
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
        "glob-covers-destructive",
        "base",
        lambda f: edit(
            f / A,
            "github: { tools: [read, add_label, comment] }",
            'github: { tools: [read, add_label, comment, "*_pr"] }',
        ),
        [("bug-report-triage", "high", "mcp_servers.github.tools", "destructive tool granted")],
    ),
    (
        "approval-added",
        "base",
        lambda f: edit(
            f / A, "  trigger:", "  approvals: { update_issue: pause_for_human }\n  trigger:"
        ),
        [("bug-report-triage", "low", "approvals.update_issue", "approval gate added")],
    ),
    (
        "approval-removed",
        "gated",
        lambda f: edit(f / A, "  approvals: { update_issue: pause_for_human }\n", ""),
        [("bug-report-triage", "high", "approvals.update_issue", "approval gate removed")],
    ),
    (
        "approval-auto",
        "gated",
        lambda f: edit(f / A, "update_issue: pause_for_human", "update_issue: auto"),
        [("bug-report-triage", "high", "approvals.update_issue", "approval gate removed")],
    ),
    (
        "rate-limit-raised",
        "gated",
        lambda f: edit(f / A, "requests_per_minute: 100", "requests_per_minute: 300"),
        [
            (
                "bug-report-triage",
                "high",
                "rate_limits.requests_per_minute",
                "rate limit (requests/min) raised",
            )
        ],
    ),
    (
        "skill-bump",
        "base",
        lambda f: edit(f / A, "skills: [triage-runbook@v3]", "skills: [triage-runbook@v4]"),
        [("bug-report-triage", "medium", "skills.triage-runbook", "pin bumped")],
    ),
    (
        "prompt-bump",
        "base",
        lambda f: edit(f / A, "prompts/bug-report-triage@v6", "prompts/bug-report-triage@v5"),
        [("bug-report-triage", "medium", "instructions.bug-report-triage", "pin bumped")],
    ),
    (
        "pinned-content-edited",
        "base",
        lambda f: (f / "skills/incident-summary/v1/SKILL.md").write_text("# Rewritten in place\n"),
        [
            (
                "oncall-summary",
                "high",
                "skills.incident-summary",
                "content changed under the same version (versions are immutable)",
            )
        ],
    ),
    (
        "schedule",
        "base",
        lambda f: edit(f / A, '"0 6 * * 1-5"', '"0 7 * * 1-5"'),
        [("bug-report-triage", "medium", "trigger.schedule", "schedule changed")],
    ),
    (
        "suspend",
        "base",
        lambda f: edit(
            f / A, "timezone: Europe/Berlin }", "timezone: Europe/Berlin, suspend: true }"
        ),
        [("bug-report-triage", "medium", "trigger.suspend", "suspension toggled")],
    ),
    (
        "budget-raised",
        "base",
        lambda f: edit(f / A, "limit_usd: 20", "limit_usd: 35"),
        [("bug-report-triage", "high", "budget.limit_usd", "budget raised")],
    ),
    (
        "budget-lowered",
        "base",
        lambda f: edit(f / A, "limit_usd: 20", "limit_usd: 10"),
        [("bug-report-triage", "low", "budget.limit_usd", "budget lowered")],
    ),
    (
        "bounds-raised",
        "base",
        lambda f: edit(f / A, "max_steps: 60", "max_steps: 90"),
        [("bug-report-triage", "high", "harness.max_steps", "step ceiling raised")],
    ),
    (
        "stall-lifted",
        "base",
        lambda f: edit(f / A, ", stall_after_steps: 8", ""),
        [("bug-report-triage", "high", "harness.stall_after_steps", "stall threshold lifted")],
    ),
    (
        "own-budget-dropped",
        "base",
        lambda f: edit(f / A, "  budget: { limit_usd: 20, window: day }\n", ""),
        [("bug-report-triage", "high", "budget.limit_usd", "budget raised")],
    ),
    (
        "provider-endpoint",
        "base",
        lambda f: edit(
            f / "fleet.yaml", "https://api.openai.com/v1", "https://openai-proxy.example.org/v1"
        ),
        [("(fleet)", "high", "providers.openai.base_url", "provider endpoint changed")],
    ),
    (
        "model-changed",
        "base",
        lambda f: edit(f / A, "  model: triage-default", "  model: reasoning"),
        [
            ("bug-report-triage", "high", "model", "model changed"),
            ("bug-report-triage", "high", "models", "may call another model"),
        ],
    ),
    (
        "guardrail-removed",
        "base",
        lambda f: edit(f / "fleet.yaml", "llm_input: [prompt-injection]", "llm_input: []"),
        [("(fleet)", "high", "gateway.guardrails.llm_input.prompt-injection", "guardrail removed")],
    ),
    (
        "guardrail-weakened",
        "base",
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
        "base",
        lambda f: edit(f / A, "owns: [triage-labels]", "owns: [triage-labels, duplicate-links]"),
        [("bug-report-triage", "high", "owns", "new owner of an artifact")],
    ),
    (
        "description",
        "base",
        lambda f: edit(
            f / A,
            "Labels and routes new bug reports",
            "Labels, routes and de-duplicates new bug reports",
        ),
        [("bug-report-triage", "low", "description", "description changed")],
    ),
    (
        # The base's one checker is its done condition already: naming it changes nothing.
        "done-command-added",
        "base",
        lambda f: edit(
            f / A, "  trigger:", '  done: { checker: reviewer, command: "make check" }\n  trigger:'
        ),
        [("bug-report-triage", "low", "done.command", "done command added")],
    ),
    (
        "done-checker-removed",
        "base",
        lambda f: edit(
            f / A,
            "  subagents:                    # one level deep; a checker is read-only\n"
            "    - { name: reviewer, role: checker, model: cheap-backup, mcp_servers: { github: { tools: [read] } } }\n",
            "",
        ),
        [
            ("bug-report-triage", "high", "done", "done condition removed"),
            ("bug-report-triage", "low", "subagents.reviewer", "sub-agent removed"),
        ],
    ),
    (
        "loop-removed",
        "base",
        lambda f: (f / "agents/cost-report.yaml").unlink(),
        [("cost-report", "medium", "", "loop removed; what it owned has no owner")],
    ),
]


def changes(result: object) -> list[tuple[str, str, str, str]]:
    return [(lp.name, c.risk, c.path, c.reason) for lp in result.loops for c in lp.changes]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "start", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_pr_change_risk(
    repo: git.Repo,
    name: str,
    start: str,
    change: Callable[[Path], None],
    expected: list[tuple[str, str, str, str]],
) -> None:
    rev = branch(repo, name, change, start)
    assert changes(diff_revs(repo, start, rev)) == expected


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


def test_virtual_model_target_change_reaches_its_loops(repo: git.Repo) -> None:
    rev = branch(
        repo,
        "retarget",
        lambda f: edit(
            f / "fleet.yaml",
            "{ provider: openai, model: gpt-5-mini, weight: 80 }",
            "{ provider: openai, model: gpt-5-nano, weight: 80 }",
        ),
    )
    result = diff_revs(repo, "base", rev)
    by_loop = {lp.name: lp for lp in result.loops}
    # cost-report and oncall-summary only reach cheap-backup: untouched.
    assert sorted(by_loop) == [
        "(fleet)",
        "bug-report-triage",
        "ci-failure-triage",
        "dependency-bump",
    ]
    assert all(lp.risk == "high" for lp in result.loops)
    assert ("fleet.models.triage-default.targets.openai/gpt-5-nano", None, 80) in [
        (c.path, c.before, c.after) for c in by_loop["bug-report-triage"].changes
    ]


def test_org_approval_gate_removed(repo: git.Repo) -> None:
    rev = branch(repo, "ungate", lambda f: edit(f / "fleet.yaml", '"deploy_*", ', ""))
    result = diff_revs(repo, "base", rev)
    fleet, *loops = result.loops
    assert [(c.risk, c.path, c.before) for c in fleet.changes] == [
        ("high", "gateway.destructive_tools", "deploy_*")
    ]
    assert len(loops) == 5
    for lp in loops:
        assert [(c.risk, c.path, c.reason) for c in lp.changes] == [
            ("high", "approvals.deploy_*", "approval gate removed")
        ]


def pr(f: Path) -> None:
    """A realistic PR touching two loops and the policy."""
    edit(f / A, "limit_usd: 20", "limit_usd: 35")
    edit(f / A, "skills: [triage-runbook@v3]", "skills: [triage-runbook@v4]")
    edit(f / "agents/oncall-summary.yaml", '"45 7 * * *"', '"30 7 * * *"')
    edit(f / "fleet.yaml", "llm_input: [prompt-injection]", "llm_input: []")


def test_markdown_pr_comment_golden(repo: git.Repo) -> None:
    rev = branch(repo, "pr-comment", pr)
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    args = ["diff", str(top / "fleet"), "--base", "base", "--head", rev, "-o", "markdown"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    golden = GOLDEN / "pr-comment.md"
    if os.environ.get("FLEETCTL_UPDATE_GOLDEN"):
        golden.write_text(result.stdout)
    assert result.stdout == golden.read_text()


def test_text_output_plain_when_piped(repo: git.Repo) -> None:
    rev = branch(repo, "pr-text", pr)
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    result = runner.invoke(app, ["diff", str(top / "fleet"), "--base", "base", "--head", rev])
    lines = result.stdout.splitlines()
    assert lines[0] == ("fleet diff: 2 loop(s) changed, fleet policy changed; highest risk: high")
    assert "\x1b[" not in result.stdout
    assert "    high    budget.limit_usd: 20.0 → 35.0  (budget raised)" in lines
    assert "    medium  trigger.schedule: 45 7 * * * → 30 7 * * *  (schedule changed)" in lines


def test_head_defaults_to_working_tree(repo: git.Repo) -> None:
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    agent = top / "fleet" / A
    original = agent.read_text()
    try:
        edit(agent, "owns: [triage-labels]", "owns: [triage-labels, release-notes-draft]")
        result = runner.invoke(app, ["diff", str(top / "fleet"), "--base", "base", "-o", "json"])
    finally:
        agent.write_text(original)
    payload = json.loads(result.stdout)
    assert result.exit_code == 1 and payload["head"] == "working tree"
    assert [(c["path"], c["after"], c["risk"]) for c in payload["loops"][0]["changes"]] == [
        ("owns", "release-notes-draft", "high")
    ]


def test_invalid_revision_exit_2(repo: git.Repo) -> None:
    rev = branch(repo, "broken", lambda f: edit(f / A, "  model: triage-default", "  model: nope"))
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    result = runner.invoke(app, ["diff", str(top / "fleet"), "--base", "base", "--head", rev])
    assert result.exit_code == 2
    assert "the head revision is not a valid fleet" in result.stderr
    assert "bug-report-triage.yaml" in result.stderr


def test_new_fleet_directory_diffs_as_all_added(repo: git.Repo) -> None:
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    shutil.copytree(top / "fleet", top / "fleet2")
    try:
        result = runner.invoke(app, ["diff", str(top / "fleet2"), "--base", "base", "-o", "json"])
    finally:
        shutil.rmtree(top / "fleet2")
    payload = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [(lp["name"], lp["status"]) for lp in payload["loops"]] == [
        (name, "added")
        for name in sorted(p.stem for p in (HERE / "fleet" / "agents").glob("*.yaml"))
    ]


def test_markdown_fits_a_comment() -> None:
    from fleet.diff import Change, LoopDiff
    from fleetctl.commands.diff import render_markdown

    big = FleetDiff(
        [
            LoopDiff(
                f"loop-{i:04d}",
                "changed",
                [
                    Change(
                        "description", "a | b", "line one\nline two", "low", "description changed"
                    )
                ],
            )
            for i in range(2000)
        ]
    )
    md = render_markdown(big, "base", "head", limit=20_000)
    assert len(md) <= 20_000 and md.startswith("<!-- fleetctl-diff -->\n")
    shown = md.count("<details>")
    assert 0 < shown < 2000
    assert f"{2000 - shown} detail section(s) left out" in md
    assert "| a \\| b | line one<br>line two |" in md


def test_markdown_orders_fleet_then_riskiest() -> None:
    from fleet.diff import FLEET, Change, LoopDiff
    from fleetctl.commands.diff import render_markdown

    def loop(name: str, risk: str) -> LoopDiff:
        return LoopDiff(name, "changed", [Change("x", 1, 2, risk, "r")])

    md = render_markdown(
        FleetDiff([loop(FLEET, "low"), loop("a", "low"), loop("b", "high"), loop("c", "medium")]),
        "base",
        "head",
    )
    rows = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ")]
    assert rows[:5] == ["loop", "fleet policy", "`b`", "`c`", "`a`"]


UNPRICED = (
    "{ provider: openai, model: gpt-5-mini, weight: 80 }",
    "{ provider: openai, model: gpt-5, weight: 80 }",
)


def test_base_with_lint_errors_still_diffs(repo: git.Repo) -> None:
    """The PR fixing a finding of a newer rule must get its diff, not an error."""
    bad = branch(repo, "unpriced", lambda f: edit(f / "fleet.yaml", *UNPRICED))
    fixed = branch(
        repo,
        "priced",
        lambda f: edit(
            f / "fleet.yaml", "pricing:", "pricing:\n  openai/gpt-5: { input: 1.25, output: 10.0 }"
        ),
        start=bad,
    )
    top = Path(repo.working_tree_dir)  # type: ignore[arg-type]
    args = ["diff", str(top / "fleet"), "--base", bad, "--head", fixed, "-o", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "warning: the base revision has 1 validation error(s)" in result.stderr
    (fleet,) = json.loads(result.stdout)["loops"]
    assert [c["path"] for c in fleet["changes"]] == ["pricing.openai/gpt-5"]
    # The head gets no such leniency.
    result = runner.invoke(app, ["diff", str(top / "fleet"), "--base", fixed, "--head", bad])
    assert result.exit_code == 2 and "the head revision is not a valid fleet" in result.stderr


CI_TOOLS = "tools: { read: [get_build, list_builds, get_log, list_tests], write: [retry_build], destructive: [cancel_pipeline] }"


@pytest.mark.parametrize(
    ("name", "tools", "fleet_changes", "holders"),
    [
        (
            # Loops holding ci's `read` class can now call the new tool.
            "catalog-held",
            CI_TOOLS.replace("list_tests]", "list_tests, get_artifact]"),
            [
                (
                    "high",
                    "mcp_servers.ci.tools.read",
                    "catalog widened: loops granted this class get the tool",
                )
            ],
            ["ci-failure-triage", "dependency-bump"],
        ),
        (
            # Nobody holds ci's `write` class (retry_build is granted by name).
            "catalog-unheld",
            CI_TOOLS.replace("[retry_build]", "[retry_build, annotate_build]"),
            [("low", "mcp_servers.ci.tools.write", "catalog widened; no loop holds this class")],
            [],
        ),
        (
            # cancel_pipeline leaves the destructive class: its approval gate goes with it.
            "declassified",
            CI_TOOLS.replace("[retry_build]", "[retry_build, cancel_pipeline]").replace(
                "destructive: [cancel_pipeline]", "destructive: [drop_cache]"
            ),
            [
                ("high", "mcp_servers.ci.tools.destructive", "tool no longer classed destructive"),
                (
                    "medium",
                    "mcp_servers.ci.tools.destructive",
                    "tool classed destructive (always behind approval)",
                ),
                ("low", "mcp_servers.ci.tools.write", "catalog widened; no loop holds this class"),
            ],
            ["ci-failure-triage", "dependency-bump"],
        ),
    ],
)
def test_catalog_changes(
    repo: git.Repo,
    name: str,
    tools: str,
    fleet_changes: list[tuple[str, str, str]],
    holders: list[str],
) -> None:
    rev = branch(repo, name, lambda f: edit(f / "fleet.yaml", CI_TOOLS, tools))
    result = diff_revs(repo, "base", rev)
    fleet, *loops = result.loops
    assert fleet.name == "(fleet)"
    assert [(c.risk, c.path, c.reason) for c in fleet.changes] == fleet_changes
    assert [lp.name for lp in loops] == holders
    assert all(lp.risk == "high" for lp in loops)
